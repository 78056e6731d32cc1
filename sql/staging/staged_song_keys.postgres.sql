-- Which of the song files just loaded now hold a row of staging_songs.
SELECT source_key FROM staging_songs WHERE source_key = ANY(%(keys)s);
