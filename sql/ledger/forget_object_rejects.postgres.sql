-- Before song files are loaded again: the rejects they left last time go.
DELETE FROM staging_rejects
WHERE dataset = %(dataset)s AND source_key = ANY(%(keys)s);
