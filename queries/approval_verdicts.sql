-- One 承認要件 verdict per hospital and fiscal year, from `approval_requirements.sql`:
--   not_met   some requirement is not met
--   unknown   none is not met, and some is unknown (a fact not given)
--   met       every requirement is met
SELECT
    hospital_code, fiscal_year,
    CASE
        WHEN BOOL_OR(NOT met) THEN 'not_met'
        WHEN BOOL_OR(met IS NULL) THEN 'unknown'
        ELSE 'met'
    END AS verdict
FROM approval_requirements
GROUP BY hospital_code, fiscal_year
ORDER BY hospital_code, fiscal_year
