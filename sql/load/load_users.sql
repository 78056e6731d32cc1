-- users: one row per identified user (any event with a non-empty userId), carrying the
-- name, gender and level of that user's latest event. Upserts keep the newer event, so the
-- order in which partitions load does not matter.
{% from "load/macros.sql" import load_dimension with context %}
{% call load_dimension("users", "user_id",
        ["user_id", "first_name", "last_name", "gender", "level", "last_event_ts"],
        mode, newer="last_event_ts") -%}
SELECT user_id, first_name, last_name, gender, level, ts AS last_event_ts
FROM (
    SELECT e.user_id, e.first_name, e.last_name, e.gender, e.level, e.ts,
           ROW_NUMBER() OVER (
               PARTITION BY e.user_id
               ORDER BY e.ts DESC, e.session_id DESC, e.item_in_session DESC
           ) AS recency
    FROM staging_events AS e
    WHERE e.user_id IS NOT NULL AND e.user_id <> ''
    {%- if mode != 'truncate_insert' %}
      AND e.partition_hour >= %(window_start)s AND e.partition_hour < %(window_end)s
    {%- endif %}
) AS latest
WHERE recency = 1
{%- endcall %}
