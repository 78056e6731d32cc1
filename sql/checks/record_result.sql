-- One check's outcome, for the window it judged: from partition_hour (its first hour) to
-- window_end (exclusive), keyed as the run was (partition_key: an hour or an interval).
INSERT INTO check_results (
    check_name, table_name, partition_hour, window_end, partition_key, value, passed
)
VALUES (
    %(check_name)s, %(table_name)s, %(partition_hour)s, %(window_end)s, %(partition_key)s,
    %(value)s, %(passed)s
);
