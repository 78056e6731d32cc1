-- Before a partition of events is staged again: its ledger rows and its rejects go (the
-- ledger is replaced per partition, so an object removed from S3 leaves it).
DELETE FROM load_ledger
WHERE dataset = %(dataset)s AND partition_hour = %(partition_hour)s;

DELETE FROM staging_rejects
WHERE dataset = %(dataset)s AND partition_hour = %(partition_hour)s;
