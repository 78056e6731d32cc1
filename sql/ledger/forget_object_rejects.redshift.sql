-- Before song files are loaded again: the rejects COPY recorded for them last time go, a
-- chunk of keys at a time (rows rejected after the COPY carry the prefix, not a file, and
-- stay: docs/staging.md).
DELETE FROM staging_rejects
WHERE dataset = %(dataset)s
  AND source_key IN ({% for i in range(rows) %}%(key_{{ i }})s{% if not loop.last %}, {% endif %}{% endfor %});
