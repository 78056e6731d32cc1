-- After a merge into staging_songs (load_songs: the rows just merged), in its transaction:
-- the pick of every triple the merge may have changed, made again from staging_songs. Those
-- are the triples that arrived and those of picks whose song was replaced (it may have
-- moved to another partition or title). Costs the songs merged, not the catalogue: the
-- triples' songs are found by staging_songs_match_ix (sort key title on Redshift).
DROP TABLE IF EXISTS repick_songs;
CREATE TEMP TABLE repick_songs AS
SELECT title, artist_name, duration FROM load_songs
WHERE title IS NOT NULL AND artist_name IS NOT NULL AND duration IS NOT NULL
UNION
SELECT p.title, p.artist_name, p.duration FROM song_picks AS p
WHERE p.song_id IN (SELECT song_id FROM load_songs);

DELETE FROM song_picks
USING repick_songs AS r
WHERE song_picks.title = r.title AND song_picks.artist_name = r.artist_name
  AND song_picks.duration = r.duration;

INSERT INTO song_picks (title, artist_name, duration, song_id, artist_id, partition_hour)
SELECT title, artist_name, duration, song_id, artist_id, partition_hour
FROM (
    SELECT s.title, s.artist_name, s.duration, s.song_id, s.artist_id, s.partition_hour,
           ROW_NUMBER() OVER (PARTITION BY s.title, s.artist_name, s.duration ORDER BY s.song_id) AS pick
    FROM staging_songs AS s
    JOIN repick_songs AS r
        ON s.title = r.title AND s.artist_name = r.artist_name AND s.duration = r.duration
) AS ranked
WHERE pick = 1;

DROP TABLE repick_songs;
