-- Move a partition's freshly read events from load_events into staging_events, replacing
-- what the partition held. Events are unique on (session_id, item_in_session): a copy in
-- the same load, or an event already staged by another partition, is a duplicate.
DELETE FROM staging_events WHERE partition_hour = %(partition_hour)s;

INSERT INTO staging_events (
    partition_hour, source_key, line_no, {{ columns | map('ident') | join(', ') }}
)
SELECT partition_hour, source_key, line_no, {{ columns | map('ident') | join(', ') }}
FROM load_events
-- The first copy by (key, line) wins; a later copy, in this load or already staged by any
-- partition, conflicts on the unique index and is left out.
ORDER BY source_key, line_no
ON CONFLICT (session_id, item_in_session) DO NOTHING;
