-- The commonest reasons lines of a window were rejected.
SELECT reason, COUNT(*) AS n
FROM staging_rejects
WHERE dataset = 'events'
  AND partition_hour >= %(window_start)s AND partition_hour < %(window_end)s
GROUP BY reason
ORDER BY n DESC, reason
LIMIT 5;
