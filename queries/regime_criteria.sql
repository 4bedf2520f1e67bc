-- One row per hospital, period, regime and criterion: whether the criterion is met. This is
-- the one place "criterion met" is decided; `regime_verdicts.sql` and the Rust side
-- (`Results::criteria`) read it and do not decide it again.
--
-- Input: `regime_conditions_evaluated` (one row per condition, from `regime_conditions.sql`).
-- A criterion is met when all its conditions are met.
--   met            true / false; NULL when any condition is unknown (a missing count or a zero
--                  denominator): unknown is never shown as met, nor as not met
--   unknown        some condition could not be evaluated
--   missing_count  some condition needs a count that was not reported
--   on_line        some condition's rate is exactly on its threshold (for review)
SELECT
    hospital_code, period_kind, period, regime_id, criterion_id,
    CASE WHEN BOOL_OR(met IS NULL) THEN NULL ELSE BOOL_AND(met) END AS met,
    BOOL_OR(met IS NULL) AS unknown,
    BOOL_OR(missing_count) AS missing_count,
    BOOL_OR(on_line) AS on_line
FROM regime_conditions_evaluated
GROUP BY hospital_code, period_kind, period, regime_id, criterion_id
ORDER BY hospital_code, period_kind, period, regime_id, criterion_id
