-- The width of each character column of a table: values are cut to it, as COPY's
-- TRUNCATECOLUMNS would.
SELECT column_name, character_maximum_length
FROM information_schema.columns
WHERE table_schema = current_schema()
  AND table_name = %(table)s
  AND character_maximum_length IS NOT NULL;
