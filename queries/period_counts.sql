-- Counts summed over longer periods (fiscal year, rolling windows, …).
--
-- Inputs: `monthly_counts` (hospital, month, counts) and `periods` (period_kind, period,
-- month, months_in_period), which lists the months of every period. Only hospitals with at
-- least one month of data in a period get a row; `months_with_data` tells how complete it is.
SELECT
    m.hospital_code,
    p.period_kind,
    p.period,
    MAX(p.months_in_period) AS months_in_period,
    CAST(COUNT(DISTINCT m.month) AS BIGINT) AS months_with_data,
    CAST(SUM(m.first_visits) AS BIGINT) AS first_visits,
    CAST(SUM(m.ambulance_first_visits) AS BIGINT) AS ambulance_first_visits,
    CAST(SUM(m.after_hours_first_visits) AS BIGINT) AS after_hours_first_visits,
    CAST(SUM(m.checkup_first_visits) AS BIGINT) AS checkup_first_visits,
    CAST(SUM(m.initial_patients) AS BIGINT) AS initial_patients,
    CAST(SUM(m.referred_patients) AS BIGINT) AS referred_patients,
    CAST(SUM(m.reverse_referred_patients) AS BIGINT) AS reverse_referred_patients,
    CAST(SUM(m.return_visits) AS BIGINT) AS return_visits,
    CAST(SUM(m.emergency_patients) AS BIGINT) AS emergency_patients
FROM monthly_counts m
JOIN periods p ON p.month = m.month
GROUP BY m.hospital_code, p.period_kind, p.period
ORDER BY m.hospital_code, p.period_kind, p.period
