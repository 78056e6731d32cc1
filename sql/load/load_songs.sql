-- songs: one row per song_id. Every run loads the songs staged in its window and every
-- staged song not yet in `songs`, whatever hour staged it: a model run that failed or never
-- ran for that hour leaves nothing behind (the next run of any window loads its songs).
-- The songs this run brings in are kept in `arrived_songs` for the re-match of unmatched
-- plays in load_songplays (same transaction; it drops the table).
{% from "load/macros.sql" import load_dimension, lock with context %}
{{ lock("songs") }}
DROP TABLE IF EXISTS arrived_songs;
CREATE TEMP TABLE arrived_songs AS
SELECT s.song_id
FROM staging_songs AS s
{%- if mode != 'truncate_insert' %}
WHERE (s.partition_hour >= %(window_start)s AND s.partition_hour < %(window_end)s)
   OR NOT EXISTS (SELECT 1 FROM songs AS t WHERE t.song_id = s.song_id)
{%- endif %};
{% call load_dimension("songs", "song_id",
        ["song_id", "title", "artist_id", "year", "duration"], mode) -%}
SELECT s.song_id, s.title, s.artist_id, s.year, s.duration
FROM staging_songs AS s
JOIN arrived_songs AS a ON a.song_id = s.song_id
{%- endcall %}
