-- Referrals from and reverse referrals to each partner institution, per hospital and month:
-- what `partner_breakdown.sql` needs, registered by the engine as the table `partner_months`
-- (the breakdown reads it several times).
--
-- Input: `month_breakdowns` (the result of `month_breakdowns.sql`, stored per month or read
-- over the events; the counting rules and which events count for a partner live there): its
-- partner rows. partner_code NULL only records that the hospital had data that month.
SELECT
    hospital_code,
    month,
    partner_code,
    referred_patients AS referred,
    reverse_referred_patients AS reverse
FROM month_breakdowns
WHERE breakdown = 'partner'
