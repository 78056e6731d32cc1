-- Redshift: one hour's event objects, listed in a manifest, with Redshift's own COPY, into a
-- temporary table. A manifest, not the prefix: exactly the *.json objects listed are read.
-- COPY cannot take bound parameters: the S3 URIs and the role come from validated settings.
-- The IAM role is an ARN, not a credential; no access keys ever appear here.
DROP TABLE IF EXISTS load_events;
CREATE TEMP TABLE load_events AS
SELECT {{ columns | map('ident') | join(', ') }} FROM staging_events WHERE 1 = 0;
COPY load_events ({{ columns | map('ident') | join(', ') }})
FROM '{{ manifest_uri }}'
IAM_ROLE '{{ iam_role }}'
FORMAT AS JSON '{{ jsonpaths_uri }}'
MANIFEST
REGION '{{ region }}'
MAXERROR {{ max_errors | int }}
TRUNCATECOLUMNS
ACCEPTINVCHARS
COMPUPDATE OFF
STATUPDATE OFF;
