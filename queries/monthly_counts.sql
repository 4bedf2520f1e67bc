-- Monthly counts per hospital (domain.md, "The counts").
--
-- Inputs: `counted_events` (the view of `counted_events.sql`: one row per event with a 0/1
-- column per count; the counting rules live there, not here) and `reported_counts` (counts
-- hospitals reported, for hospital-months without event logs; a count they did not report is
-- NULL). A hospital-month comes from one source or the other, never both (checked at ingest).
-- This query only sums the events' columns per hospital and month and appends the reported
-- months. Each count has its upper bound beside it (`…_high`): an event count is exact (the
-- bound is the count); a reported count the source masked (外来機能報告's `*`) is known only
-- as the interval from the count to its bound.
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
SELECT
    e.*,
    e.first_visits AS first_visits_high,
    e.ambulance_first_visits AS ambulance_first_visits_high,
    e.after_hours_first_visits AS after_hours_first_visits_high,
    e.checkup_first_visits AS checkup_first_visits_high,
    e.initial_patients AS initial_patients_high,
    e.referred_patients AS referred_patients_high,
    e.reverse_referred_patients AS reverse_referred_patients_high,
    e.return_visits AS return_visits_high,
    e.emergency_patients AS emergency_patients_high
FROM event_counts e
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
    emergency_patients,
    first_visits_high,
    ambulance_first_visits_high,
    after_hours_first_visits_high,
    checkup_first_visits_high,
    initial_patients_high,
    referred_patients_high,
    reverse_referred_patients_high,
    return_visits_high,
    emergency_patients_high
FROM reported_counts
WHERE period_kind = 'month'
ORDER BY hospital_code, month
