-- The range's event lines as staging counted them (LINE_COUNTERS of sparkify.local.summary, in order).
SELECT COALESCE(SUM(rows_read), 0), COALESCE(SUM(rows_staged), 0),
       COALESCE(SUM(rows_rejected), 0), COALESCE(SUM(rows_duplicate), 0),
       COALESCE(SUM(rows_coerced), 0)
FROM staging_partitions
WHERE dataset = 'events' AND partition_hour BETWEEN %(first_hour)s AND %(last_hour)s
