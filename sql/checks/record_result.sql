-- One check's outcome, for the partition it judged.
INSERT INTO check_results (check_name, table_name, partition_hour, value, passed)
VALUES (%(check_name)s, %(table_name)s, %(partition_hour)s, %(value)s, %(passed)s);
