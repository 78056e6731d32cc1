-- The demo's summary reads the warehouse through PostgreSQL, whichever the warehouse.
-- The table of that (quoted) name, NULL if there is none: a warehouse set up before a
-- table existed counts nothing of it.
SELECT to_regclass(%(table)s)
