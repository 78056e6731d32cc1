-- Redshift: each line COPY loaded into load_lines, read as JSON and checked field by field
-- with PostgreSQL staging's rules (sparkify.pipeline.records), into checked_lines: the line,
-- its document, the reason it is rejected (NULL: it passes), whether a value was coerced,
-- and the converted values, named as the staging columns.
--   not_json / not_object     the line is not JSON / is JSON but not an object;
--   missing_field:<key>       a required value absent or null;
--   bad_type:<key>            an object or array where a scalar belongs, a fraction or
--                             non-number for an integer, a non-number for a float;
--   out_of_range:<key>        an integer outside its column's range;
--   bad_text:<key>            text holding NUL (\u0000);
--   coerced                   integer text or an integral float to an integer, number text
--                             to a float, a number or boolean to text.
-- The reason names the first such field in the field order of sparkify.pipeline.records,
-- as on PostgreSQL. A line's byte-order mark and carriage return are dropped; a line of
-- white space is not a record. Regular expressions avoid backslashes, which Redshift's and
-- PostgreSQL's string literals treat differently.
{%- set ws = "CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13)" %}
{%- macro in_range(text, state, kind) -%}
{%- set high = 2147483647 if kind == 'int32' else 9223372036854775807 -%}
CASE WHEN LENGTH(LTRIM(LTRIM(SPLIT_PART({{ text }}, '.', 1), '+-'), '0')) > 19 THEN 'out_of_range'
                  WHEN CAST('0' || LTRIM(LTRIM(SPLIT_PART({{ text }}, '.', 1), '+-'), '0') AS DECIMAL(20, 0))
                       <= CASE WHEN LEFT({{ text }}, 1) = '-' THEN {{ high + 1 }} ELSE {{ high }} END
                  THEN '{{ state }}' ELSE 'out_of_range' END
{%- endmacro %}
{%- macro state(column, kind) -%}
{%- set t = 't_' ~ column -%}{%- set v = 'v_' ~ column -%}
CASE WHEN {{ t }} IS NULL OR {{ t }} = 'null' THEN 'null'
{%- if kind == 'text' %}
             WHEN {{ t }} = 'string' AND STRPOS(j_{{ column }}, CHR(92) || 'u0000') > 0 THEN 'bad_text'
             WHEN {{ t }} = 'string' THEN 'ok'
             WHEN {{ t }} IN ('number', 'boolean') THEN 'coerced'
{%- elif kind == 'float' %}
             WHEN {{ t }} = 'number' AND {{ v }} !~ '[eE][+-]?[0-9]{3}' THEN 'ok'
             WHEN {{ t }} = 'string'
                  AND BTRIM({{ v }}, {{ ws }}) ~ '^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]{1,2})?$'
                  THEN 'coerced'
{%- else %}
{%- set low = -2147483648 if kind == 'int32' else -9223372036854775808 %}
{%- set high = 2147483647 if kind == 'int32' else 9223372036854775807 %}
             WHEN {{ t }} = 'number' AND {{ v }} ~ '^-?[0-9]+$' THEN {{ in_range(v, 'ok', kind) }}
             WHEN {{ t }} = 'number' AND {{ v }} ~ '^-?[0-9]+[.]0*$' THEN {{ in_range(v, 'coerced', kind) }}
             WHEN {{ t }} = 'number' AND {{ v }} ~ '^-?[0-9]+([.][0-9]+)?[eE][+-]?[0-9]{1,2}$' THEN
                  CASE WHEN CAST({{ v }} AS FLOAT8) <> FLOOR(CAST({{ v }} AS FLOAT8)) THEN 'bad_type'
                       WHEN CAST({{ v }} AS FLOAT8) >= {{ low }} AND CAST({{ v }} AS FLOAT8) < {{ high + 1 }}
                       THEN 'coerced' ELSE 'out_of_range' END
             WHEN {{ t }} = 'string' AND BTRIM({{ v }}, {{ ws }}) ~ '^[+-]?[0-9]+([.]0*)?$'
                  THEN {{ in_range('BTRIM(' ~ v ~ ', ' ~ ws ~ ')', 'coerced', kind) }}
{%- endif %}
             ELSE 'bad_type' END
{%- endmacro %}
{%- macro value(column, kind) -%}
{%- set v = 'v_' ~ column -%}
{%- if kind == 'text' -%}
CASE WHEN s_{{ column }} IN ('ok', 'coerced') THEN {{ v }} END
{%- elif kind == 'float' -%}
CASE WHEN s_{{ column }} IN ('ok', 'coerced') THEN CAST(BTRIM({{ v }}, {{ ws }}) AS FLOAT8) END
{%- else -%}
{%- set sql_type = 'INTEGER' if kind == 'int32' else 'BIGINT' -%}
CASE WHEN s_{{ column }} IN ('ok', 'coerced') THEN
           CASE WHEN t_{{ column }} = 'number' AND {{ v }} ~ '[eE]'
                THEN CAST(CAST({{ v }} AS FLOAT8) AS {{ sql_type }})
                ELSE CAST(SPLIT_PART(BTRIM({{ v }}, {{ ws }}), '.', 1) AS {{ sql_type }}) END
       END
{%- endif -%}
{%- endmacro %}
-- Attribute names are case sensitive in SUPER navigation once this is on.
SET enable_case_sensitive_identifier TO true;

