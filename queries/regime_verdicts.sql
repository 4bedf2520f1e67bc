-- One verdict per hospital, period and regime.
--
-- Input: `regime_conditions_evaluated` (one row per condition). A criterion is met when all
-- its conditions are; the regime passes when any criterion is met. Verdicts:
--   not_computable  a count the regime needs was not reported
--   no_data         a denominator is zero
--   pass / fail     otherwise
-- `on_boundary` flags any rate exactly on any of the regime's thresholds, for review.
WITH criteria AS (
    SELECT
        hospital_code, period_kind, period, regime_id, criterion_id,
        BOOL_AND(met) AS met,
        BOOL_OR(met IS NULL) AS unknown,
        BOOL_OR(missing_count) AS missing_count,
        BOOL_OR(on_line) AS on_line
    FROM regime_conditions_evaluated
    GROUP BY hospital_code, period_kind, period, regime_id, criterion_id
)
SELECT
    hospital_code, period_kind, period, regime_id,
    CASE
        WHEN BOOL_OR(missing_count) THEN 'not_computable'
        WHEN BOOL_OR(unknown) THEN 'no_data'
        WHEN BOOL_OR(met) THEN 'pass'
        ELSE 'fail'
    END AS verdict,
    COALESCE(STRING_AGG(CASE WHEN met AND NOT unknown THEN criterion_id END, ',' ORDER BY criterion_id), '') AS met_criteria,
    BOOL_OR(on_line) AS on_boundary
FROM criteria
GROUP BY hospital_code, period_kind, period, regime_id
ORDER BY hospital_code, period_kind, period, regime_id
