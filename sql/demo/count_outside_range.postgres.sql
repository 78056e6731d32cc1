-- Rows of a partitioned table outside the range: a warehouse used before holds them too.
SELECT COUNT(*) FROM {{ table | ident }}
WHERE partition_hour < %(first_hour)s OR partition_hour > %(last_hour)s
