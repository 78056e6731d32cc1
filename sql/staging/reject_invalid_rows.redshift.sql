-- Redshift: rows COPY loaded that PostgreSQL's staging would reject, rejected here the same
-- way, then removed from the temporary table before the merge:
--   missing_field:<key>  a required value absent or null (COPY loads both as NULL);
--   bad_type:<key>       an object or array where text belongs (COPY loads it as its JSON
--                        text; a text value that is itself JSON object or array text cannot
--                        be told apart, and is rejected too).
-- The reason names the first such field in the JSON field order of
-- sparkify.pipeline.records, as on PostgreSQL. Redshift's COPY does not say which object or
-- line a row came from: the prefix stands in, without a line number or the raw text.
{%- macro nested(column) -%}
((LEFT({{ column | ident }}, 1) = '{' AND IS_VALID_JSON({{ column | ident }}))
    OR (LEFT({{ column | ident }}, 1) = '[' AND IS_VALID_JSON_ARRAY({{ column | ident }})))
{%- endmacro %}
{%- set checks = [] %}
{%- for key, column, kind, required in fields %}
{%- if required %}{% set _ = checks.append(((column | ident) ~ ' IS NULL', 'missing_field:' ~ key)) %}{% endif %}
{%- if kind == 'text' %}{% set _ = checks.append((nested(column), 'bad_type:' ~ key)) %}{% endif %}
{%- endfor %}
INSERT INTO staging_rejects (dataset, partition_hour, source_key, line_no, reason, raw_text)
SELECT %(dataset)s, %(partition_hour)s, %(source_key)s, NULL,
       CASE
{%- for condition, reason in checks %}
           WHEN {{ condition }} THEN '{{ reason }}'
{%- endfor %}
       END,
       NULL
FROM {{ table | ident }}
WHERE {% for condition, _ in checks %}{% if not loop.first %}
   OR {% endif %}{{ condition }}{% endfor %};

DELETE FROM {{ table | ident }}
WHERE {% for condition, _ in checks %}{% if not loop.first %}
   OR {% endif %}{{ condition }}{% endfor %};
