-- The ledger's ETag of each of a page of listed objects (a bound key per object), whatever
-- partition loaded it: what is new or changed is found a listing page at a time, so memory
-- follows the page, not the catalogue.
SELECT source_key, etag
FROM load_ledger
WHERE dataset = %(dataset)s
  AND source_key IN ({% for i in range(rows) %}%(key_{{ i }})s{% if not loop.last %}, {% endif %}{% endfor %});
