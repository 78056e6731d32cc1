-- The objects a staging run loaded, gathered before they replace their ledger rows.
DROP TABLE IF EXISTS load_objects;
CREATE TEMP TABLE load_objects (
    dataset        VARCHAR(16),
    source_key     VARCHAR(1024),
    etag           VARCHAR(128),
    size_bytes     BIGINT,
    partition_hour TIMESTAMP,
    rows_read      INTEGER,
    rows_staged    INTEGER,
    rows_rejected  INTEGER,
    rows_duplicate INTEGER,
    rows_coerced   INTEGER
);
