-- Every rejected line of this load, with its reason: the lines COPY refused (with their
-- key and line number) and the lines check_lines rejected (with their text; Redshift's COPY
-- does not say which object or line a row came from, so the prefix stands in). The text is
-- cut to at most raw_text_bytes bytes (sql/staging/macros.sql).
{% from "staging/macros.sql" import fit_bytes %}
INSERT INTO staging_rejects (dataset, partition_hour, source_key, line_no, reason, raw_text)
SELECT %(dataset)s, %(partition_hour)s, source_key, line_no, reason, raw_text
FROM load_refusals
UNION ALL
SELECT %(dataset)s, %(partition_hour)s, %(source_key)s, NULL, reason,
       {{ fit_bytes('line', raw_text_bytes) }}
FROM checked_lines
WHERE reason IS NOT NULL;
