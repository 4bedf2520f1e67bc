//! The approval requirements of a 地域医療支援病院 besides the referral criteria (救急, 研修,
//! 病床数, 共同利用), as data: `rules/approval/*.yaml` names each requirement, the facts it
//! reads and its thresholds, with their sources. Whether a requirement is met is decided by
//! `queries/approval_requirements.sql`; this module parses and validates the rules.

use serde::Deserialize;

use super::arith::Threshold;
use super::model::RegimeError;

/// A yearly fact about a hospital that a requirement reads (`approval_facts:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Fact {
    /// 救急搬送の受入件数 (ambulance transports accepted in the year).
    AmbulanceTransports,
    /// The population of the hospital's 二次医療圏.
    AreaPopulation,
    /// Training sessions held for local medical staff in the year.
    TrainingSessions,
    Beds,
    /// Whether local practitioners can use its equipment and beds (1 yes, 0 no).
    SharedUse,
}

impl Fact {
    pub(crate) const ALL: [Fact; 5] = [
        Fact::AmbulanceTransports,
        Fact::AreaPopulation,
        Fact::TrainingSessions,
        Fact::Beds,
        Fact::SharedUse,
    ];

    /// The column name in the facts table, SQL and YAML.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Fact::AmbulanceTransports => "ambulance_transports",
            Fact::AreaPopulation => "area_population",
            Fact::TrainingSessions => "training_sessions",
            Fact::Beds => "beds",
            Fact::SharedUse => "shared_use",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Fact> {
        Fact::ALL.into_iter().find(|f| f.name() == name)
    }

    pub(crate) fn label_ja(self) -> &'static str {
        match self {
            Fact::AmbulanceTransports => "救急搬送の受入件数",
            Fact::AreaPopulation => "二次医療圏の人口",
            Fact::TrainingSessions => "研修の開催回数",
            Fact::Beds => "病床数",
            Fact::SharedUse => "共同利用の体制",
        }
    }
}

/// How a fact is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FactOp {
    Ge,
    Gt,
    /// The fact is 1 (yes).
    Yes,
}

impl FactOp {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            FactOp::Ge => ">=",
            FactOp::Gt => ">",
            FactOp::Yes => "yes",
        }
    }
}

/// One condition on facts: `fact op threshold`, or `fact / per × scale op threshold`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FactCondition {
    pub fact: Fact,
    pub per: Option<Fact>,
    pub op: FactOp,
    pub threshold: Threshold,
    /// 100 for a percentage of `per`, 1 otherwise.
    pub scale: u64,
}

impl FactCondition {
    /// `救急搬送の受入件数 ≥ 1,000`, `救急搬送の受入件数 ÷ 二次医療圏の人口 ≥ 0.2 %`, `共同利用の体制あり`.
    pub(crate) fn label_ja(&self) -> String {
        let op = match self.op {
            FactOp::Ge => "≥",
            FactOp::Gt => ">",
            FactOp::Yes => return format!("{}あり", self.fact.label_ja()),
        };
        // 1,000 as people write it; a decimal as written (0.2).
        let threshold = if self.threshold.denominator == 1 {
            crate::report::format::thousands(self.threshold.numerator)
        } else {
            self.threshold.to_string()
        };
        match self.per {
            Some(per) => format!("{} ÷ {} {op} {threshold} %", self.fact.label_ja(), per.label_ja()),
            None => format!("{} {op} {threshold}", self.fact.label_ja()),
        }
    }
}

/// How a requirement is decided.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RequirementRule {
    /// Met when this regime passes for the fiscal year.
    Regime(String),
    /// Met when any condition holds; unknown when none holds and a fact is missing.
    AnyOf(Vec<FactCondition>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Requirement {
    pub id: String,
    pub name_ja: String,
    pub rule: RequirementRule,
    pub source: String,
}

impl Requirement {
    /// What it asks, for the tables: the conditions joined by または.
    pub(crate) fn label_ja(&self) -> String {
        match &self.rule {
            RequirementRule::Regime(id) => format!("{id} の判定が「満たしています」"),
            RequirementRule::AnyOf(conditions) => {
                conditions.iter().map(FactCondition::label_ja).collect::<Vec<_>>().join(" または ")
            }
        }
    }
}

/// A set of approval requirements (one prefecture's reading).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApprovalRules {
    pub id: String,
    pub name_ja: String,
    pub sources: Vec<String>,
    pub uncertain: Vec<String>,
    pub requirements: Vec<Requirement>,
    /// `builtin:rules/approval/x.yaml` or the user's path.
    pub origin: String,
}

