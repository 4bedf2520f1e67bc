-- Referrals from and reverse referrals to each partner institution, per fiscal year, with
-- the referrals of the same months of the previous fiscal year (紹介が減った連携先).
--
-- Inputs: `partner_months` (the view of `partner_months.sql`: referrals and reverse
-- referrals per hospital, month and partner, the partner rows of `month_breakdowns.sql`, where
-- it is decided which events count for a partner; partner_code NULL for the events that count
-- for no partner), read once; `partner_hospital_months` (the result of
-- `partner_hospital_months.sql`: the hospital-months with partner sums); and
-- `fiscal_months` (month, fiscal_year, same_month_prev_year). Related partners and rows
-- without a partner code are left out entirely: they never count, and they get no row.
--
-- The comparison uses only the "compared months": months of the fiscal year in which the
-- hospital has data and also had data twelve months earlier. `referred_compared` and
-- `referred_previous` are both summed over exactly those months, so a month missing on
-- either side cannot look like a fall.
--
-- Each partner row of a month is read once: it is joined to its roles, a row per fiscal year
-- the month counts for (`month_roles`): its own fiscal year (whole-year sums, and the compared
-- sum if the month is compared), and the next fiscal year if the same month of that year is a
-- compared month (the previous-year sum). A month counts for at most those two years, which
-- differ, so no referral is counted twice in a row of the result. The partner rows stream
-- through one join and one grouping: nothing holds a row per hospital, month and partner (with
-- hundreds of partners per hospital, materialising them made the run's peak).
WITH hospital_months AS (
    SELECT hospital_code, month FROM partner_hospital_months
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
month_roles AS (
    SELECT h.hospital_code, h.month, f.fiscal_year,
           1 AS in_year,
           CASE WHEN c.month IS NULL THEN 0 ELSE 1 END AS in_compared,
           0 AS in_previous
    FROM hospital_months h
    JOIN fiscal_months f ON f.month = h.month
    LEFT JOIN compared_months c ON c.hospital_code = h.hospital_code AND c.month = h.month
    UNION ALL
    SELECT hospital_code, same_month_prev_year AS month, fiscal_year,
           0 AS in_year, 0 AS in_compared, 1 AS in_previous
    FROM compared_months
),
sums AS (
    SELECT p.hospital_code, r.fiscal_year, p.partner_code,
           SUM(p.referred * r.in_year) AS referred,
           SUM(p.reverse * r.in_year) AS reverse,
           SUM(p.referred * r.in_compared) AS referred_compared,
           SUM(p.referred * r.in_previous) AS referred_previous
    FROM partner_months p
    JOIN month_roles r ON r.hospital_code = p.hospital_code AND r.month = p.month
    WHERE p.partner_code IS NOT NULL
    GROUP BY p.hospital_code, r.fiscal_year, p.partner_code
)
SELECT
    s.hospital_code,
    s.fiscal_year,
    s.partner_code,
    CAST(COALESCE(s.referred, 0) AS BIGINT) AS referred_patients,
    CAST(COALESCE(s.reverse, 0) AS BIGINT) AS reverse_referred_patients,
    CAST(COALESCE(s.referred_compared, 0) AS BIGINT) AS referred_compared,
    CAST(COALESCE(s.referred_previous, 0) AS BIGINT) AS referred_previous,
    CAST(COALESCE(n.compared_months, 0) AS BIGINT) AS compared_months
FROM sums s
LEFT JOIN compared_count n
  ON n.hospital_code = s.hospital_code AND n.fiscal_year = s.fiscal_year
ORDER BY s.hospital_code, s.fiscal_year, s.partner_code
