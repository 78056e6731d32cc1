-- Songs: a partition's counts are the sum over every object the ledger holds for it, so a
-- later run of the same hour that finds new files adds to what the earlier runs loaded.
SELECT COUNT(*), COALESCE(SUM(rows_read), 0), COALESCE(SUM(rows_staged), 0),
       COALESCE(SUM(rows_rejected), 0), COALESCE(SUM(rows_duplicate), 0),
       COALESCE(SUM(rows_coerced), 0)
FROM load_ledger
WHERE dataset = %(dataset)s AND partition_hour = %(partition_hour)s;
