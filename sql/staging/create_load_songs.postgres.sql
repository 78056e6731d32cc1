-- PostgreSQL: the song files of one staging run, before they are merged into staging_songs.
CREATE TEMP TABLE load_songs ON COMMIT DROP AS
SELECT * FROM staging_songs WITH NO DATA;
