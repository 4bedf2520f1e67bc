-- Referrals from and reverse referrals to each partner institution, per hospital and month:
-- the one scan of the events that `partner_breakdown.sql` needs, registered by the engine as
-- the table `partner_months` (the breakdown reads it several times; reading the events each
-- time cost a scan of the warehouse per reference).
--
-- Input: `counted_events` (the view of `counted_events.sql`; the counting rules live there). A
-- referral is a `referred_patient`, a reverse referral a `reverse_referred_patient`. Events
-- with no partner code or with a related partner never count for a partner: they are grouped
-- under partner_code NULL, which only records that the hospital had data that month.
SELECT
    hospital_code,
    month,
    CASE
        WHEN partner_code IS NOT NULL AND partner_code <> '' AND NOT partner_related THEN partner_code
    END AS partner_code,
    SUM(referred_patient) AS referred,
    SUM(reverse_referred_patient) AS reverse
FROM counted_events
GROUP BY 1, 2, 3
