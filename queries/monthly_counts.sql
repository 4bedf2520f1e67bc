-- Monthly counts per hospital (domain.md, "The counts").
--
-- Inputs: `events` (one row per valid input row; exact duplicates were rejected at ingest) and
-- `reported_counts` (counts hospitals reported, for hospital-months without event logs; a
-- count they did not report is NULL). A hospital-month comes from one source or the other,
-- never both (checked at ingest).
--
-- A first visit leaves `initial_patients` when it is in at least one of the three exclusion
-- groups (ambulance, holiday/night emergency, checkup), counted once even if in two.
-- `referred_patients` are initial patients with a referral letter from an institution not
-- related to the founder; `reverse_referred_patients` are referrals out to unrelated
-- institutions; `return_visits` exclude ambulance and holiday/night emergencies;
-- `emergency_patients` are first visits brought by ambulance.
WITH event_counts AS (
    SELECT
        hospital_code,
        month,
        CAST(SUM(CASE WHEN event_type = 'first_visit' THEN 1 ELSE 0 END) AS BIGINT)
            AS first_visits,
        CAST(SUM(CASE WHEN event_type = 'first_visit' AND ambulance THEN 1 ELSE 0 END) AS BIGINT)
            AS ambulance_first_visits,
        CAST(SUM(CASE WHEN event_type = 'first_visit' AND after_hours_emergency THEN 1 ELSE 0 END) AS BIGINT)
            AS after_hours_first_visits,
        CAST(SUM(CASE WHEN event_type = 'first_visit' AND checkup_origin THEN 1 ELSE 0 END) AS BIGINT)
            AS checkup_first_visits,
        CAST(SUM(CASE WHEN event_type = 'first_visit'
                       AND NOT (ambulance OR after_hours_emergency OR checkup_origin)
                      THEN 1 ELSE 0 END) AS BIGINT)
            AS initial_patients,
        CAST(SUM(CASE WHEN event_type = 'first_visit'
                       AND NOT (ambulance OR after_hours_emergency OR checkup_origin)
                       AND referral_letter AND NOT partner_related
                      THEN 1 ELSE 0 END) AS BIGINT)
            AS referred_patients,
        CAST(SUM(CASE WHEN event_type = 'referral_out' AND NOT partner_related THEN 1 ELSE 0 END) AS BIGINT)
            AS reverse_referred_patients,
        CAST(SUM(CASE WHEN event_type = 'return_visit'
                       AND NOT (ambulance OR after_hours_emergency)
                      THEN 1 ELSE 0 END) AS BIGINT)
            AS return_visits,
        CAST(SUM(CASE WHEN event_type = 'first_visit' AND ambulance THEN 1 ELSE 0 END) AS BIGINT)
            AS emergency_patients
    FROM events
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
