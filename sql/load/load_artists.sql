-- artists: one row per artist_id. One artist appears in many song files, sometimes with other
-- spellings or locations; the row is chosen over all of that artist's staged songs (the one
-- with the greatest song_id), so it does not depend on which partition loaded first. The
-- artists loaded are those of the songs this run brought in (`arrived_songs`, load_songs).
{% from "load/macros.sql" import load_dimension with context %}
{% call load_dimension("artists", "artist_id",
        ["artist_id", "name", "location", "latitude", "longitude"], mode) -%}
SELECT artist_id, name, location, latitude, longitude
FROM (
    SELECT s.artist_id, s.artist_name AS name, s.artist_location AS location,
           s.artist_latitude AS latitude, s.artist_longitude AS longitude,
           ROW_NUMBER() OVER (PARTITION BY s.artist_id ORDER BY s.song_id DESC) AS pick
    FROM staging_songs AS s
    WHERE s.artist_id IS NOT NULL
    {%- if mode != 'truncate_insert' %}
      AND s.artist_id IN (
          SELECT n.artist_id FROM staging_songs AS n
          JOIN arrived_songs AS a ON a.song_id = n.song_id
      )
    {%- endif %}
) AS artist_rows
WHERE pick = 1
{%- endcall %}
