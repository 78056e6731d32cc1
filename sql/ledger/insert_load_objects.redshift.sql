-- Redshift: one multi-row INSERT per chunk of objects (no COPY FROM STDIN); what Redshift's
-- COPY cannot tell per object (rows read, staged, rejected...) is left NULL.
INSERT INTO load_objects ({{ columns | map('ident') | join(', ') }})
VALUES
{%- for i in range(rows) %}
    ({% for column in columns %}%({{ column }}_{{ i }})s{% if not loop.last %}, {% endif %}{% endfor %}){% if not loop.last %},{% endif %}
{%- endfor %};
