-- The trail behind the counts (`refrate explain`): every record of one hospital, in one month
-- or in all, with the 0/1 columns of `counted_events.sql` that say in which count it is. The
-- counting rules live there; this query only picks the rows, in input order.
--
-- Parameters: $1 the hospital code, $2 the month (`2025-04`), or NULL for every month.
SELECT *
FROM counted_events
WHERE hospital_code = $1 AND ($2 IS NULL OR month = $2)
ORDER BY month, source_file, source_line
