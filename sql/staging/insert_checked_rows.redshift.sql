-- The lines check_lines passed, as rows of a temporary table shaped like the staging table;
-- text longer than its column is cut to the column's width in bytes (sql/staging/macros.sql),
-- as COPY's TRUNCATECOLUMNS did.
{% from "staging/macros.sql" import fit_bytes %}
DROP TABLE IF EXISTS {{ load_table | name }};
CREATE TEMP TABLE {{ load_table | name }} AS
SELECT {{ columns | map('ident') | join(', ') }} FROM {{ table | name }} WHERE 1 = 0;

INSERT INTO {{ load_table | name }} ({{ columns | map('ident') | join(', ') }})
SELECT
{%- for column in columns %}
       {% if column in widths %}{{ fit_bytes(column | ident, widths[column]) }}{% else %}{{ column | ident }}{% endif %}{{ "," if not loop.last }}
{%- endfor %}
FROM checked_lines
WHERE reason IS NULL;
