-- Redshift: the lines of the objects listed in a manifest, each line whole, into a
-- one-column temporary table; sql/staging/check_lines.redshift.sql then reads them as JSON.
-- Not FORMAT AS JSON: Redshift's JSON COPY reads an object across line ends, so a line cut
-- short would take the next lines with it, and it cannot say what was coerced or which
-- fields drifted. The text format with a delimiter JSON never holds unescaped (0x1F, the
-- unit separator) and no ESCAPE keeps every byte of a line; IGNOREBLANKLINES skips empty
-- lines, which are not records. Lines COPY itself refuses (longer than 65,535 bytes, or not
-- UTF-8) go to its error table and count against MAXERROR.
-- A manifest, not the prefix: exactly the *.json objects listed are read. COPY cannot take
-- bound parameters: the S3 URIs and the role come from validated settings. The IAM role is
-- an ARN, not a credential; no access keys ever appear here.
DROP TABLE IF EXISTS load_lines;
CREATE TEMP TABLE load_lines (line VARCHAR(65535));
COPY load_lines (line)
FROM '{{ manifest_uri }}'
IAM_ROLE '{{ iam_role }}'
MANIFEST
REGION '{{ region }}'
DELIMITER '\037'
IGNOREBLANKLINES
MAXERROR {{ max_errors | int }}
COMPUPDATE OFF
STATUPDATE OFF;
