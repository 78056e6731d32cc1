-- The commonest reasons lines of a partition were rejected.
SELECT reason, COUNT(*) AS n
FROM staging_rejects
WHERE dataset = 'events' AND partition_hour = %(partition_hour)s
GROUP BY reason
ORDER BY n DESC, reason
LIMIT 5;
