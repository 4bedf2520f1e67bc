-- One verdict per hospital, period and regime.
--
-- Input: `regime_criteria` (one row per criterion, from `regime_criteria.sql`, where
-- "criterion met" is decided). The regime passes when any criterion is met. Verdicts:
--   not_computable  a count the regime needs was not reported
--   no_data         a denominator is zero
--   pass            some criterion is met (whatever a mask hides)
--   undetermined    none is met for certain, and whether one is depends on masked counts
--   fail            otherwise: no criterion is met, whatever a mask hides
-- `on_boundary` flags any rate exactly on any of the regime's thresholds, for review. Which
-- criteria are met is read from `regime_criteria` itself (`Results::criteria`): listing them
-- here took an ordered STRING_AGG per group, 2 s and 0.5 GB at 700 hospitals × 36 months.
SELECT
    hospital_code, period_kind, period, regime_id,
    CASE
        WHEN BOOL_OR(missing_count) THEN 'not_computable'
        WHEN BOOL_OR(unknown) THEN 'no_data'
        WHEN BOOL_OR(met) THEN 'pass'
        WHEN BOOL_OR(undetermined) THEN 'undetermined'
        ELSE 'fail'
    END AS verdict,
    BOOL_OR(on_line) AS on_boundary
FROM regime_criteria
GROUP BY hospital_code, period_kind, period, regime_id
ORDER BY hospital_code, period_kind, period, regime_id
