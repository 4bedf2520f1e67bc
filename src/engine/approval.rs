//! The approval requirements through their SQL (`queries/approval_requirements.sql`,
//! `queries/approval_verdicts.sql`), over the facts given and the regime verdicts of the same
//! session (run [`Engine::evaluate`] first).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};

use super::{Engine, EngineError, bools, ints, strings, words};
use crate::domain::ApprovalVerdict;
use crate::regimes::{ApprovalRules, Fact, RequirementRule};

const REQUIREMENTS: &str = include_str!("../../queries/approval_requirements.sql");
const VERDICTS: &str = include_str!("../../queries/approval_verdicts.sql");

/// One fact given for a hospital-year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FactValue {
    pub hospital_code: String,
    pub fiscal_year: i32,
    pub fact: Fact,
    pub value: u64,
}

/// One requirement for one hospital-year, as the SQL decides it: `None` = unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequirementMet {
    pub hospital_code: String,
    pub fiscal_year: i32,
    pub requirement_id: String,
    pub met: Option<bool>,
}

/// The overall 承認要件 verdict of a hospital-year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApprovalRow {
    pub hospital_code: String,
    pub fiscal_year: i32,
    pub verdict: ApprovalVerdict,
}

impl Engine {
    /// Each requirement of `rules` and the overall verdict for every hospital-year in scope
    /// (see the SQL). Needs [`Engine::evaluate`] to have run over the fiscal years.
    pub(crate) async fn approval(
        &self,
        rules: &ApprovalRules,
        facts: &[FactValue],
    ) -> Result<(Vec<RequirementMet>, Vec<ApprovalRow>), EngineError> {
        self.register_approval(rules, facts)?;
        const RQ: &str = "approval_requirements.sql";
        let mut requirements = Vec::new();
        for b in &self.run_into(RQ, REQUIREMENTS, "approval_requirements").await? {
            let (h, y, r, met) = (
                strings(b, RQ, "hospital_code")?,
                ints(b, RQ, "fiscal_year")?,
                strings(b, RQ, "requirement_id")?,
                bools(b, RQ, "met")?,
            );
            for i in 0..b.num_rows() {
                requirements.push(RequirementMet {
                    hospital_code: h[i].clone(),
                    fiscal_year: y[i].unwrap_or(0) as i32,
                    requirement_id: r[i].clone(),
                    met: met[i],
                });
            }
        }
        const AV: &str = "approval_verdicts.sql";
        let mut verdicts = Vec::new();
        for b in &self.run(AV, VERDICTS).await? {
            let (h, y, v) = (
                strings(b, AV, "hospital_code")?,
                ints(b, AV, "fiscal_year")?,
                words(b, AV, "verdict", ApprovalVerdict::from_code)?,
            );
            for i in 0..b.num_rows() {
                verdicts.push(ApprovalRow {
                    hospital_code: h[i].clone(),
                    fiscal_year: y[i].unwrap_or(0) as i32,
                    verdict: v[i],
                });
            }
        }
        Ok((requirements, verdicts))
    }

