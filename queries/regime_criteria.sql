-- One row per hospital, period, regime and criterion: whether the criterion is met. This is
-- the one place "criterion met" is decided; `regime_verdicts.sql` and the Rust side
-- (`Results::criteria`) read it and do not decide it again.
--
-- Input: `regime_conditions_evaluated` (one row per condition, from `regime_conditions.sql`).
-- A criterion is met when all its conditions are met.
--   met            true / false; NULL when any condition is unknown (a missing count or a zero
--                  denominator): unknown is never shown as met, nor as not met; NULL also when
--                  it is undetermined
--   unknown        some condition could not be evaluated
--   undetermined   no condition is unknown or certainly not met, and some depend on the
--                  values a mask hides
--   missing_count  some condition needs a count that was not reported
--   on_line        some condition's rate is exactly on its threshold (for review)
SELECT
    hospital_code, period_kind, period, regime_id, criterion_id,
    CASE
        WHEN BOOL_OR(unknown) THEN NULL
        WHEN BOOL_OR(NOT met) THEN false
        WHEN BOOL_OR(undetermined) THEN NULL
        ELSE true
    END AS met,
    BOOL_OR(unknown) AS unknown,
    NOT BOOL_OR(unknown) AND NOT COALESCE(BOOL_OR(NOT met), false) AND BOOL_OR(undetermined) AS undetermined,
    BOOL_OR(missing_count) AS missing_count,
    BOOL_OR(on_line) AS on_line
FROM regime_conditions_evaluated
GROUP BY hospital_code, period_kind, period, regime_id, criterion_id
ORDER BY hospital_code, period_kind, period, regime_id, criterion_id
