-- Rejected lines per hour and reason (the page keeps the commonest few of each hour).
SELECT partition_hour, reason, COUNT(*) AS lines
FROM staging_rejects
WHERE dataset IN ('events', 'songs')
  AND partition_hour >= %(first_hour)s AND partition_hour <= %(last_hour)s
GROUP BY partition_hour, reason
