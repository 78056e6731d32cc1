-- Hours come back as epoch seconds: cheaper to fetch than timestamps, a year is 8,760.
-- Song plays per hour, and how many of them matched a song of the catalogue.
SELECT CAST(EXTRACT(EPOCH FROM partition_hour) AS BIGINT), COUNT(*) AS plays,
       COUNT(song_id) AS matched
FROM songplays
WHERE partition_hour >= %(first_hour)s AND partition_hour <= %(last_hour)s
GROUP BY partition_hour
