-- Check outcomes per hour: how many were recorded and how many failed.
SELECT partition_hour, COUNT(*) AS outcomes,
       SUM(CASE WHEN passed THEN 0 ELSE 1 END) AS failed
FROM check_results
WHERE partition_hour >= %(first_hour)s AND partition_hour <= %(last_hour)s
GROUP BY partition_hour
