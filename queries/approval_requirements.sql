-- The approval requirements of a 地域医療支援病院 besides the referral rates (救急, 研修,
-- 病床数, 共同利用), and the referral criteria as one requirement, per hospital and fiscal year.
--
-- Inputs:
--   approval_facts       (hospital_code, fiscal_year, fact, value): the facts given; a fact
--                        not given has no row
--   approval_conditions  (requirement_id, condition_index, fact, per_fact, op, threshold_num,
--                        threshold_den, scale) from `rules/approval/*.yaml`
--   approval_regimes     (requirement_id, regime_id): requirements met when a regime passes
--   regime_verdicts      (from `regime_verdicts.sql`)
-- Which hospital-years: every fiscal year some fact is given for, and in it every hospital
-- with facts or with a fiscal-year verdict of a required regime.
--
-- A condition is compared exactly with integers: `fact ≥ p/q` is `fact × q ≥ p`; a share
-- `fact ÷ per × scale ≥ p/q` is `fact × scale × q ≥ p × per`. A fact not given (or a per of
-- 0) makes the condition unknown. A requirement is met when any of its conditions is met;
-- unknown when none is and one is unknown; otherwise not met. A regime requirement is met
-- on `pass`, not met on `fail`, unknown otherwise (no data, a count missing, undetermined).
WITH years AS (
    SELECT DISTINCT fiscal_year FROM approval_facts
),
scope AS (
    SELECT DISTINCT hospital_code, fiscal_year FROM approval_facts
    UNION
    -- Compared as text: the verdicts of months and windows (`2025-04..2025-09`) are no years.
    SELECT DISTINCT v.hospital_code, TRY_CAST(v.period AS BIGINT) AS fiscal_year
    FROM regime_verdicts v
    JOIN approval_regimes r ON r.regime_id = v.regime_id
    WHERE v.period_kind = 'fiscal-year' AND v.period IN (SELECT CAST(fiscal_year AS VARCHAR) FROM years)
),
conditions AS (
    SELECT
        s.hospital_code, s.fiscal_year, c.requirement_id, c.condition_index, c.op,
        c.threshold_num, c.threshold_den, c.scale, c.per_fact,
        f.value AS value, g.value AS per_value
    FROM scope s
    CROSS JOIN approval_conditions c
    LEFT JOIN approval_facts f
        ON f.hospital_code = s.hospital_code AND f.fiscal_year = s.fiscal_year AND f.fact = c.fact
    LEFT JOIN approval_facts g
        ON g.hospital_code = s.hospital_code AND g.fiscal_year = s.fiscal_year AND g.fact = c.per_fact
),
evaluated AS (
    SELECT
        hospital_code, fiscal_year, requirement_id,
        CASE
            WHEN value IS NULL THEN NULL
            WHEN per_fact IS NOT NULL AND (per_value IS NULL OR per_value <= 0) THEN NULL
            WHEN op = 'yes' THEN value = 1
            WHEN per_fact IS NULL AND op = '>=' THEN
                CAST(value AS DECIMAL(38, 0)) * threshold_den >= CAST(threshold_num AS DECIMAL(38, 0))
            WHEN per_fact IS NULL AND op = '>' THEN
                CAST(value AS DECIMAL(38, 0)) * threshold_den > CAST(threshold_num AS DECIMAL(38, 0))
            WHEN op = '>=' THEN
                CAST(value AS DECIMAL(38, 0)) * scale * threshold_den >= CAST(threshold_num AS DECIMAL(38, 0)) * per_value
            WHEN op = '>' THEN
                CAST(value AS DECIMAL(38, 0)) * scale * threshold_den > CAST(threshold_num AS DECIMAL(38, 0)) * per_value
        END AS met
    FROM conditions
),
from_facts AS (
    SELECT
        hospital_code, fiscal_year, requirement_id,
        CASE WHEN BOOL_OR(met) THEN true WHEN BOOL_OR(met IS NULL) THEN NULL ELSE false END AS met
    FROM evaluated
    GROUP BY hospital_code, fiscal_year, requirement_id
),
from_regimes AS (
    SELECT
        s.hospital_code, s.fiscal_year, r.requirement_id,
        CASE v.verdict WHEN 'pass' THEN true WHEN 'fail' THEN false END AS met
    FROM scope s
    CROSS JOIN approval_regimes r
    LEFT JOIN regime_verdicts v
        ON v.hospital_code = s.hospital_code AND v.regime_id = r.regime_id
        AND v.period_kind = 'fiscal-year' AND v.period = CAST(s.fiscal_year AS VARCHAR)
)
SELECT hospital_code, fiscal_year, requirement_id, met FROM from_facts
UNION ALL
SELECT hospital_code, fiscal_year, requirement_id, met FROM from_regimes
ORDER BY hospital_code, fiscal_year, requirement_id
