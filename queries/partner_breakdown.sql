-- Referrals from and reverse referrals to each partner institution, per fiscal year, with
-- the referrals of the same months of the previous fiscal year (紹介が減った連携先).
--
-- Inputs: `partner_months` (the result of `partner_months.sql`: referrals and reverse
-- referrals per hospital, month and partner, the partner rows of `month_breakdowns.sql`, where
-- it is decided which events count for a partner; partner_code NULL for the events that count
-- for no partner), and
-- `fiscal_months` (month, fiscal_year, same_month_prev_year). Related partners and rows
-- without a partner code are left out entirely: they never count, and they get no row.
--
-- The comparison uses only the "compared months": months of the fiscal year in which the
-- hospital has data and also had data twelve months earlier. `referred_compared` and
-- `referred_previous` are both summed over exactly those months, so a month missing on
-- either side cannot look like a fall.
WITH per_month AS (
    SELECT hospital_code, month, partner_code, referred, reverse
    FROM partner_months
    WHERE partner_code IS NOT NULL
),
hospital_months AS (
    SELECT DISTINCT hospital_code, month FROM partner_months
),
compared_months AS (
    SELECT h.hospital_code, f.fiscal_year, f.month, f.same_month_prev_year
    FROM hospital_months h
    JOIN fiscal_months f ON f.month = h.month
    JOIN hospital_months prev
      ON prev.hospital_code = h.hospital_code AND prev.month = f.same_month_prev_year
),
compared_count AS (
    SELECT hospital_code, fiscal_year, CAST(COUNT(*) AS BIGINT) AS compared_months
    FROM compared_months
    GROUP BY hospital_code, fiscal_year
),
current_year AS (
    SELECT p.hospital_code, f.fiscal_year, p.partner_code,
           SUM(p.referred) AS referred, SUM(p.reverse) AS reverse
    FROM per_month p
    JOIN fiscal_months f ON f.month = p.month
    GROUP BY p.hospital_code, f.fiscal_year, p.partner_code
),
current_compared AS (
    SELECT c.hospital_code, c.fiscal_year, p.partner_code, SUM(p.referred) AS referred
    FROM compared_months c
    JOIN per_month p ON p.hospital_code = c.hospital_code AND p.month = c.month
    GROUP BY c.hospital_code, c.fiscal_year, p.partner_code
),
previous_compared AS (
    SELECT c.hospital_code, c.fiscal_year, p.partner_code, SUM(p.referred) AS referred
    FROM compared_months c
    JOIN per_month p ON p.hospital_code = c.hospital_code AND p.month = c.same_month_prev_year
    GROUP BY c.hospital_code, c.fiscal_year, p.partner_code
),
keys AS (
    SELECT hospital_code, fiscal_year, partner_code FROM current_year
    UNION
    SELECT hospital_code, fiscal_year, partner_code FROM previous_compared
)
SELECT
    k.hospital_code,
    k.fiscal_year,
    k.partner_code,
    CAST(COALESCE(y.referred, 0) AS BIGINT) AS referred_patients,
    CAST(COALESCE(y.reverse, 0) AS BIGINT) AS reverse_referred_patients,
    CAST(COALESCE(cc.referred, 0) AS BIGINT) AS referred_compared,
    CAST(COALESCE(pc.referred, 0) AS BIGINT) AS referred_previous,
    CAST(COALESCE(n.compared_months, 0) AS BIGINT) AS compared_months
FROM keys k
LEFT JOIN current_year y
  ON y.hospital_code = k.hospital_code AND y.fiscal_year = k.fiscal_year AND y.partner_code = k.partner_code
LEFT JOIN current_compared cc
  ON cc.hospital_code = k.hospital_code AND cc.fiscal_year = k.fiscal_year AND cc.partner_code = k.partner_code
LEFT JOIN previous_compared pc
  ON pc.hospital_code = k.hospital_code AND pc.fiscal_year = k.fiscal_year AND pc.partner_code = k.partner_code
LEFT JOIN compared_count n
  ON n.hospital_code = k.hospital_code AND n.fiscal_year = k.fiscal_year
ORDER BY k.hospital_code, k.fiscal_year, k.partner_code
