-- The numbers each hour of a window must reconcile, one row per hour that staging recorded.
-- Each term is counted on its own: lines read and duplicates as staging counted them (from
-- the objects' bytes, and the copies it detected), staged rows and rejects as the tables
-- hold them now, so a row that went missing after staging makes the hour not reconcile.
SELECT
    p.partition_hour,
    p.rows_read,
    COALESCE(e.staged, 0)    AS rows_staged,
    COALESCE(r.rejected, 0)  AS rows_rejected,
    p.rows_duplicate,
    p.drift,
    COALESCE(e.nextsong, 0)  AS nextsong_staged,
    COALESCE(f.plays, 0)     AS plays,
    COALESCE(f.matched, 0)   AS plays_matched
FROM staging_partitions AS p
LEFT JOIN (
    SELECT partition_hour, COUNT(*) AS staged,
           SUM(CASE WHEN page = 'NextSong' THEN 1 ELSE 0 END) AS nextsong
    FROM staging_events
    WHERE partition_hour >= %(window_start)s AND partition_hour < %(window_end)s
    GROUP BY partition_hour
) AS e ON e.partition_hour = p.partition_hour
LEFT JOIN (
    SELECT partition_hour, COUNT(*) AS rejected
    FROM staging_rejects
    WHERE dataset = 'events'
      AND partition_hour >= %(window_start)s AND partition_hour < %(window_end)s
    GROUP BY partition_hour
) AS r ON r.partition_hour = p.partition_hour
LEFT JOIN (
    SELECT partition_hour, COUNT(*) AS plays, COUNT(song_id) AS matched
    FROM songplays
    WHERE partition_hour >= %(window_start)s AND partition_hour < %(window_end)s
    GROUP BY partition_hour
) AS f ON f.partition_hour = p.partition_hour
WHERE p.dataset = 'events'
  AND p.partition_hour >= %(window_start)s AND p.partition_hour < %(window_end)s
ORDER BY p.partition_hour;
