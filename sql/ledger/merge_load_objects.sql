-- Each loaded object replaces its ledger row, whichever partition held it before.
DELETE FROM load_ledger
USING load_objects AS o
WHERE load_ledger.dataset = o.dataset AND load_ledger.source_key = o.source_key;

INSERT INTO load_ledger ({{ columns | map('ident') | join(', ') }})
SELECT {{ columns | map('ident') | join(', ') }}
FROM load_objects;

DROP TABLE load_objects;
