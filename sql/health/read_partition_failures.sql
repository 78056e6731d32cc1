-- The failed checks of one partition, newest outcome of each check first: what an alert
-- says was found.
SELECT check_name, table_name, value, checked_at
FROM check_results
WHERE NOT passed AND partition_hour = %(partition_hour)s
ORDER BY checked_at DESC, check_name
LIMIT 20
