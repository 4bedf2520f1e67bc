-- Monthly counts per hospital (domain.md, "The counts").
--
-- Inputs: `event_month_counts` (`event_month_counts.sql`: the sums of the counting rules'
-- columns per hospital-month with event logs, stored at ingest or computed from the events)
-- and `reported_counts` (counts hospitals reported, for hospital-months without event logs; a
-- count they did not report is NULL). A hospital-month comes from one source or the other,
-- never both (checked at ingest). This query only appends the reported months to the event
-- months. Each count has its upper bound beside it (`…_high`): an event count is exact (the
-- bound is the count); a reported count the source masked (外来機能報告's `*`) is known only
-- as the interval from the count to its bound.
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
FROM event_month_counts e
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
