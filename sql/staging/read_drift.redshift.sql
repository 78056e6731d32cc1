-- Schema drift among the lines that passed, as PostgreSQL counts it: how often each known
-- field was absent (one row, in field order), then each attribute no field maps and how
-- often it appeared (read_unmapped).
SELECT
{%- for key, column, kind, required in fields %}
       SUM(CASE WHEN JSON_TYPEOF(doc."{{ key | json_key }}") IS NULL THEN 1 ELSE 0 END){{ "," if not loop.last }}
{%- endfor %}
FROM checked_lines
WHERE reason IS NULL;

SELECT LEFT(attr, {{ name_chars | int }}) AS name, COUNT(*)
FROM checked_lines AS c, UNPIVOT c.doc AS v AT attr
WHERE c.reason IS NULL
  AND attr NOT IN ({% for key, _, _, _ in fields %}{% if not loop.first %}, {% endif %}'{{ key | json_key }}'{% endfor %})
GROUP BY 1
ORDER BY 2 DESC, 1
LIMIT {{ max_names | int }};

SELECT COUNT(*)
FROM checked_lines AS c, UNPIVOT c.doc AS v AT attr
WHERE c.reason IS NULL
  AND attr NOT IN ({% for key, _, _, _ in fields %}{% if not loop.first %}, {% endif %}'{{ key | json_key }}'{% endfor %});
