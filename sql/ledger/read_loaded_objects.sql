-- The ETag of every object of a data set loaded so far, whatever partition loaded it.
SELECT source_key, etag
FROM load_ledger
WHERE dataset = %(dataset)s;
