-- The counting rules (domain.md, "The counts"), written once: one row per event of `events`
-- with, for every count, 1 when the event counts in it and 0 otherwise. Registered by the
-- engine as the view `counted_events` (planned into each query that reads it, never stored);
-- `monthly_counts.sql`, `department_breakdown.sql` and `partner_breakdown.sql` only sum its
-- columns, so a rule changes here or nowhere.
--
-- Input: `events` (one row per valid input row; exact duplicates were rejected at ingest).
--
--   first_visit               a first-visit record (初診)
--   ambulance_first_visit     a first visit brought by ambulance
--   after_hours_first_visit   a first visit seen as a holiday/night emergency
--   checkup_first_visit       a first visit after a health checkup here
--   initial_patient           a first visit in none of the three groups above (a record in two
--                             groups leaves once: it is one row)
--   referred_patient          an initial patient with a referral letter from an institution
--                             not related to the founder
--   reverse_referred_patient  a referral out to an institution not related to the founder
--                             (any patient, not only first visits)
--   return_visit              a return visit neither by ambulance nor a holiday/night emergency
--   emergency_patient         a first visit brought by ambulance (救急患者数)
--
-- The event's keys are kept for the queries that group by them (`partner_related` so that
-- the partner breakdown can leave related partners out entirely, `source_file` and
-- `source_line` to trace a count back to its input line), and its fields for `explain.sql`,
-- which lists each record with how it counted (a view: a query reads only what it selects).
WITH classified AS (
    SELECT
        hospital_code,
        month,
        department,
        partner_code,
        partner_related,
        event_type,
        source_file,
        source_line,
        event_date,
        patient_key,
        referral_letter,
        ambulance,
        after_hours_emergency,
        checkup_origin,
        event_type = 'first_visit' AS first_visit,
        event_type = 'first_visit' AND ambulance AS ambulance_first_visit,
        event_type = 'first_visit' AND after_hours_emergency AS after_hours_first_visit,
        event_type = 'first_visit' AND checkup_origin AS checkup_first_visit,
        event_type = 'first_visit' AND NOT (ambulance OR after_hours_emergency OR checkup_origin)
            AS initial_patient,
        referral_letter AND NOT partner_related AS letter_from_unrelated,
        event_type = 'referral_out' AND NOT partner_related AS reverse_referred_patient,
        event_type = 'return_visit' AND NOT (ambulance OR after_hours_emergency) AS return_visit,
        event_type = 'first_visit' AND ambulance AS emergency_patient
    FROM events
)
SELECT
    hospital_code,
    month,
    department,
    partner_code,
    partner_related,
    event_type,
    source_file,
    source_line,
    event_date,
    patient_key,
    referral_letter,
    ambulance,
    after_hours_emergency,
    checkup_origin,
    CAST(first_visit AS BIGINT) AS first_visit,
    CAST(ambulance_first_visit AS BIGINT) AS ambulance_first_visit,
    CAST(after_hours_first_visit AS BIGINT) AS after_hours_first_visit,
    CAST(checkup_first_visit AS BIGINT) AS checkup_first_visit,
    CAST(initial_patient AS BIGINT) AS initial_patient,
    CAST(initial_patient AND letter_from_unrelated AS BIGINT) AS referred_patient,
    CAST(reverse_referred_patient AS BIGINT) AS reverse_referred_patient,
    CAST(return_visit AS BIGINT) AS return_visit,
    CAST(emergency_patient AS BIGINT) AS emergency_patient
FROM classified
