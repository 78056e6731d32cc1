-- songplays: exactly the window's NextSong events, replaced as a whole (delete and insert
-- in one transaction), so a re-run never duplicates a fact; each row keeps its own hour in
-- partition_hour, whatever window loaded it. A play matches a song on
-- (title, artist name, length); where several songs match, the least song_id wins.
{% from "load/macros.sql" import lock with context %}
-- One songplays load at a time: the re-match below touches other partitions' rows.
{{ lock("songplays") }}

DELETE FROM songplays
WHERE partition_hour >= %(window_start)s AND partition_hour < %(window_end)s;

INSERT INTO songplays (
    songplay_id, partition_hour, start_time, user_id, level, song_id, artist_id,
    session_id, item_in_session, location, user_agent
)
SELECT
    MD5(CAST(e.session_id AS VARCHAR) || ':' || CAST(e.item_in_session AS VARCHAR)),
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
FROM staging_events AS e
LEFT JOIN (
    -- The song a play's triple picks among every staged song, but only once that song is
    -- in `songs` (its partition modelled): a play is never matched to a song the star
    -- schema does not hold yet, whatever order the hours are modelled in. Until then it
    -- stays unmatched, and the re-match below matches it when the song's own partition is
    -- modelled, to the same pick.
    SELECT r.title, r.artist_name, r.duration, r.song_id, r.artist_id
    FROM (
        SELECT title, artist_name, duration, song_id, artist_id,
               ROW_NUMBER() OVER (PARTITION BY title, artist_name, duration ORDER BY song_id) AS pick
        FROM staging_songs
    ) AS r
    JOIN songs AS loaded ON loaded.song_id = r.song_id
    WHERE r.pick = 1
) AS m
    ON m.title = e.song AND m.artist_name = e.artist AND m.duration = e.length
WHERE e.partition_hour >= %(window_start)s AND e.partition_hour < %(window_end)s
  AND e.page = 'NextSong';

-- Late-arriving songs: plays of any partition still unmatched are matched again against
-- the songs this run brought into `songs` (arrived_songs, from load_songs), so the result
-- does not depend on arrival order, nor on which run loaded a song.
UPDATE songplays
SET song_id = m.song_id, artist_id = m.artist_id
FROM staging_events AS e, (
    SELECT r.title, r.artist_name, r.duration, r.song_id, r.artist_id
    FROM (
        SELECT title, artist_name, duration, song_id, artist_id,
               ROW_NUMBER() OVER (PARTITION BY title, artist_name, duration ORDER BY song_id) AS pick
        FROM staging_songs
    ) AS r
    JOIN arrived_songs AS a ON a.song_id = r.song_id
    WHERE r.pick = 1
) AS m
WHERE songplays.song_id IS NULL
  AND e.session_id = songplays.session_id
  AND e.item_in_session = songplays.item_in_session
  AND m.title = e.song AND m.artist_name = e.artist AND m.duration = e.length;

DROP TABLE arrived_songs;
