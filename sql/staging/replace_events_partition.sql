-- Move a partition's freshly read events from load_events into staging_events, replacing
-- what the partition held. Events are unique on (session_id, item_in_session): a copy in
-- the same load, or an event already staged by another partition, is a duplicate.
DELETE FROM staging_events WHERE partition_hour = %(partition_hour)s;

INSERT INTO staging_events (
    partition_hour, source_key, line_no, {{ columns | map('ident') | join(', ') }}
)
SELECT %(partition_hour)s, source_key, line_no, {{ columns | map('ident') | join(', ') }}
FROM (
    SELECT l.*,
           ROW_NUMBER() OVER (
               PARTITION BY l.session_id, l.item_in_session ORDER BY l.source_key, l.line_no
           ) AS copy_no
    FROM load_events AS l
) AS d
WHERE d.copy_no = 1
  AND NOT EXISTS (
      SELECT 1 FROM staging_events AS s
      WHERE s.session_id = d.session_id AND s.item_in_session = d.item_in_session
  )
-- Another partition staging the same event concurrently: the first to commit keeps it.
ON CONFLICT (session_id, item_in_session) DO NOTHING;
