-- The numbers a partition must reconcile: one row.
SELECT
    COALESCE(p.rows_read, 0)      AS rows_read,
    COALESCE(p.rows_staged, 0)    AS rows_staged,
    COALESCE(p.rows_rejected, 0)  AS rows_rejected,
    COALESCE(p.rows_duplicate, 0) AS rows_duplicate,
    COALESCE(p.drift, '{}')       AS drift,
    (SELECT COUNT(*) FROM staging_events
      WHERE partition_hour = %(partition_hour)s AND page = 'NextSong')            AS nextsong_staged,
    (SELECT COUNT(*) FROM songplays WHERE partition_hour = %(partition_hour)s)     AS plays,
    (SELECT COUNT(*) FROM songplays
      WHERE partition_hour = %(partition_hour)s AND song_id IS NOT NULL)           AS plays_matched,
    (SELECT COUNT(*) FROM staging_partitions
      WHERE dataset = 'events' AND partition_hour = %(partition_hour)s)            AS staged_runs,
    -- Freshness: the newest hour up to this one that staged any event, and where the
    -- pipeline's history begins (a warehouse younger than the limit is not stale).
    (SELECT MAX(partition_hour) FROM staging_partitions
      WHERE dataset = 'events' AND rows_staged > 0
        AND partition_hour <= %(partition_hour)s)                                  AS newest_with_events,
    (SELECT MIN(partition_hour) FROM staging_partitions WHERE dataset = 'events')  AS first_hour
FROM (SELECT 1 AS one) AS anchor
LEFT JOIN staging_partitions AS p
    ON p.dataset = 'events' AND p.partition_hour = %(partition_hour)s;
