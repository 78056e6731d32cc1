-- Redshift: the new or changed song files, listed in a manifest, with COPY 'auto'.
DROP TABLE IF EXISTS load_songs;
CREATE TEMP TABLE load_songs AS
SELECT {{ columns | map('ident') | join(', ') }} FROM staging_songs WHERE 1 = 0;
COPY load_songs ({{ columns | map('ident') | join(', ') }})
FROM '{{ manifest_uri }}'
IAM_ROLE '{{ iam_role }}'
FORMAT AS JSON 'auto'
MANIFEST
REGION '{{ region }}'
MAXERROR {{ max_errors | int }}
TRUNCATECOLUMNS
ACCEPTINVCHARS
COMPUPDATE OFF
STATUPDATE OFF;
