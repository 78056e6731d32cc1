-- Hours come back as epoch seconds: cheaper to fetch than timestamps, a year is 8,760.
-- Check outcomes per hour: how many were recorded and how many failed.
SELECT CAST(EXTRACT(EPOCH FROM partition_hour) AS BIGINT), COUNT(*) AS outcomes,
       SUM(CASE WHEN passed THEN 0 ELSE 1 END) AS failed
FROM check_results
WHERE partition_hour >= %(first_hour)s AND partition_hour <= %(last_hour)s
GROUP BY partition_hour
