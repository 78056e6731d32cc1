-- Macros for the Redshift staging SQL.
{#- Text cut to at most n bytes, as Redshift's VARCHAR(n) counts them: LEFT counts
    characters (of up to four bytes), so the longest of LEFT(n), LEFT(n / 2) and LEFT(n / 4)
    characters that fits is taken. Never relies on CAST to a shorter VARCHAR, whose cut
    Redshift does not document for multibyte text. #}
{%- macro fit_bytes(expr, n) -%}
{%- set n = n | int -%}
CASE WHEN OCTET_LENGTH(LEFT({{ expr }}, {{ n }})) <= {{ n }} THEN LEFT({{ expr }}, {{ n }})
            WHEN OCTET_LENGTH(LEFT({{ expr }}, {{ n // 2 }})) <= {{ n }} THEN LEFT({{ expr }}, {{ n // 2 }})
            ELSE LEFT({{ expr }}, {{ n // 4 }}) END
{%- endmacro %}
