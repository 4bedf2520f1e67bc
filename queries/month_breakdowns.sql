-- The sums behind the hospital page's breakdowns, per hospital and month: one row per
-- department (breakdown = 'department') and one per partner institution (breakdown =
-- 'partner'). A run computes them from the month files it writes and stores them beside
-- them (`breakdowns/month=YYYY-MM/`), so the pages of a later run sum the stored months
-- instead of every event again; without stored sums the engine reads this query as a view
-- over all the events. `department_breakdown.sql` and `partner_months.sql` read only this.
--
-- Input: `counted_events` (the view of `counted_events.sql`: one row per event with a 0/1
-- column per count; the counting rules live there, not here). A department row sums the
-- department's events; `first_visits` (all first visits) is kept so a reviewer can see what
-- was excluded. A partner row sums the referrals (`referred_patient`) and reverse referrals
-- (`reverse_referred_patient`) of one partner; events with no partner code or with a related
-- partner never count for a partner: they are summed under partner_code NULL, which only
-- records that the hospital had data that month. The side a row is not of is NULL, as text
-- (`arrow_cast(NULL, 'Utf8')`: the stored table's type; a VARCHAR would be another string type).
SELECT
    hospital_code,
    month,
    'department' AS breakdown,
    department,
    arrow_cast(NULL, 'Utf8') AS partner_code,
    SUM(first_visit) AS first_visits,
    SUM(initial_patient) AS initial_patients,
    SUM(referred_patient) AS referred_patients,
    SUM(reverse_referred_patient) AS reverse_referred_patients
FROM counted_events
GROUP BY hospital_code, month, department
UNION ALL
SELECT
    hospital_code,
    month,
    'partner' AS breakdown,
    arrow_cast(NULL, 'Utf8') AS department,
    CASE
        WHEN partner_code IS NOT NULL AND partner_code <> '' AND NOT partner_related THEN partner_code
    END AS partner_code,
    SUM(first_visit) AS first_visits,
    SUM(initial_patient) AS initial_patients,
    SUM(referred_patient) AS referred_patients,
    SUM(reverse_referred_patient) AS reverse_referred_patients
FROM counted_events
GROUP BY 1, 2, 5
