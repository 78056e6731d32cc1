-- Redshift: merge load_songs into staging_songs; a song's row is replaced by its newest file.
DELETE FROM staging_songs WHERE song_id IN (SELECT song_id FROM load_songs);

INSERT INTO staging_songs ({{ columns | map('ident') | join(', ') }}, source_key, partition_hour)
SELECT {{ columns | map('ident') | join(', ') }}, %(source_key)s, %(partition_hour)s
FROM (
    SELECT l.*, ROW_NUMBER() OVER (PARTITION BY l.song_id ORDER BY l.title) AS pick
    FROM load_songs AS l
) AS d
WHERE d.pick = 1 AND d.song_id IS NOT NULL AND d.duration IS NOT NULL;
