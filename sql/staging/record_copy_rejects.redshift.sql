-- Lines Redshift's COPY refused (up to MAXERROR), kept with their reason and raw text.
INSERT INTO staging_rejects (dataset, partition_hour, source_key, line_no, reason, raw_text)
SELECT %(dataset)s, %(partition_hour)s, TRIM(filename), line_number,
       'copy_error:' || TRIM(colname) || ':' || TRIM(err_reason), LEFT(raw_line, 4096)
FROM stl_load_errors
WHERE query = pg_last_copy_id();
