COPY load_objects ({{ columns | map('ident') | join(', ') }}) FROM STDIN;
