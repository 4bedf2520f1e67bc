-- Monthly counts per hospital (domain.md, "The counts").
--
-- Inputs: `counted_events` (the view of `counted_events.sql`: one row per event with a 0/1
-- column per count; the counting rules live there, not here) and `reported_counts` (counts
-- hospitals reported, for hospital-months without event logs; a count they did not report is
-- NULL). A hospital-month comes from one source or the other, never both (checked at ingest).
-- This query only sums the events' columns per hospital and month and appends the reported
-- months.
WITH event_counts AS (
    SELECT
        hospital_code,
        month,
        SUM(first_visit) AS first_visits,
        SUM(ambulance_first_visit) AS ambulance_first_visits,
        SUM(after_hours_first_visit) AS after_hours_first_visits,
        SUM(checkup_first_visit) AS checkup_first_visits,
        SUM(initial_patient) AS initial_patients,
        SUM(referred_patient) AS referred_patients,
        SUM(reverse_referred_patient) AS reverse_referred_patients,
        SUM(return_visit) AS return_visits,
        SUM(emergency_patient) AS emergency_patients
    FROM counted_events
    GROUP BY hospital_code, month
)
SELECT * FROM event_counts
UNION ALL
SELECT
    hospital_code,
    period AS month,
    first_visits,
    ambulance_first_visits,
    after_hours_first_visits,
    checkup_first_visits,
    initial_patients,
    referred_patients,
    reverse_referred_patients,
    return_visits,
    emergency_patients
FROM reported_counts
WHERE period_kind = 'month'
ORDER BY hospital_code, month
