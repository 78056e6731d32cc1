-- Every row of the table, not only the range's.
SELECT COUNT(*) FROM {{ table | ident }}
