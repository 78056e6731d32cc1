-- PostgreSQL: the text of the rows just loaded into a staging table (or its load table) cut to
-- the widths Redshift's staging tables declare, in bytes, by the rule Redshift's staging cuts
-- with (sql/staging/macros.sql): both warehouses stage the same values, and no value is too
-- wide for an index (a btree entry holds at most 2,704 bytes). Rows that fit are not touched.
{% from "staging/macros.sql" import fit_bytes %}
UPDATE {{ table | name }}
SET {% for column, width in widths.items() %}{{ column | ident }} = {{ fit_bytes(column | ident, width) }}{{ ",\n    " if not loop.last }}{% endfor %}
WHERE {% if by_hour %}partition_hour = %(partition_hour)s AND {% endif %}(
{%- for column, width in widths.items() %}
    {% if not loop.first %}OR {% endif %}OCTET_LENGTH({{ column | ident }}) > {{ width | int }}
{%- endfor %}
);
