-- Redshift: each line COPY loaded into load_lines, read as JSON and checked field by field
-- with PostgreSQL staging's rules (sparkify.pipeline.records), into checked_lines: the line,
-- its document, the reason it is rejected (NULL: it passes), whether a value was coerced,
-- and the converted values, named as the staging columns.
--   line_too_long             the line is longer than max_line_bytes (bytes, as read);
--   not_json / not_object     the line is not JSON / is JSON but not an object;
--   too_deep                  arrays and objects nested deeper than max_depth, counted on
--                             the brackets outside strings (escaped backslashes and quotes
--                             dropped, strings dropped, innermost pairs removed max_depth
--                             times: what is left nests deeper), before any JSON is parsed;
--   missing_field:<key>       a required value absent or null;
--   bad_type:<key>            an object or array where a scalar belongs, a fraction or
--                             non-number for an integer, a non-number for a float;
--   out_of_range:<key>        an integer outside its column's range (judged by its digits;
--                             ts: a time from year 1 to 9999, in epoch milliseconds),
--                             a number with an exponent of three digits or more, or a
--                             float8's number text longer than max_number_text: nothing
--                             that COPY or CAST could refuse is ever cast;
--   bad_text:<key>            text holding NUL (\u0000);
--   coerced                   integer text or an integral float to an integer, number text
--                             to a float, a number or boolean to text.
-- The reason names the first such field in the field order of sparkify.pipeline.records,
-- as on PostgreSQL. A line's byte-order mark and carriage return are dropped; a line of
-- white space is not a record. Regular expressions avoid backslashes, which Redshift's and
-- PostgreSQL's string literals treat differently.
{%- set ws = "CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13)" %}
{%- macro in_range(text, state, kind) -%}
{%- set low, high = bounds[kind] -%}
CASE WHEN LENGTH(LTRIM(LTRIM(SPLIT_PART({{ text }}, '.', 1), '+-'), '0')) > 19 THEN 'out_of_range'
                  WHEN CAST('0' || LTRIM(LTRIM(SPLIT_PART({{ text }}, '.', 1), '+-'), '0') AS DECIMAL(20, 0))
                       <= CASE WHEN LEFT({{ text }}, 1) = '-' THEN {{ -low }} ELSE {{ high }} END
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
             WHEN {{ t }} = 'number' AND (LENGTH({{ v }}) > {{ max_number_text | int }} OR {{ v }} ~ '[eE][+-]?[0-9]{3}') THEN 'out_of_range'
             WHEN {{ t }} = 'number' THEN 'ok'
             WHEN {{ t }} = 'string'
                  AND BTRIM({{ v }}, {{ ws }}) ~ '^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?$'
                  THEN CASE WHEN LENGTH(BTRIM({{ v }}, {{ ws }})) > {{ max_number_text | int }}
                                 OR BTRIM({{ v }}, {{ ws }}) ~ '[eE][+-]?[0-9]{3}' THEN 'out_of_range'
                            ELSE 'coerced' END
{%- else %}
{%- set low, high = bounds[kind] %}
             WHEN {{ t }} = 'number' AND {{ v }} ~ '[eE][+-]?[0-9]{3}' THEN 'out_of_range'
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
{%- macro skeleton(text) -%}
REGEXP_REPLACE(REGEXP_REPLACE(REPLACE(REPLACE({{ text }}, CHR(92) || CHR(92), ''), CHR(92) || '"', ''), '"[^"]*"', ''), '[^][{}]', '')
{%- endmacro %}
{%- macro peeled(text, times) -%}
{%- if times == 0 -%}{{ text }}{%- else -%}REGEXP_REPLACE({{ peeled(text, times - 1) }}, '[[][]]|[{][}]', ''){%- endif -%}
{%- endmacro %}
-- Attribute names are case sensitive in SUPER navigation once this is on.
SET enable_case_sensitive_identifier TO true;

DROP TABLE IF EXISTS load_docs;
CREATE TEMP TABLE load_docs (line VARCHAR(65535), doc SUPER, line_reason VARCHAR(32));

INSERT INTO load_docs (line, doc, line_reason)
SELECT line,
       CASE WHEN line_reason IS NULL AND IS_VALID_JSON(line) THEN JSON_PARSE(line) END,
       line_reason
FROM (
    SELECT line,
           CASE WHEN too_long THEN 'line_too_long'
                WHEN LENGTH(line) - LENGTH(REPLACE(REPLACE(line, '[', ''), '{', '')) > {{ max_depth | int }}
                     AND {{ peeled(skeleton('line'), max_depth | int) }} <> ''
                THEN 'too_deep' END AS line_reason
    FROM (
        SELECT RTRIM(
                   CASE WHEN LEFT(COALESCE(line, CHR(92) || 'N'), 1) = '{{ bom }}'
                        THEN SUBSTRING(line, 2, 65535)
                        -- COPY's text format reads a line that is exactly \N as NULL.
                        ELSE COALESCE(line, CHR(92) || 'N') END,
                   CHR(13)) AS line,
               COALESCE(OCTET_LENGTH(line), 2) > {{ max_line_bytes | int }} AS too_long
        FROM load_lines
    ) AS l
) AS judged_lines
WHERE line ~ '[^[:space:]]' OR line_reason IS NOT NULL;

DROP TABLE IF EXISTS checked_lines;
CREATE TEMP TABLE checked_lines AS
SELECT line, doc,
       CASE WHEN line_reason IS NOT NULL THEN line_reason
            WHEN doc IS NULL THEN
                CASE WHEN CAN_JSON_PARSE(line) THEN 'not_object' ELSE 'not_json' END
            ELSE COALESCE(
{%- for key, column, kind, required in fields %}
                CASE s_{{ column }}
                    {%- if required %} WHEN 'null' THEN 'missing_field:{{ key | json_key }}'{% endif %}
                    WHEN 'bad_type' THEN 'bad_type:{{ key | json_key }}'
                    {%- if kind == 'text' %} WHEN 'bad_text' THEN 'bad_text:{{ key | json_key }}'{% endif %}
                    {%- if kind != 'text' %} WHEN 'out_of_range' THEN 'out_of_range:{{ key | json_key }}'{% endif %} END{{ "," if not loop.last }}
{%- endfor %}
            ) END AS reason,
       CASE WHEN {% for _, column, _, _ in fields %}{% if not loop.first %} OR {% endif %}s_{{ column }} = 'coerced'{% endfor %}
            THEN 1 ELSE 0 END AS coerced,
{%- for key, column, kind, required in fields %}
       {{ value(column, kind) }} AS {{ column | ident }}{{ "," if not loop.last }}
{%- endfor %}
FROM (
    SELECT line, doc, line_reason,
{%- for key, column, kind, required in fields %}
           t_{{ column }}, v_{{ column }},
           {{ state(column, kind) }} AS s_{{ column }}{{ "," if not loop.last }}
{%- endfor %}
    FROM (
        SELECT line, doc, line_reason,
{%- for key, column, kind, required in fields %}
               JSON_TYPEOF(doc."{{ key | json_key }}") AS t_{{ column }},
{%- if kind == 'text' %}
               JSON_SERIALIZE(doc."{{ key | json_key }}") AS j_{{ column }},
{%- endif %}
               CASE WHEN doc IS NOT NULL THEN JSON_EXTRACT_PATH_TEXT(line, '{{ key | json_key }}', TRUE) END AS v_{{ column }}{{ "," if not loop.last }}
{%- endfor %}
        FROM load_docs
    ) AS typed
) AS judged;
