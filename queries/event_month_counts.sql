-- The counts of each hospital-month with event logs (domain.md, "The counts"): the sums of the
-- 0/1 columns of `counted_events` (the view of `counted_events.sql`, where the counting rules
-- live). One row per hospital and month that has events.
--
-- Computed once when a month is published: `run` stores each partition's counts in the
-- manifest, keyed by this SQL and `counted_events.sql` (a build whose rules differ computes
-- them again from the events), and the engine registers them as the table
-- `event_month_counts`. Without stored counts the engine registers this query as that view.
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
