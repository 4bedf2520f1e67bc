-- The hospital-months that have partner sums (every month with events has a row, with
-- partner_code NULL when no event counts for a partner): what `partner_breakdown.sql` compares
-- a month with, registered by the engine as the table `partner_hospital_months` (a row per
-- hospital and month, read several times by the breakdown, which reads the partner rows
-- themselves only once).
--
-- Input: `partner_months` (the view of `partner_months.sql`).
SELECT DISTINCT hospital_code, month
FROM partner_months
