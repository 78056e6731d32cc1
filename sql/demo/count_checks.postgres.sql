-- Passed and failed checks of the range: the latest outcome of each check, table and
-- partition (a check re-run after a fix counts once, as it ended).
SELECT passed, COUNT(*) FROM (
  SELECT DISTINCT ON (check_name, table_name, partition_hour) passed
  FROM check_results WHERE partition_hour BETWEEN %(first_hour)s AND %(last_hour)s
  ORDER BY check_name, table_name, partition_hour, checked_at DESC
) AS latest GROUP BY passed
