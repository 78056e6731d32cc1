-- Lines Redshift's COPY refused (up to MAXERROR), kept with their reason, from the error
-- table of this kind of warehouse, for the COPY just run (pg_last_copy_id()):
--   provisioned: stl_load_errors, with the raw line;
--   Serverless:  sys_load_error_detail (it has no stl_ tables), without the raw line.
-- Both name the file as its s3:// URL: the key alone is kept, as on PostgreSQL.
INSERT INTO staging_rejects (dataset, partition_hour, source_key, line_no, reason, raw_text)
{%- if serverless %}
SELECT %(dataset)s, %(partition_hour)s,
       SUBSTRING(TRIM(file_name), %(key_starts_at)s, 1024), line_number,
       'copy_error:' || TRIM(column_name) || ':' || TRIM(error_message), NULL
FROM sys_load_error_detail
WHERE query_id = pg_last_copy_id();
{%- else %}
SELECT %(dataset)s, %(partition_hour)s,
       SUBSTRING(TRIM(filename), %(key_starts_at)s, 1024), line_number,
       'copy_error:' || TRIM(colname) || ':' || TRIM(err_reason), LEFT(raw_line, 4096)
FROM stl_load_errors
WHERE query = pg_last_copy_id();
{%- endif %}
