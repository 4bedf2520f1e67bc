-- Counts per department (診療科別) and fiscal year, for the hospital's own page.
--
-- Inputs: `counted_events` (the view of `counted_events.sql`: one row per event with a 0/1
-- column per count; the counting rules live there, not here), and `fiscal_months` (month,
-- fiscal_year, same_month_prev_year) built from the calendar by the engine. This query only
-- sums the events' columns per department and fiscal year. `first_visits` (all first visits)
-- is kept so a reviewer can see what was excluded.
SELECT
    e.hospital_code,
    f.fiscal_year,
    e.department,
    SUM(e.first_visit) AS first_visits,
    SUM(e.initial_patient) AS initial_patients,
    SUM(e.referred_patient) AS referred_patients,
    SUM(e.reverse_referred_patient) AS reverse_referred_patients
FROM counted_events e
JOIN fiscal_months f ON f.month = e.month
GROUP BY e.hospital_code, f.fiscal_year, e.department
ORDER BY e.hospital_code, f.fiscal_year, e.department
