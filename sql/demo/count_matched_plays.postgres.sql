-- Song plays matched to a song of the catalogue, in the whole warehouse.
SELECT COUNT(*) FROM songplays WHERE song_id IS NOT NULL
