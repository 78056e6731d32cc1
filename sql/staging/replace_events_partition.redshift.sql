-- Redshift: move load_events into staging_events for the partition, replacing what it held.
-- Redshift's COPY does not say which object or line a row came from: the prefix stands in.
DELETE FROM staging_events WHERE partition_hour = %(partition_hour)s;

INSERT INTO staging_events (
    partition_hour, source_key, line_no, {{ columns | map('ident') | join(', ') }}
)
SELECT %(partition_hour)s, %(source_key)s, NULL, {{ columns | map('ident') | join(', ') }}
FROM (
    SELECT l.*,
           ROW_NUMBER() OVER (
               PARTITION BY l.session_id, l.item_in_session ORDER BY l.ts
           ) AS copy_no
    FROM load_events AS l
) AS d
WHERE d.copy_no = 1
  AND d.ts IS NOT NULL AND d.session_id IS NOT NULL
  AND d.item_in_session IS NOT NULL AND d.page IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM staging_events AS s
      WHERE s.session_id = d.session_id AND s.item_in_session = d.item_in_session
  );
