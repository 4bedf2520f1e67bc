-- Counts per department (診療科別) and fiscal year, for the hospital's own page.
--
-- Inputs: `counted_events` (the view of `counted_events.sql`: one row per event with a 0/1
-- column per count; the counting rules live there, not here), and `fiscal_months` (month,
-- fiscal_year, same_month_prev_year) built from the calendar by the engine. This query only
-- sums the events' columns per department and fiscal year. `first_visits` (all first visits)
-- is kept so a reviewer can see what was excluded.
-- The events are summed per month first, and the months then per fiscal year: the join to
-- `fiscal_months` is made on the few monthly rows instead of on every event.
WITH by_month AS (
    SELECT
        hospital_code,
        month,
        department,
        SUM(first_visit) AS first_visits,
        SUM(initial_patient) AS initial_patients,
        SUM(referred_patient) AS referred_patients,
        SUM(reverse_referred_patient) AS reverse_referred_patients
    FROM counted_events
    GROUP BY hospital_code, month, department
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
