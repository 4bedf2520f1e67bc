-- Counts per department (診療科別) and fiscal year, for the hospital's own page.
--
-- Inputs: `events`, and `fiscal_months` (month, fiscal_year, same_month_prev_year) built from
-- the calendar by the engine. The counting rules are those of `monthly_counts.sql`:
--   initial_patients           first visits in none of ambulance / holiday-night / checkup
--   referred_patients          those with a letter from a partner not related to the founder
--   reverse_referred_patients  referrals out to a partner not related to the founder
-- `first_visits` (all first visits) is kept so a reviewer can see what was excluded.
SELECT
    e.hospital_code,
    f.fiscal_year,
    e.department,
    CAST(SUM(CASE WHEN e.event_type = 'first_visit' THEN 1 ELSE 0 END) AS BIGINT)
        AS first_visits,
    CAST(SUM(CASE WHEN e.event_type = 'first_visit'
                   AND NOT (e.ambulance OR e.after_hours_emergency OR e.checkup_origin)
                  THEN 1 ELSE 0 END) AS BIGINT)
        AS initial_patients,
    CAST(SUM(CASE WHEN e.event_type = 'first_visit'
                   AND NOT (e.ambulance OR e.after_hours_emergency OR e.checkup_origin)
                   AND e.referral_letter AND NOT e.partner_related
                  THEN 1 ELSE 0 END) AS BIGINT)
        AS referred_patients,
    CAST(SUM(CASE WHEN e.event_type = 'referral_out' AND NOT e.partner_related THEN 1 ELSE 0 END) AS BIGINT)
        AS reverse_referred_patients
FROM events e
JOIN fiscal_months f ON f.month = e.month
GROUP BY e.hospital_code, f.fiscal_year, e.department
ORDER BY e.hospital_code, f.fiscal_year, e.department
