-- Numerator and denominator of every regime metric, per hospital and period.
--
-- Inputs: `period_counts`, and `regime_terms` (regime_id, metric, side, count_name, sign)
-- built from the regime YAML files: which counts are added (+1) or subtracted (−1) above
-- (side = 'numerator') and below (side = 'denominator') the line. A count that is NULL (not
-- reported) makes the side NULL, i.e. "not computable".
--
-- A count may be an interval (a masked reported count, from the count to its `…_high`): each
-- side is then an interval too, from its lowest possible value (`numerator`, `denominator`)
-- to its highest (`numerator_high`, `denominator_high`). For exact counts both are the same.
WITH long_counts AS (
    SELECT hospital_code, period_kind, period, 'first_visits' AS count_name, first_visits AS value, first_visits_high AS value_high FROM period_counts
    UNION ALL SELECT hospital_code, period_kind, period, 'ambulance_first_visits', ambulance_first_visits, ambulance_first_visits_high FROM period_counts
    UNION ALL SELECT hospital_code, period_kind, period, 'after_hours_first_visits', after_hours_first_visits, after_hours_first_visits_high FROM period_counts
    UNION ALL SELECT hospital_code, period_kind, period, 'checkup_first_visits', checkup_first_visits, checkup_first_visits_high FROM period_counts
    UNION ALL SELECT hospital_code, period_kind, period, 'initial_patients', initial_patients, initial_patients_high FROM period_counts
    UNION ALL SELECT hospital_code, period_kind, period, 'referred_patients', referred_patients, referred_patients_high FROM period_counts
    UNION ALL SELECT hospital_code, period_kind, period, 'reverse_referred_patients', reverse_referred_patients, reverse_referred_patients_high FROM period_counts
    UNION ALL SELECT hospital_code, period_kind, period, 'return_visits', return_visits, return_visits_high FROM period_counts
    UNION ALL SELECT hospital_code, period_kind, period, 'emergency_patients', emergency_patients, emergency_patients_high FROM period_counts
),
sides AS (
    SELECT
        c.hospital_code, c.period_kind, c.period, t.regime_id, t.metric, t.side,
        -- SUM skips NULLs; a missing count must poison the side instead.
        CASE WHEN COUNT(c.value) = COUNT(*) THEN
            SUM(CASE WHEN t.sign > 0 THEN c.value * t.sign ELSE c.value_high * t.sign END)
        END AS value,
        CASE WHEN COUNT(c.value) = COUNT(*) THEN
            SUM(CASE WHEN t.sign > 0 THEN c.value_high * t.sign ELSE c.value * t.sign END)
        END AS value_high
    FROM long_counts c
    JOIN regime_terms t ON t.count_name = c.count_name
    GROUP BY c.hospital_code, c.period_kind, c.period, t.regime_id, t.metric, t.side
)
SELECT
    hospital_code, period_kind, period, regime_id, metric,
    MAX(CASE WHEN side = 'numerator' THEN value END) AS numerator,
    MAX(CASE WHEN side = 'denominator' THEN value END) AS denominator,
    MAX(CASE WHEN side = 'numerator' THEN value_high END) AS numerator_high,
    MAX(CASE WHEN side = 'denominator' THEN value_high END) AS denominator_high,
    CAST(COUNT(CASE WHEN value IS NULL THEN 1 END) AS BIGINT) AS missing_sides
FROM sides
GROUP BY hospital_code, period_kind, period, regime_id, metric
