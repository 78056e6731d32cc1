-- The newest hour, at or before the range's end, holding staged events (freshness), and the
-- newest hour staged at all (the default range ends there). Both read the primary key's
-- index backwards from a bound.
SELECT
    (SELECT MAX(partition_hour) FROM staging_partitions
     WHERE dataset = 'events' AND rows_staged > 0 AND partition_hour <= %(last_hour)s),
    (SELECT MAX(partition_hour) FROM staging_partitions
     WHERE dataset = 'events' AND partition_hour <= %(last_hour)s)