const BUILTIN: [(&str, &str); 1] = [(
    "rules/approval/chiiki-shien-tokyo.yaml",
    include_str!("../../rules/approval/chiiki-shien-tokyo.yaml"),
)];

/// The id of the built-in rules used when the config names none.
pub(crate) const DEFAULT_APPROVAL_RULES: &str = "chiiki-shien-tokyo";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    id: String,
    name_ja: String,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    uncertain: Vec<String>,
    requirements: Vec<RequirementFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequirementFile {
    id: String,
    name_ja: String,
    #[serde(default)]
    regime: Option<String>,
    #[serde(default)]
    any_of: Vec<ConditionFile>,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionFile {
    fact: String,
    #[serde(default)]
    per: Option<String>,
    op: String,
    #[serde(default)]
    threshold: Option<serde_yaml::Value>,
    #[serde(default)]
    unit: Option<String>,
}

impl ApprovalRules {
    /// A built-in set by id, or `None`.
    pub(crate) fn builtin(id: &str) -> Option<ApprovalRules> {
        BUILTIN.iter().find_map(|(path, text)| {
            let rules =
                ApprovalRules::from_yaml(text, &format!("builtin:{path}")).expect("built-in rules parse");
            (rules.id == id).then_some(rules)
        })
    }

    /// Parses and validates one rules file's text.
    pub(crate) fn from_yaml(text: &str, origin: &str) -> Result<ApprovalRules, RegimeError> {
        let file: RulesFile = serde_yaml::from_str(text)
            .map_err(|source| RegimeError::Yaml { origin: origin.to_string(), source })?;
        let invalid = |message: String| RegimeError::Invalid { origin: origin.to_string(), message };
        if file.requirements.is_empty() {
            return Err(invalid("requirements: at least one requirement is needed".into()));
        }
        let fact = |id: &str, name: &str| {
            Fact::from_name(name).ok_or_else(|| {
                invalid(format!(
                    "requirements.{id}: unknown fact {name:?}; known facts: {}",
                    Fact::ALL.map(Fact::name).join(", ")
                ))
            })
        };
        let mut requirements: Vec<Requirement> = Vec::new();
        for r in file.requirements {
            if requirements.iter().any(|k| k.id == r.id) {
                return Err(invalid(format!("requirements: id {:?} appears twice", r.id)));
            }
            let rule = match (r.regime, r.any_of.is_empty()) {
                (Some(regime), true) => RequirementRule::Regime(regime),
                (None, false) => {
                    let mut conditions = Vec::new();
                    for c in r.any_of {
                        let op = match c.op.as_str() {
                            ">=" | "≥" => FactOp::Ge,
                            ">" => FactOp::Gt,
                            "yes" => FactOp::Yes,
                            other => {
                                return Err(invalid(format!(
                                    "requirements.{}: operator {other:?} is not \">=\", \">\" or \"yes\"",
                                    r.id
                                )));
                            }
                        };
                        let text = match &c.threshold {
                            Some(serde_yaml::Value::Number(n)) => n.to_string(),
                            Some(serde_yaml::Value::String(s)) => s.clone(),
                            _ => String::new(),
                        };
                        let threshold = match op {
                            FactOp::Yes if c.threshold.is_none() => {
                                Threshold { numerator: 1, denominator: 1 }
                            }
                            FactOp::Yes => {
                                return Err(invalid(format!(
                                    "requirements.{}: \"yes\" takes no threshold",
                                    r.id
                                )));
                            }
                            _ => Threshold::parse(&text).ok_or_else(|| {
                                invalid(format!(
                                    "requirements.{}: threshold {:?} is not a non-negative decimal",
                                    r.id, c.threshold
                                ))
                            })?,
                        };
                        let per = c.per.as_deref().map(|p| fact(&r.id, p)).transpose()?;
                        let scale = match (per, c.unit.as_deref()) {
                            (Some(_), Some("%")) => 100,
                            (None, None) => 1,
                            (Some(_), _) => {
                                return Err(invalid(format!(
                                    "requirements.{}: a share of {} needs unit: \"%\"",
                                    r.id,
                                    c.per.as_deref().unwrap_or("")
                                )));
                            }
                            (None, Some(u)) => {
                                return Err(invalid(format!(
                                    "requirements.{}: unit {u:?} is only for a share (per:)",
                                    r.id
                                )));
                            }
                        };
                        conditions.push(FactCondition {
                            fact: fact(&r.id, &c.fact)?,
                            per,
                            op,
                            threshold,
                            scale,
                        });
                    }
                    RequirementRule::AnyOf(conditions)
                }
                _ => {
                    return Err(invalid(format!(
                        "requirements.{}: give either regime: (a regime that must pass) or any_of: (conditions on facts)",
                        r.id
                    )));
                }
            };
            requirements.push(Requirement { id: r.id, name_ja: r.name_ja, rule, source: r.source });
        }
        Ok(ApprovalRules {
            id: file.id,
            name_ja: file.name_ja,
            sources: file.sources,
            uncertain: file.uncertain,
            requirements,
            origin: origin.to_string(),
        })
    }

    /// The regimes the requirements need verdicts of.
    pub(crate) fn regimes(&self) -> impl Iterator<Item = &str> {
        self.requirements.iter().filter_map(|r| match &r.rule {
            RequirementRule::Regime(id) => Some(id.as_str()),
            RequirementRule::AnyOf(_) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_rules_hold_tokyos_thresholds() {
        let rules = ApprovalRules::builtin(DEFAULT_APPROVAL_RULES).unwrap();
        let labels: Vec<(String, String)> =
            rules.requirements.iter().map(|r| (r.id.clone(), r.label_ja())).collect();
        assert_eq!(
            labels,
            [
                ("referral", "chiiki-shien-2014 の判定が「満たしています」"),
                (
                    "emergency",
                    "救急搬送の受入件数 ≥ 1,000 または 救急搬送の受入件数 ÷ 二次医療圏の人口 ≥ 0.2 %"
                ),
                ("training", "研修の開催回数 ≥ 12"),
                ("beds", "病床数 ≥ 200"),
                ("shared_use", "共同利用の体制あり"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert!(rules.requirements.iter().all(|r| !r.source.is_empty()), "every requirement has its source");
        assert_eq!(rules.regimes().collect::<Vec<_>>(), ["chiiki-shien-2014"]);
    }

    #[test]
    fn mistakes_in_a_rules_file_are_named() {
        let base = "id: x\nname_ja: x\nrequirements:\n  - id: r\n    name_ja: r\n    source: s\n";
        for (tail, expected) in [
            ("    any_of: [ { fact: beds, op: \"<\", threshold: 1 } ]\n", "operator \"<\""),
            ("    any_of: [ { fact: bed, op: \">=\", threshold: 1 } ]\n", "unknown fact \"bed\""),
            ("    any_of: [ { fact: beds, op: \">=\", threshold: -1 } ]\n", "not a non-negative decimal"),
            (
                "    any_of: [ { fact: beds, per: area_population, op: \">=\", threshold: 1 } ]\n",
                "unit: \"%\"",
            ),
            ("    any_of: [ { fact: shared_use, op: \"yes\", threshold: 1 } ]\n", "takes no threshold"),
            ("", "either regime:"),
        ] {
            let e = ApprovalRules::from_yaml(&format!("{base}{tail}"), "mine.yaml").unwrap_err().to_string();
            assert!(e.contains(expected) && e.contains("mine.yaml"), "{e}");
        }
    }
}
