-- Freshness at the end of a window: the newest hour up to its last that staged any event,
-- and where the pipeline's history begins (a warehouse younger than the limit is not stale).
SELECT
    (SELECT MAX(partition_hour) FROM staging_partitions
      WHERE dataset = 'events' AND rows_staged > 0
        AND partition_hour < %(window_end)s)                                       AS newest_with_events,
    (SELECT MIN(partition_hour) FROM staging_partitions WHERE dataset = 'events')  AS first_hour;
