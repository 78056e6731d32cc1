-- Redshift: one hour of events with Redshift's own COPY, into a temporary table.
-- COPY cannot take bound parameters: the S3 URIs and the role come from validated settings.
-- The IAM role is an ARN, not a credential; no access keys ever appear here.
DROP TABLE IF EXISTS load_events;
CREATE TEMP TABLE load_events AS
SELECT {{ columns | map('ident') | join(', ') }} FROM staging_events WHERE 1 = 0;
COPY load_events ({{ columns | map('ident') | join(', ') }})
FROM '{{ source_uri }}'
IAM_ROLE '{{ iam_role }}'
FORMAT AS JSON '{{ jsonpaths_uri }}'
REGION '{{ region }}'
MAXERROR {{ max_errors | int }}
TRUNCATECOLUMNS
ACCEPTINVCHARS
COMPUPDATE OFF
STATUPDATE OFF;
