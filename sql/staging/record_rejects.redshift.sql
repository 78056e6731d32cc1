-- Every rejected line of this load, with its reason: the lines COPY refused (with their
-- key and line number) and the lines check_lines rejected (with their text; Redshift's COPY
-- does not say which object or line a row came from, so the prefix stands in).
INSERT INTO staging_rejects (dataset, partition_hour, source_key, line_no, reason, raw_text)
SELECT %(dataset)s, %(partition_hour)s, source_key, line_no, reason, raw_text
FROM load_refusals
UNION ALL
SELECT %(dataset)s, %(partition_hour)s, %(source_key)s, NULL, reason, LEFT(line, 4096)
FROM checked_lines
WHERE reason IS NOT NULL;
