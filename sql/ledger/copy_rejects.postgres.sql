-- PostgreSQL: the lines a staging run rejected, each with its reason and raw text.
COPY staging_rejects ({{ columns | map('ident') | join(', ') }}) FROM STDIN;
