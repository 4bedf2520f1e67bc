-- Counts per department (診療科別) and fiscal year, for the hospital's own page.
--
-- Inputs: `month_breakdowns` (the result of `month_breakdowns.sql`, stored per month or read
-- over the events: its department rows are the events' counts summed per hospital, month and
-- department; the counting rules live in `counted_events.sql`), and `fiscal_months` (month,
-- fiscal_year, same_month_prev_year) built from the calendar by the engine. This query only
-- sums the months per fiscal year. `first_visits` (all first visits) is kept so a reviewer
-- can see what was excluded.
WITH by_month AS (
    SELECT
        hospital_code,
        month,
        department,
        first_visits,
        initial_patients,
        referred_patients,
        reverse_referred_patients
    FROM month_breakdowns
    WHERE breakdown = 'department'
)
SELECT
    m.hospital_code,
    f.fiscal_year,
    m.department,
    SUM(m.first_visits) AS first_visits,
    SUM(m.initial_patients) AS initial_patients,
    SUM(m.referred_patients) AS referred_patients,
    SUM(m.reverse_referred_patients) AS reverse_referred_patients
FROM by_month m
JOIN fiscal_months f ON f.month = m.month
GROUP BY m.hospital_code, f.fiscal_year, m.department
ORDER BY m.hospital_code, f.fiscal_year, m.department
