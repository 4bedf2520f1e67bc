//! The approval requirements as users see them: the engine's decisions
//! (`queries/approval_requirements.sql`) joined with the rules (their names, conditions and
//! sources) and with the facts behind each decision and where each fact came from. Whether a
//! requirement is met is decided by the SQL and only read here.

use std::collections::BTreeMap;

use crate::domain::ApprovalVerdict;
use crate::engine::{ApprovalRow, FactValue, RequirementMet};
use crate::ingest::{FactsRow, Hospital};
use crate::regimes::{ApprovalRules, Fact, RequirementRule};

/// Where a fact came from: a row of the facts table, or the hospital master's beds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FactSource {
    /// The physical line or row of the `approval_facts` file.
    Facts {
        row: u64,
    },
    HospitalMaster,
}

/// Where each fact of a hospital and fiscal year came from.
pub(crate) type FactSources = BTreeMap<(String, i32, Fact), FactSource>;

/// The facts to give the engine, and where each came from. A hospital-year without beds in
/// the facts takes the hospital master's beds, for every fiscal year the facts cover.
pub(crate) fn gather_facts(
    rows: &[FactsRow],
    hospitals: &BTreeMap<String, Hospital>,
) -> (Vec<FactValue>, FactSources) {
    let mut values = Vec::new();
    let mut sources = BTreeMap::new();
    for row in rows {
        for (name, value) in &row.values {
            let Some(fact) = Fact::from_name(name) else { continue };
            values.push(FactValue {
                hospital_code: row.hospital_code.clone(),
                fiscal_year: row.fiscal_year,
                fact,
                value: *value,
            });
            sources.insert(
                (row.hospital_code.clone(), row.fiscal_year, fact),
                FactSource::Facts { row: row.row },
            );
        }
    }
    let years: std::collections::BTreeSet<i32> = rows.iter().map(|r| r.fiscal_year).collect();
    for (code, hospital) in hospitals {
        let Some(beds) = hospital.beds else { continue };
        for year in &years {
            let key = (code.clone(), *year, Fact::Beds);
            if sources.contains_key(&key) {
                continue;
            }
            values.push(FactValue {
                hospital_code: code.clone(),
                fiscal_year: *year,
                fact: Fact::Beds,
                value: u64::from(beds),
            });
            sources.insert(key, FactSource::HospitalMaster);
        }
    }
    (values, sources)
}

/// One requirement of one hospital-year.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct RequirementLine {
    pub id: String,
    pub name_ja: String,
    /// What it asks: `救急搬送の受入件数 ≥ 1,000 または …`.
    pub label: String,
    /// `None`: unknown (a fact not given), never shown as met.
    pub met: Option<bool>,
    /// The facts it read, as shown: `救急搬送の受入件数 1,000（approval_facts 2行目）`.
    pub facts: Vec<String>,
    /// The rule's source (通知, 施行規則).
    pub source: String,
}

/// The 承認要件 table of one hospital and fiscal year.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct ApprovalTable {
    pub hospital_code: String,
    pub fiscal_year: i32,
    pub verdict: ApprovalVerdict,
    pub requirements: Vec<RequirementLine>,
}

/// Joins the engine's rows with the rules and the facts, ordered by hospital and fiscal year.
pub(crate) fn approval_tables(
    rules: &ApprovalRules,
    met: &[RequirementMet],
    verdicts: &[ApprovalRow],
    facts: &[FactValue],
    sources: &FactSources,
    facts_file: &str,
) -> Vec<ApprovalTable> {
    let decided: BTreeMap<(&str, i32, &str), Option<bool>> = met
        .iter()
        .map(|m| ((m.hospital_code.as_str(), m.fiscal_year, m.requirement_id.as_str()), m.met))
        .collect();
    let values: BTreeMap<(&str, i32, Fact), u64> =
        facts.iter().map(|f| ((f.hospital_code.as_str(), f.fiscal_year, f.fact), f.value)).collect();
    let shown = |code: &str, year: i32, fact: Fact| -> Option<String> {
        let value = values.get(&(code, year, fact))?;
        let text = match fact {
            Fact::SharedUse => if *value == 1 { "あり" } else { "なし" }.to_string(),
            _ => crate::report::format::thousands(*value),
        };
        let from = match sources.get(&(code.to_string(), year, fact)) {
            Some(FactSource::Facts { row }) => format!("{facts_file} {row}行目"),
            Some(FactSource::HospitalMaster) => "病院一覧".to_string(),
            None => String::new(),
        };
        Some(format!("{} {text}（{from}）", fact.label_ja()))
    };
    verdicts
        .iter()
        .map(|v| {
            let (code, year) = (v.hospital_code.as_str(), v.fiscal_year);
            let requirements = rules
                .requirements
                .iter()
                .map(|r| {
                    let facts = match &r.rule {
                        RequirementRule::Regime(_) => Vec::new(),
                        RequirementRule::AnyOf(conditions) => {
                            let mut used: Vec<Fact> = conditions
                                .iter()
                                .flat_map(|c| std::iter::once(c.fact).chain(c.per))
                                .collect();
                            used.dedup();
                            used.into_iter()
                                .map(|f| {
                                    shown(code, year, f).unwrap_or_else(|| format!("{} 未入力", f.label_ja()))
                                })
                                .collect()
                        }
                    };
                    RequirementLine {
                        id: r.id.clone(),
                        name_ja: r.name_ja.clone(),
                        label: r.label_ja(),
                        met: decided.get(&(code, year, r.id.as_str())).copied().flatten(),
                        facts,
                        source: r.source.clone(),
                    }
                })
                .collect();
            ApprovalTable {
                hospital_code: code.to_string(),
                fiscal_year: year,
                verdict: v.verdict,
                requirements,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_masters_beds_fill_a_year_without_them_and_say_so() {
        let rows = vec![FactsRow {
            hospital_code: "0110113719".into(),
            fiscal_year: 2024,
            values: [("training_sessions", 12)].into(),
            row: 2,
        }];
        let hospitals: BTreeMap<String, Hospital> = [(
            "0110113719".to_string(),
            Hospital { hospital_code: "0110113719".into(), name: None, prefecture: None, beds: Some(350) },
        )]
        .into();
        let (values, sources) = gather_facts(&rows, &hospitals);
        assert_eq!(values.len(), 2);
        assert_eq!(sources[&("0110113719".to_string(), 2024, Fact::Beds)], FactSource::HospitalMaster);
        assert_eq!(
            sources[&("0110113719".to_string(), 2024, Fact::TrainingSessions)],
            FactSource::Facts { row: 2 }
        );
    }
}
