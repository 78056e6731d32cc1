-- The objects a staging run loaded, gathered before they replace their ledger rows.
CREATE TEMP TABLE load_objects ON COMMIT DROP AS
SELECT dataset, source_key, etag, size_bytes, partition_hour, rows_read, rows_staged,
       rows_rejected, rows_duplicate, rows_coerced
FROM load_ledger WITH NO DATA;
