-- Lines Redshift's COPY refused (up to MAXERROR), from the error table of this kind of
-- warehouse, for the COPY just run (pg_last_copy_id()), into a temporary table; they are
-- kept in staging_rejects with the lines check_lines rejects (record_rejects):
--   provisioned: stl_load_errors, with the raw line;
--   Serverless:  sys_load_error_detail (it has no stl_ tables), without the raw line.
-- Both name the file as its s3:// URL: the key alone is kept, as on PostgreSQL. A line that
-- is not UTF-8 (error 1220) is not JSON, as PostgreSQL says; any other refusal keeps
-- COPY's reason.
DROP TABLE IF EXISTS load_refusals;
CREATE TEMP TABLE load_refusals AS
{%- if serverless %}
SELECT SUBSTRING(TRIM(file_name), %(key_starts_at)s, 1024) AS source_key,
       line_number AS line_no,
       CASE WHEN error_code = 1220 THEN 'not_json'
            ELSE 'copy_error:' || TRIM(column_name) || ':' || TRIM(error_message) END AS reason,
       CAST(NULL AS VARCHAR(4096)) AS raw_text
FROM sys_load_error_detail
WHERE query_id = pg_last_copy_id();
{%- else %}
SELECT SUBSTRING(TRIM(filename), %(key_starts_at)s, 1024) AS source_key,
       line_number AS line_no,
       CASE WHEN err_code = 1220 THEN 'not_json'
            ELSE 'copy_error:' || TRIM(colname) || ':' || TRIM(err_reason) END AS reason,
       CAST(LEFT(raw_line, 4096) AS VARCHAR(4096)) AS raw_text
FROM stl_load_errors
WHERE query = pg_last_copy_id();
{%- endif %}
