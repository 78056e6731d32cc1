-- Merge freshly read song files (load_songs) into staging_songs: a song's row is replaced by
-- its newest file; two files of one load with the same song_id keep the greater key.
DELETE FROM staging_songs WHERE song_id IN (SELECT song_id FROM load_songs);

INSERT INTO staging_songs ({{ columns | map('ident') | join(', ') }}, source_key, partition_hour)
SELECT {{ columns | map('ident') | join(', ') }}, source_key, partition_hour
FROM (
    SELECT l.*, ROW_NUMBER() OVER (PARTITION BY l.song_id ORDER BY l.source_key DESC) AS pick
    FROM load_songs AS l
) AS d
WHERE d.pick = 1;
