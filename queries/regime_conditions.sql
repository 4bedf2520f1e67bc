-- Every criterion condition evaluated exactly, with integers only.
--
-- Inputs: `regime_metrics` and `regime_conditions` (regime_id, criterion_id, metric, op,
-- threshold_num, threshold_den, scale) from the regime YAML files. A rate r = n / d × scale
-- meets "r ≥ p/q" exactly when n × scale × q ≥ p × d (no floating point, so 29.96 ‰ never
-- passes "≥ 30 ‰"). The products are taken in DECIMAL(38, 0): in Int64 an absurd count could
-- wrap around and flip a verdict (counts are also bounded at ingest).
--
-- When a count is masked, n and d are intervals (`regime_metrics.sql`): the condition is met
-- only if it holds at the lowest numerator and the highest denominator, not met only if it
-- fails at the highest numerator and the lowest denominator; otherwise it is `undetermined`.
-- For exact counts the two tests are the same test.
--   met            true / false; NULL when unknown or undetermined
--   unknown        a count is missing, or the denominator is zero whatever a mask hides
--   undetermined   computable, but the values a mask hides decide it (or the denominator
--                  may be zero)
--   on_line        the rate equals the threshold exactly (exact counts only)
--   missing_count  a count the metric needs was not reported
WITH bounds AS (
    SELECT
        m.hospital_code, m.period_kind, m.period, c.regime_id, c.criterion_id, c.condition_index,
        c.metric, c.op, c.threshold_num, c.threshold_den,
        m.numerator, m.denominator, m.numerator_high, m.denominator_high,
        m.missing_sides > 0 AS missing_count,
        m.missing_sides > 0 OR m.denominator_high IS NULL OR m.denominator_high <= 0 AS unknown,
        -- n × scale × q − p × d at its lowest and at its highest
        CAST(m.numerator AS DECIMAL(38, 0)) * c.scale * c.threshold_den
            - CAST(c.threshold_num AS DECIMAL(38, 0)) * m.denominator_high AS lowest,
        CAST(m.numerator_high AS DECIMAL(38, 0)) * c.scale * c.threshold_den
            - CAST(c.threshold_num AS DECIMAL(38, 0)) * m.denominator AS highest
    FROM regime_metrics m
    JOIN regime_conditions c ON c.regime_id = m.regime_id AND c.metric = m.metric
),
decided AS (
    SELECT
        *,
        CASE
            WHEN unknown OR denominator <= 0 THEN NULL
            WHEN op = '>=' AND lowest >= 0 THEN true
            WHEN op = '>=' AND highest < 0 THEN false
            WHEN op = '>' AND lowest > 0 THEN true
            WHEN op = '>' AND highest <= 0 THEN false
        END AS met
    FROM bounds
)
SELECT
    hospital_code, period_kind, period, regime_id, criterion_id, condition_index,
    metric, op, threshold_num, threshold_den,
    numerator, denominator,
    met,
    unknown,
    NOT unknown AND met IS NULL AS undetermined,
    COALESCE(NOT unknown AND lowest = 0 AND highest = 0, false) AS on_line,
    missing_count
FROM decided
