-- Failed check outcomes of the range, newest first (bounded: the page lists the newest).
SELECT check_name, table_name, partition_hour, value, checked_at
FROM check_results
WHERE NOT passed
  AND partition_hour >= %(first_hour)s AND partition_hour <= %(last_hour)s
ORDER BY checked_at DESC, check_name
LIMIT 500
