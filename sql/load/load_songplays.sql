-- songplays: exactly the window's NextSong events, replaced as a whole (delete and insert
-- in one transaction), so a re-run never duplicates a fact; each row keeps its own hour in
-- partition_hour, whatever window loaded it. A play matches a song on
-- (title, artist name, length); where several songs match, the least song_id wins. That
-- choice is made once, when songs are staged (song_picks, sql/staging/merge_song_picks.sql),
-- so every statement here costs the rows it touches: the window's events, and for the
-- re-match the plays waiting for the songs this run brought into `songs`.
{% from "load/macros.sql" import lock with context %}
-- One songplays load at a time: the re-match below touches other partitions' rows.
{{ lock("songplays") }}

DELETE FROM songplays
WHERE partition_hour >= %(window_start)s AND partition_hour < %(window_end)s;
DELETE FROM unmatched_plays
WHERE partition_hour >= %(window_start)s AND partition_hour < %(window_end)s;

{#- The window's song plays, each with the song its triple picks among every staged song,
    but only once that song is in `songs` (its partition modelled): a play is never matched
    to a song the star schema does not hold yet, whatever order the hours are modelled in.
    Until then it stays unmatched, and the re-match below matches it when the song's own
    partition is modelled, to the same pick. Both inserts below read the window's events
    through this, so neither joins the other's rows back to `staging_events`. -#}
{% macro window_plays() -%}
FROM staging_events AS e
LEFT JOIN (
    SELECT p.title, p.artist_name, p.duration, p.song_id, p.artist_id
    FROM song_picks AS p
    JOIN songs AS loaded ON loaded.song_id = p.song_id
) AS m
    ON m.title = e.song AND m.artist_name = e.artist AND m.duration = e.length
WHERE e.partition_hour >= %(window_start)s AND e.partition_hour < %(window_end)s
  AND e.page = 'NextSong'
{%- endmacro %}
{% set songplay_id = "MD5(CAST(e.session_id AS VARCHAR) || ':' || CAST(e.item_in_session AS VARCHAR))" %}
INSERT INTO songplays (
    songplay_id, partition_hour, start_time, user_id, level, song_id, artist_id,
    session_id, item_in_session, location, user_agent
)
SELECT
    {{ songplay_id }},
    e.partition_hour,
    TIMESTAMP 'epoch' + (e.ts / 1000) * INTERVAL '1 second' + MOD(e.ts, 1000) * INTERVAL '1 millisecond',
    NULLIF(e.user_id, ''),
    e.level,
    m.song_id,
    m.artist_id,
    e.session_id,
    e.item_in_session,
    e.location,
    e.user_agent
{{ window_plays() }};

-- The window's plays left without a song, with the triple they wait for: the same events
-- through the same match, so exactly the rows just inserted with no song_id. (A play without
-- a title, artist or length can never match, and is not listed.) Read from the events, not by
-- joining songplays back to them: songplays was written in this transaction and has no
-- statistics yet, and a planner that takes it for a few rows nested-loops the join (on a
-- day of 500,000 plays that took minutes, where this takes seconds).
INSERT INTO unmatched_plays (songplay_id, partition_hour, title, artist_name, duration)
SELECT {{ songplay_id }}, e.partition_hour, e.song, e.artist, e.length
{{ window_plays() }}
  AND m.song_id IS NULL
  AND e.song IS NOT NULL AND e.artist IS NOT NULL AND e.length IS NOT NULL;

-- Late-arriving songs: plays of any partition still unmatched are matched again against
-- the picks among the songs this run brought into `songs` (arrived_songs, from load_songs,
-- whatever hour staged them), so the result does not depend on arrival order, nor on which
-- run loaded a song. From those few picks to the plays waiting for them, by index: never
-- every staged song against every play. The plays are found once, into rematched_plays,
-- which the UPDATE and the DELETE below both read.
DROP TABLE IF EXISTS rematched_plays;
{% if dialect == 'postgres' -%}
-- PostgreSQL: the plays waiting for each pick looked up by unmatched_plays_song_ix, pick by
-- pick (OFFSET 0 keeps the subquery from being flattened into a join the planner may hash).
-- Once song_picks is analysed, a catalogue hour's 15,000 picks look dearer as index probes
-- than one scan of every unmatched play; the scan costs the history, the probes do not.
CREATE TEMP TABLE rematched_plays AS
SELECT w.songplay_id, p.song_id, p.artist_id
FROM song_picks AS p
JOIN arrived_songs AS a ON a.song_id = p.song_id
CROSS JOIN LATERAL (
    SELECT u.songplay_id
    FROM unmatched_plays AS u
    WHERE u.title = p.title AND u.artist_name = p.artist_name AND u.duration = p.duration
    OFFSET 0
) AS w;
{%- else -%}
-- Redshift: the arrived picks (song_picks is on every node) joined to unmatched_plays
-- (sorted by the triple); the plays are then reached by songplay_id, the distribution key
-- of both songplays and unmatched_plays.
CREATE TEMP TABLE rematched_plays AS
SELECT u.songplay_id, p.song_id, p.artist_id
FROM song_picks AS p, arrived_songs AS a, unmatched_plays AS u
WHERE a.song_id = p.song_id
  AND u.title = p.title AND u.artist_name = p.artist_name AND u.duration = p.duration;
{%- endif %}

UPDATE songplays
SET song_id = m.song_id, artist_id = m.artist_id
FROM rematched_plays AS m
WHERE songplays.songplay_id = m.songplay_id
  AND songplays.song_id IS NULL;

-- Those plays wait no more.
DELETE FROM unmatched_plays
USING rematched_plays AS m
WHERE unmatched_plays.songplay_id = m.songplay_id;

DROP TABLE rematched_plays;
DROP TABLE arrived_songs;
