-- How many of a partition's events each object put into staging_events.
SELECT source_key, COUNT(*)
FROM staging_events
WHERE partition_hour = %(partition_hour)s
GROUP BY source_key;
