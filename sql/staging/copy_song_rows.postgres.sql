-- PostgreSQL: the parsed song files of one staging run.
COPY load_songs ({{ columns | map('ident') | join(', ') }}, source_key, partition_hour) FROM STDIN;
