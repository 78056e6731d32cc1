-- Replace a partition's counts.
DELETE FROM staging_partitions
WHERE dataset = %(dataset)s AND partition_hour = %(partition_hour)s;

INSERT INTO staging_partitions (
    dataset, partition_hour, objects, rows_read, rows_staged, rows_rejected,
    rows_duplicate, rows_coerced, drift
)
VALUES (
    %(dataset)s, %(partition_hour)s, %(objects)s, %(rows_read)s, %(rows_staged)s,
    %(rows_rejected)s, %(rows_duplicate)s, %(rows_coerced)s, %(drift)s
);
