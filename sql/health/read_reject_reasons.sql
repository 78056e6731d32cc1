-- Hours come back as epoch seconds: cheaper to fetch than timestamps, a year is 8,760.
-- Rejected lines per dataset, hour and reason (the page keeps the commonest few of each
-- hour, of the datasets whose staging DAG the reader may see).
SELECT dataset, CAST(EXTRACT(EPOCH FROM partition_hour) AS BIGINT), reason, COUNT(*) AS lines
FROM staging_rejects
WHERE dataset IN ('events', 'songs')
  AND partition_hour >= %(first_hour)s AND partition_hour <= %(last_hour)s
GROUP BY dataset, partition_hour, reason
