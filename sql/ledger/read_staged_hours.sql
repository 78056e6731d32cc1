-- The hours of a data set staged so far between two hours (inclusive): restage_late looks
-- only at these for objects that arrived after their run.
SELECT partition_hour
FROM staging_partitions
WHERE dataset = %(dataset)s
  AND partition_hour >= %(first_hour)s AND partition_hour <= %(last_hour)s;
