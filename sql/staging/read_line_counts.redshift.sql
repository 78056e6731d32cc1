-- What this load's lines came to: per reason (NULL: passed), how many, and how many of the
-- lines that passed had a value coerced.
SELECT reason, COUNT(*), SUM(coerced)
FROM (
    SELECT reason, 0 AS coerced FROM load_refusals
    UNION ALL
    SELECT reason, coerced FROM checked_lines
) AS l
GROUP BY reason;
