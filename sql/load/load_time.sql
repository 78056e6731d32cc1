-- time: one row per start_time of the window's song plays.
{% from "load/macros.sql" import load_dimension with context %}
{% call load_dimension("time", "start_time",
        ["start_time", "hour", "day", "week", "month", "year", "weekday"], mode) -%}
SELECT DISTINCT
    p.start_time,
    CAST(EXTRACT(hour FROM p.start_time) AS INTEGER) AS hour,
    CAST(EXTRACT(day FROM p.start_time) AS INTEGER) AS day,
    CAST(EXTRACT(week FROM p.start_time) AS INTEGER) AS week,
    CAST(EXTRACT(month FROM p.start_time) AS INTEGER) AS month,
    CAST(EXTRACT(year FROM p.start_time) AS INTEGER) AS year,
    CAST(EXTRACT(dow FROM p.start_time) AS INTEGER) AS weekday
FROM songplays AS p
{%- if mode != 'truncate_insert' %}
WHERE p.partition_hour >= %(window_start)s AND p.partition_hour < %(window_end)s
{%- endif %}
{%- endcall %}
