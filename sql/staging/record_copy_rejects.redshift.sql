-- Lines Redshift's COPY refused (up to MAXERROR), from the error table of this kind of
-- warehouse, for the COPY just run (pg_last_copy_id()), into a temporary table; they are
-- kept in staging_rejects with the lines check_lines rejects (record_rejects):
--   provisioned: stl_load_errors, with the raw line;
--   Serverless:  sys_load_error_detail (it has no stl_ tables), without the raw line.
-- Both name the file as its s3:// URL: the key alone is kept, as on PostgreSQL. A line that
-- is not UTF-8 (error 1220) is not JSON, and a line longer than the column (1204, the only
-- refusal a one-column VARCHAR(65535) load can give besides) is line_too_long, as
-- PostgreSQL says; any other refusal keeps COPY's reason, cut to 63 characters of ASCII
-- (reason is VARCHAR(256): 63 characters of up to four bytes each fit whatever they are).
DROP TABLE IF EXISTS load_refusals;
CREATE TEMP TABLE load_refusals AS
{%- if serverless %}
SELECT SUBSTRING(TRIM(file_name), %(key_starts_at)s, 1024) AS source_key,
       line_number AS line_no,
       CASE WHEN error_code = 1220 THEN 'not_json'
            WHEN error_code = 1204 THEN 'line_too_long'
            ELSE LEFT('copy_error:' || LEFT(TRIM(column_name), 60) || ':' || LEFT(TRIM(error_message), 120), 63) END AS reason,
       CAST(NULL AS VARCHAR(4096)) AS raw_text
FROM sys_load_error_detail
WHERE query_id = pg_last_copy_id();
{%- else %}
SELECT SUBSTRING(TRIM(filename), %(key_starts_at)s, 1024) AS source_key,
       line_number AS line_no,
       CASE WHEN err_code = 1220 THEN 'not_json'
            WHEN err_code = 1204 THEN 'line_too_long'
            ELSE LEFT('copy_error:' || LEFT(TRIM(colname), 60) || ':' || LEFT(TRIM(err_reason), 120), 63) END AS reason,
       -- raw_line is CHAR(1024): at most 1,024 bytes, whatever LEFT counts.
       CAST(raw_line AS VARCHAR(1024)) AS raw_text
FROM stl_load_errors
WHERE query = pg_last_copy_id();
{%- endif %}
