-- Rows the COPY just run in this session loaded.
SELECT pg_last_copy_count();
