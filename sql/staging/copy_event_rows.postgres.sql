-- PostgreSQL: one object's parsed events, straight into staging_events or into load_events.
COPY {{ table | name }} (partition_hour, source_key, line_no, {{ columns | map('name') | join(', ') }})
FROM STDIN (FORMAT BINARY);
