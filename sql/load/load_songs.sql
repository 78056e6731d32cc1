-- songs: one row per song_id, from the song files staged for this partition.
{% from "load/macros.sql" import load_dimension with context %}
{% call load_dimension("songs", "song_id",
        ["song_id", "title", "artist_id", "year", "duration"], mode) -%}
SELECT s.song_id, s.title, s.artist_id, s.year, s.duration
FROM staging_songs AS s
{%- if mode != 'truncate_insert' %}
WHERE s.partition_hour = %(partition_hour)s
{%- endif %}
{%- endcall %}
