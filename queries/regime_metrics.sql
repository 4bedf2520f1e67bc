-- Numerator and denominator of every regime metric, per hospital and period.
--
-- Inputs: `period_counts`, and `regime_signs`, built from the regime YAML files: one row per
-- regime and metric (regime_id, metric) with, for every count, `numerator_<count>` and
-- `denominator_<count>`: 1 when that side of the line adds the count, −1 when it subtracts it,
-- 0 when it does not use it (a regime names a count at most once on a side). A count that is
-- NULL (not reported) makes every side that uses it NULL, i.e. "not computable": the NULL
-- carries through the sum. An unused count adds 0 whatever its value.
--
-- A count may be an interval (a masked reported count, from the count to its `…_high`): each
-- side is then an interval too, from its lowest possible value (`numerator`, `denominator`:
-- the counts it adds at their lowest, those it subtracts at their highest) to its highest
-- (`numerator_high`, `denominator_high`: the reverse). For exact counts both are the same.
--
-- Every period meets every regime metric (a few rows) and each side is a sum across the row:
-- nothing is grouped. The same sums taken over a row per count and side, grouped back by
-- hospital, period, regime, metric and side, took about 100 ms per 10,000 periods, most of a
-- year-end forecast (docs/BENCHMARKS.md, 2026-12-07).
WITH sides AS (
    SELECT
        c.hospital_code, c.period_kind, c.period, t.regime_id, t.metric,
          CASE t.numerator_first_visits WHEN 1 THEN c.first_visits WHEN -1 THEN -c.first_visits_high ELSE 0 END
        + CASE t.numerator_ambulance_first_visits WHEN 1 THEN c.ambulance_first_visits WHEN -1 THEN -c.ambulance_first_visits_high ELSE 0 END
        + CASE t.numerator_after_hours_first_visits WHEN 1 THEN c.after_hours_first_visits WHEN -1 THEN -c.after_hours_first_visits_high ELSE 0 END
        + CASE t.numerator_checkup_first_visits WHEN 1 THEN c.checkup_first_visits WHEN -1 THEN -c.checkup_first_visits_high ELSE 0 END
        + CASE t.numerator_initial_patients WHEN 1 THEN c.initial_patients WHEN -1 THEN -c.initial_patients_high ELSE 0 END
        + CASE t.numerator_referred_patients WHEN 1 THEN c.referred_patients WHEN -1 THEN -c.referred_patients_high ELSE 0 END
        + CASE t.numerator_reverse_referred_patients WHEN 1 THEN c.reverse_referred_patients WHEN -1 THEN -c.reverse_referred_patients_high ELSE 0 END
        + CASE t.numerator_return_visits WHEN 1 THEN c.return_visits WHEN -1 THEN -c.return_visits_high ELSE 0 END
        + CASE t.numerator_emergency_patients WHEN 1 THEN c.emergency_patients WHEN -1 THEN -c.emergency_patients_high ELSE 0 END
        AS numerator,
          CASE t.denominator_first_visits WHEN 1 THEN c.first_visits WHEN -1 THEN -c.first_visits_high ELSE 0 END
        + CASE t.denominator_ambulance_first_visits WHEN 1 THEN c.ambulance_first_visits WHEN -1 THEN -c.ambulance_first_visits_high ELSE 0 END
        + CASE t.denominator_after_hours_first_visits WHEN 1 THEN c.after_hours_first_visits WHEN -1 THEN -c.after_hours_first_visits_high ELSE 0 END
        + CASE t.denominator_checkup_first_visits WHEN 1 THEN c.checkup_first_visits WHEN -1 THEN -c.checkup_first_visits_high ELSE 0 END
        + CASE t.denominator_initial_patients WHEN 1 THEN c.initial_patients WHEN -1 THEN -c.initial_patients_high ELSE 0 END
        + CASE t.denominator_referred_patients WHEN 1 THEN c.referred_patients WHEN -1 THEN -c.referred_patients_high ELSE 0 END
        + CASE t.denominator_reverse_referred_patients WHEN 1 THEN c.reverse_referred_patients WHEN -1 THEN -c.reverse_referred_patients_high ELSE 0 END
        + CASE t.denominator_return_visits WHEN 1 THEN c.return_visits WHEN -1 THEN -c.return_visits_high ELSE 0 END
        + CASE t.denominator_emergency_patients WHEN 1 THEN c.emergency_patients WHEN -1 THEN -c.emergency_patients_high ELSE 0 END
        AS denominator,
          CASE t.numerator_first_visits WHEN 1 THEN c.first_visits_high WHEN -1 THEN -c.first_visits ELSE 0 END
        + CASE t.numerator_ambulance_first_visits WHEN 1 THEN c.ambulance_first_visits_high WHEN -1 THEN -c.ambulance_first_visits ELSE 0 END
        + CASE t.numerator_after_hours_first_visits WHEN 1 THEN c.after_hours_first_visits_high WHEN -1 THEN -c.after_hours_first_visits ELSE 0 END
        + CASE t.numerator_checkup_first_visits WHEN 1 THEN c.checkup_first_visits_high WHEN -1 THEN -c.checkup_first_visits ELSE 0 END
        + CASE t.numerator_initial_patients WHEN 1 THEN c.initial_patients_high WHEN -1 THEN -c.initial_patients ELSE 0 END
        + CASE t.numerator_referred_patients WHEN 1 THEN c.referred_patients_high WHEN -1 THEN -c.referred_patients ELSE 0 END
        + CASE t.numerator_reverse_referred_patients WHEN 1 THEN c.reverse_referred_patients_high WHEN -1 THEN -c.reverse_referred_patients ELSE 0 END
        + CASE t.numerator_return_visits WHEN 1 THEN c.return_visits_high WHEN -1 THEN -c.return_visits ELSE 0 END
        + CASE t.numerator_emergency_patients WHEN 1 THEN c.emergency_patients_high WHEN -1 THEN -c.emergency_patients ELSE 0 END
        AS numerator_high,
          CASE t.denominator_first_visits WHEN 1 THEN c.first_visits_high WHEN -1 THEN -c.first_visits ELSE 0 END
        + CASE t.denominator_ambulance_first_visits WHEN 1 THEN c.ambulance_first_visits_high WHEN -1 THEN -c.ambulance_first_visits ELSE 0 END
        + CASE t.denominator_after_hours_first_visits WHEN 1 THEN c.after_hours_first_visits_high WHEN -1 THEN -c.after_hours_first_visits ELSE 0 END
        + CASE t.denominator_checkup_first_visits WHEN 1 THEN c.checkup_first_visits_high WHEN -1 THEN -c.checkup_first_visits ELSE 0 END
        + CASE t.denominator_initial_patients WHEN 1 THEN c.initial_patients_high WHEN -1 THEN -c.initial_patients ELSE 0 END
        + CASE t.denominator_referred_patients WHEN 1 THEN c.referred_patients_high WHEN -1 THEN -c.referred_patients ELSE 0 END
        + CASE t.denominator_reverse_referred_patients WHEN 1 THEN c.reverse_referred_patients_high WHEN -1 THEN -c.reverse_referred_patients ELSE 0 END
        + CASE t.denominator_return_visits WHEN 1 THEN c.return_visits_high WHEN -1 THEN -c.return_visits ELSE 0 END
        + CASE t.denominator_emergency_patients WHEN 1 THEN c.emergency_patients_high WHEN -1 THEN -c.emergency_patients ELSE 0 END
        AS denominator_high
    FROM period_counts c
    CROSS JOIN regime_signs t
)
SELECT
    hospital_code, period_kind, period, regime_id, metric,
    numerator, denominator, numerator_high, denominator_high,
    CAST(CASE WHEN numerator IS NULL THEN 1 ELSE 0 END + CASE WHEN denominator IS NULL THEN 1 ELSE 0 END AS BIGINT)
        AS missing_sides
FROM sides
