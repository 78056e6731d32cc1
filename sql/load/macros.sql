{#- Shared shape of every dimension load, by mode:
    upsert          replace rows whose key arrives (only by newer rows when `newer` is set), add new keys;
                    no statement reads the table it inserts into: an INSERT ... WHERE NOT
                    EXISTS (SELECT ... FROM the same table) that the planner runs as a nested
                    loop over a table it believes small re-reads every row the statement has
                    added so far, for every row it adds (quadratic: 27 s for a day's 77,000
                    `time` rows). After the DELETE no arriving key is left in the table,
                    except, with `newer`, where the row there is newer: those arriving rows are
                    dropped from the incoming table first;
    truncate_insert empty the table (DELETE: TRUNCATE commits implicitly on Redshift), load all staging;
    append          insert what arrives, as it is.
    The caller's body is the SELECT of incoming rows, in `columns` order. -#}
{#- Loads of one table from different partitions queue on this lock, so model runs of
    different hours can run side by side without racing on the same keys.
    PostgreSQL: the table itself, in a mode that blocks other writers, never readers.
    Redshift: LOCK is always exclusive and would block every reader of the star table for the
    whole model transaction; the model runs queue on the lock_model table instead (LOCK again
    within the same transaction is a no-op), taken by the first load, before the snapshot. -#}
{% macro lock(table) -%}
{% if dialect == 'redshift' -%}
LOCK lock_model;
{%- else -%}
LOCK TABLE {{ table | ident }} IN SHARE ROW EXCLUSIVE MODE;
{%- endif %}
{%- endmacro %}

{% macro load_dimension(table, key, columns, mode, newer=none) -%}
{% set cols = columns | map('ident') | join(', ') -%}
{{ lock(table) }}
DROP TABLE IF EXISTS {{ ('incoming_' ~ table) | ident }};
CREATE TEMP TABLE {{ ('incoming_' ~ table) | ident }} AS
{{ caller() }};
{% if mode == 'upsert' -%}
DELETE FROM {{ table | ident }}
USING {{ ('incoming_' ~ table) | ident }} AS i
WHERE {{ table | ident }}.{{ key | ident }} = i.{{ key | ident }}
{%- if newer %}
  AND {{ table | ident }}.{{ newer | ident }} <= i.{{ newer | ident }}{% endif %};
{% if newer -%}
DELETE FROM {{ ('incoming_' ~ table) | ident }}
USING {{ table | ident }} AS t
WHERE {{ ('incoming_' ~ table) | ident }}.{{ key | ident }} = t.{{ key | ident }};
{% endif -%}
INSERT INTO {{ table | ident }} ({{ cols }})
SELECT {{ cols }} FROM {{ ('incoming_' ~ table) | ident }};
{%- elif mode == 'truncate_insert' -%}
DELETE FROM {{ table | ident }};
INSERT INTO {{ table | ident }} ({{ cols }})
SELECT {{ cols }} FROM {{ ('incoming_' ~ table) | ident }};
{%- else -%}
INSERT INTO {{ table | ident }} ({{ cols }})
SELECT {{ cols }} FROM {{ ('incoming_' ~ table) | ident }};
{%- endif %}
DROP TABLE {{ ('incoming_' ~ table) | ident }};
{%- endmacro %}
