-- The objects (keys and ETags) the ledger holds for one partition of a data set.
SELECT source_key, etag
FROM load_ledger
WHERE dataset = %(dataset)s AND partition_hour = %(partition_hour)s;
