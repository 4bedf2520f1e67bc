-- Every criterion condition evaluated exactly, with integers only.
--
-- Inputs: `regime_metrics` and `regime_conditions` (regime_id, criterion_id, metric, op,
-- threshold_num, threshold_den, scale) from the regime YAML files. A rate r = n / d × scale
-- meets "r ≥ p/q" exactly when n × scale × q ≥ p × d (no floating point, so 29.96 ‰ never
-- passes "≥ 30 ‰"). `met` is NULL when the denominator is zero or a count is missing;
-- `on_line` is true when the rate equals the threshold exactly. The products are taken in
-- DECIMAL(38, 0): in Int64 an absurd count could wrap around and flip a verdict (counts are
-- also bounded at ingest).
SELECT
    m.hospital_code, m.period_kind, m.period, c.regime_id, c.criterion_id, c.condition_index,
    c.metric, c.op, c.threshold_num, c.threshold_den,
    m.numerator, m.denominator,
    CASE
        WHEN m.missing_sides > 0 OR m.denominator IS NULL OR m.denominator <= 0 THEN NULL
        WHEN c.op = '>=' THEN CAST(m.numerator AS DECIMAL(38, 0)) * c.scale * c.threshold_den >= CAST(c.threshold_num AS DECIMAL(38, 0)) * m.denominator
        WHEN c.op = '>' THEN CAST(m.numerator AS DECIMAL(38, 0)) * c.scale * c.threshold_den > CAST(c.threshold_num AS DECIMAL(38, 0)) * m.denominator
    END AS met,
    COALESCE(
        m.missing_sides = 0 AND m.denominator > 0
        AND CAST(m.numerator AS DECIMAL(38, 0)) * c.scale * c.threshold_den = CAST(c.threshold_num AS DECIMAL(38, 0)) * m.denominator,
        false) AS on_line,
    m.missing_sides > 0 AS missing_count
FROM regime_metrics m
JOIN regime_conditions c ON c.regime_id = m.regime_id AND c.metric = m.metric