DROP TABLE IF EXISTS load_docs;
CREATE TEMP TABLE load_docs (line VARCHAR(65535), doc SUPER);

INSERT INTO load_docs (line, doc)
SELECT line, CASE WHEN IS_VALID_JSON(line) THEN JSON_PARSE(line) END
FROM (
    SELECT RTRIM(
               CASE WHEN LEFT(COALESCE(line, CHR(92) || 'N'), 1) = '{{ bom }}'
                    THEN SUBSTRING(line, 2, 65535)
                    -- COPY's text format reads a line that is exactly \N as NULL.
                    ELSE COALESCE(line, CHR(92) || 'N') END,
               CHR(13)) AS line
    FROM load_lines
) AS l
WHERE line ~ '[^[:space:]]';

DROP TABLE IF EXISTS checked_lines;
CREATE TEMP TABLE checked_lines AS
SELECT line, doc,
       CASE WHEN doc IS NULL THEN
                CASE WHEN CAN_JSON_PARSE(line) THEN 'not_object' ELSE 'not_json' END
            ELSE COALESCE(
{%- for key, column, kind, required in fields %}
                CASE s_{{ column }}
                    {%- if required %} WHEN 'null' THEN 'missing_field:{{ key | json_key }}'{% endif %}
                    WHEN 'bad_type' THEN 'bad_type:{{ key | json_key }}'
                    {%- if kind == 'text' %} WHEN 'bad_text' THEN 'bad_text:{{ key | json_key }}'{% endif %}
                    {%- if kind in ('int32', 'int64') %} WHEN 'out_of_range' THEN 'out_of_range:{{ key | json_key }}'{% endif %} END{{ "," if not loop.last }}
{%- endfor %}
            ) END AS reason,
       CASE WHEN {% for _, column, _, _ in fields %}{% if not loop.first %} OR {% endif %}s_{{ column }} = 'coerced'{% endfor %}
            THEN 1 ELSE 0 END AS coerced,
{%- for key, column, kind, required in fields %}
       {{ value(column, kind) }} AS {{ column | ident }}{{ "," if not loop.last }}
{%- endfor %}
FROM (
    SELECT line, doc,
{%- for key, column, kind, required in fields %}
           t_{{ column }}, v_{{ column }},
           {{ state(column, kind) }} AS s_{{ column }}{{ "," if not loop.last }}
{%- endfor %}
    FROM (
        SELECT line, doc,
{%- for key, column, kind, required in fields %}
               JSON_TYPEOF(doc."{{ key | json_key }}") AS t_{{ column }},
{%- if kind == 'text' %}
               JSON_SERIALIZE(doc."{{ key | json_key }}") AS j_{{ column }},
{%- endif %}
               JSON_EXTRACT_PATH_TEXT(line, '{{ key | json_key }}', TRUE) AS v_{{ column }}{{ "," if not loop.last }}
{%- endfor %}
        FROM load_docs
    ) AS typed
) AS judged;