    /// `approval_facts`, `approval_conditions` and `approval_regimes`: the facts and the rules
    /// as tables, so the SQL holds no threshold literals.
    fn register_approval(&self, rules: &ApprovalRules, facts: &[FactValue]) -> Result<(), EngineError> {
        let err = |table: &'static str| {
            move |e: datafusion::arrow::error::ArrowError| EngineError::Register { table, source: e.into() }
        };
        let facts_batch = RecordBatch::try_from_iter(vec![
            (
                "hospital_code",
                Arc::new(StringArray::from_iter_values(facts.iter().map(|f| f.hospital_code.as_str())))
                    as ArrayRef,
            ),
            (
                "fiscal_year",
                Arc::new(Int64Array::from_iter_values(facts.iter().map(|f| i64::from(f.fiscal_year)))),
            ),
            ("fact", Arc::new(StringArray::from_iter_values(facts.iter().map(|f| f.fact.name())))),
            ("value", Arc::new(Int64Array::from_iter_values(facts.iter().map(|f| f.value as i64)))),
        ])
        .map_err(err("approval_facts"))?;
        let (mut id, mut idx, mut fact, mut per, mut op, mut num, mut den, mut scale) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        let (mut regime_req, mut regime_id) = (vec![], vec![]);
        for r in &rules.requirements {
            match &r.rule {
                RequirementRule::Regime(regime) => {
                    regime_req.push(r.id.clone());
                    regime_id.push(regime.clone());
                }
                RequirementRule::AnyOf(conditions) => {
                    for (i, c) in conditions.iter().enumerate() {
                        id.push(r.id.clone());
                        idx.push(i as i64);
                        fact.push(c.fact.name());
                        per.push(c.per.map(Fact::name));
                        op.push(c.op.sql());
                        num.push(c.threshold.numerator as i64);
                        den.push(c.threshold.denominator as i64);
                        scale.push(c.scale as i64);
                    }
                }
            }
        }
        let conditions = RecordBatch::try_from_iter(vec![
            ("requirement_id", Arc::new(StringArray::from(id)) as ArrayRef),
            ("condition_index", Arc::new(Int64Array::from(idx))),
            ("fact", Arc::new(StringArray::from(fact))),
            ("per_fact", Arc::new(StringArray::from(per))),
            ("op", Arc::new(StringArray::from(op))),
            ("threshold_num", Arc::new(Int64Array::from(num))),
            ("threshold_den", Arc::new(Int64Array::from(den))),
            ("scale", Arc::new(Int64Array::from(scale))),
        ])
        .map_err(err("approval_conditions"))?;
        let regimes = RecordBatch::try_from_iter(vec![
            ("requirement_id", Arc::new(StringArray::from(regime_req)) as ArrayRef),
            ("regime_id", Arc::new(StringArray::from(regime_id))),
        ])
        .map_err(err("approval_regimes"))?;
        for (table, batch) in [
            ("approval_facts", facts_batch),
            ("approval_conditions", conditions),
            ("approval_regimes", regimes),
        ] {
            let schema = batch.schema();
            self.register(table, vec![batch], schema)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{ReportedPeriod, ReportedRow};
    use crate::periods::{PeriodKind, calendar};
    use crate::regimes::{DEFAULT_APPROVAL_RULES, Regime, RegimeSet};
    use crate::warehouse::schema;

    fn fy2024(code: &str, initial: u64, referred: u64, reverse: u64) -> ReportedRow {
        ReportedRow {
            hospital_code: code.into(),
            period: ReportedPeriod::FiscalYear(2024),
            counts: [
                ("initial_patients".to_string(), initial),
                ("referred_patients".to_string(), referred),
                ("reverse_referred_patients".to_string(), reverse),
            ]
            .into(),
            masked: Default::default(),
            line: 2,
        }
    }

    fn facts(code: &str, given: &[(Fact, u64)]) -> Vec<FactValue> {
        given
            .iter()
            .map(|(fact, value)| FactValue {
                hospital_code: code.into(),
                fiscal_year: 2024,
                fact: *fact,
                value: *value,
            })
            .collect()
    }

    /// `(hospital, requirement) → met` and `hospital → verdict` for FY2024.
    async fn approve(
        reported: &[ReportedRow],
        given: &[FactValue],
    ) -> (std::collections::BTreeMap<(String, String), Option<bool>>, Vec<(String, &'static str)>) {
        let set = RegimeSet::builtin();
        let regimes: Vec<&Regime> = set.iter().filter(|r| r.id == "chiiki-shien-2014").collect();
        let engine = Engine::for_counts(vec![schema::reported_batch(reported, "t.csv")], &regimes).unwrap();
        engine.monthly_counts().await.unwrap();
        let months = ["2024-04".to_string(), "2025-03".to_string()].into_iter().collect();
        engine.evaluate(&calendar(PeriodKind::FiscalYear, &months)).await.unwrap();
        let rules = ApprovalRules::builtin(DEFAULT_APPROVAL_RULES).unwrap();
        let (met, verdicts) = engine.approval(&rules, given).await.unwrap();
        assert!(met.iter().all(|m| m.fiscal_year == 2024) && verdicts.iter().all(|v| v.fiscal_year == 2024));
        (
            met.into_iter().map(|m| ((m.hospital_code, m.requirement_id), m.met)).collect(),
            verdicts.into_iter().map(|v| (v.hospital_code, v.verdict.code())).collect(),
        )
    }

    #[tokio::test]
    async fn each_threshold_edge_and_missing_facts() {
        use Fact::*;
        let (a, b, c, d) = ("0110113719", "1310123458", "1310123466", "2710123478");
        let mut given = Vec::new();
        // A: exactly 1,000 transports, 12 trainings, 200 beds, shared use: every edge met.
        given.extend(facts(
            a,
            &[(AmbulanceTransports, 1000), (TrainingSessions, 12), (Beds, 200), (SharedUse, 1)],
        ));
        // B: 999 transports but exactly 0.2 % of 499,500 (999 × 100 × 10 = 2 × 499,500); 11
        // trainings, 199 beds, no shared use.
        given.extend(facts(
            b,
            &[
                (AmbulanceTransports, 999),
                (AreaPopulation, 499_500),
                (TrainingSessions, 11),
                (Beds, 199),
                (SharedUse, 0),
            ],
        ));
        // C: 999 transports, just under 0.2 % of 499,501; nothing else given.
        given.extend(facts(c, &[(AmbulanceTransports, 999), (AreaPopulation, 499_501)]));
        // D: has rates but no facts at all.
        let reported = [
            fy2024(a, 1000, 820, 450), // 82.0 %: criterion A → pass
            fy2024(b, 1000, 500, 300), // 50.0 %, 30.0 % → fail
            fy2024(d, 1000, 820, 450),
        ];
        let (met, verdicts) = approve(&reported, &given).await;
        let at = |h: &str, r: &str| met.get(&(h.to_string(), r.to_string())).copied().flatten();
        let row = |h: &str| ["referral", "emergency", "training", "beds", "shared_use"].map(|r| at(h, r));
        assert_eq!(row(a), [Some(true); 5]);
        assert_eq!(row(b), [Some(false), Some(true), Some(false), Some(false), Some(false)]);
        // C: no rates (no verdict) and no facts but the emergency ones: unknown, never met.
        assert_eq!(row(c), [None, Some(false), None, None, None]);
        assert_eq!(met.get(&(c.to_string(), "training".to_string())), Some(&None), "a row, unknown");
        assert_eq!(row(d), [Some(true), None, None, None, None]);
        assert_eq!(
            verdicts,
            [(a, "met"), (b, "not_met"), (c, "not_met"), (d, "unknown")].map(|(h, v)| (h.to_string(), v))
        );
    }

    #[tokio::test]
    async fn a_share_with_no_population_is_unknown_and_a_met_condition_needs_no_other() {
        use Fact::*;
        let code = "0110113719";
        // 1,200 transports meet the first condition; the population is not given.
        let (met, _) = approve(&[], &facts(code, &[(AmbulanceTransports, 1200)])).await;
        assert_eq!(met[&(code.to_string(), "emergency".to_string())], Some(true));
        // 800 transports and no population: the share cannot be computed.
        let (met, _) = approve(&[], &facts(code, &[(AmbulanceTransports, 800)])).await;
        assert_eq!(met[&(code.to_string(), "emergency".to_string())], None);
        // A population of 0 is not a share either.
        let (met, _) = approve(&[], &facts(code, &[(AmbulanceTransports, 800), (AreaPopulation, 0)])).await;
        assert_eq!(met[&(code.to_string(), "emergency".to_string())], None);
    }
}
