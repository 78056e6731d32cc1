-- A partition's recorded counts, as its last staging run left them.
SELECT objects, rows_read, rows_staged, rows_rejected, rows_duplicate, rows_coerced, drift
FROM staging_partitions
WHERE dataset = %(dataset)s AND partition_hour = %(partition_hour)s;
