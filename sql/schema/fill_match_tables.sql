-- Fill song_picks and unmatched_plays from staging_songs and songplays where they lack rows
-- (a warehouse made before they existed). Adds only what is missing: a triple with a pick
-- keeps it, a play already listed is not listed twice.
INSERT INTO song_picks (title, artist_name, duration, song_id, artist_id, partition_hour)
SELECT title, artist_name, duration, song_id, artist_id, partition_hour
FROM (
    SELECT s.title, s.artist_name, s.duration, s.song_id, s.artist_id, s.partition_hour,
           ROW_NUMBER() OVER (PARTITION BY s.title, s.artist_name, s.duration ORDER BY s.song_id) AS pick
    FROM staging_songs AS s
    WHERE s.title IS NOT NULL AND s.artist_name IS NOT NULL AND s.duration IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM song_picks AS p
          WHERE p.title = s.title AND p.artist_name = s.artist_name AND p.duration = s.duration
      )
) AS ranked
WHERE pick = 1;

INSERT INTO unmatched_plays (songplay_id, partition_hour, title, artist_name, duration)
SELECT p.songplay_id, p.partition_hour, e.song, e.artist, e.length
FROM songplays AS p
JOIN staging_events AS e
    ON e.session_id = p.session_id AND e.item_in_session = p.item_in_session
WHERE p.song_id IS NULL
  AND e.song IS NOT NULL AND e.artist IS NOT NULL AND e.length IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM unmatched_plays AS u WHERE u.songplay_id = p.songplay_id);
