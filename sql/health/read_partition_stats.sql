-- Hours come back as epoch seconds: cheaper to fetch than timestamps, a year is 8,760.
-- Lines per dataset and hour of the range, as staging counted them.
SELECT dataset, CAST(EXTRACT(EPOCH FROM partition_hour) AS BIGINT), objects, rows_read, rows_staged, rows_rejected,
       rows_duplicate, rows_coerced
FROM staging_partitions
WHERE dataset IN ('events', 'songs')
  AND partition_hour >= %(first_hour)s AND partition_hour <= %(last_hour)s
