//! The regime data model and its YAML form.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;

use super::arith::{Ratio, Threshold, gap_to};

/// A named count per hospital and period; the vocabulary regimes are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Count {
    FirstVisits,
    AmbulanceFirstVisits,
    AfterHoursFirstVisits,
    CheckupFirstVisits,
    InitialPatients,
    ReferredPatients,
    ReverseReferredPatients,
    ReturnVisits,
    EmergencyPatients,
}

impl Count {
    /// Every count, in the order of the monthly table.
    pub(crate) const ALL: [Count; 9] = [
        Count::FirstVisits,
        Count::AmbulanceFirstVisits,
        Count::AfterHoursFirstVisits,
        Count::CheckupFirstVisits,
        Count::InitialPatients,
        Count::ReferredPatients,
        Count::ReverseReferredPatients,
        Count::ReturnVisits,
        Count::EmergencyPatients,
    ];

    /// The column name used in SQL, CSV and YAML.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Count::FirstVisits => "first_visits",
            Count::AmbulanceFirstVisits => "ambulance_first_visits",
            Count::AfterHoursFirstVisits => "after_hours_first_visits",
            Count::CheckupFirstVisits => "checkup_first_visits",
            Count::InitialPatients => "initial_patients",
            Count::ReferredPatients => "referred_patients",
            Count::ReverseReferredPatients => "reverse_referred_patients",
            Count::ReturnVisits => "return_visits",
            Count::EmergencyPatients => "emergency_patients",
        }
    }

    /// The column holding the count's upper bound in `reported_counts` and the count queries:
    /// equal to the count when it is exact, higher when the source masked it (外来機能報告's `*`,
    /// a value from 1 to 10).
    pub(crate) fn high_name(self) -> &'static str {
        match self {
            Count::FirstVisits => "first_visits_high",
            Count::AmbulanceFirstVisits => "ambulance_first_visits_high",
            Count::AfterHoursFirstVisits => "after_hours_first_visits_high",
            Count::CheckupFirstVisits => "checkup_first_visits_high",
            Count::InitialPatients => "initial_patients_high",
            Count::ReferredPatients => "referred_patients_high",
            Count::ReverseReferredPatients => "reverse_referred_patients_high",
            Count::ReturnVisits => "return_visits_high",
            Count::EmergencyPatients => "emergency_patients_high",
        }
    }

    /// The Japanese label used in reports.
    pub(crate) fn label_ja(self) -> &'static str {
        match self {
            Count::FirstVisits => "初診(全体)",
            Count::AmbulanceFirstVisits => "救急自動車搬入",
            Count::AfterHoursFirstVisits => "休日・夜間の救急患者",
            Count::CheckupFirstVisits => "健診後に治療開始",
            Count::InitialPatients => "初診患者の数",
            Count::ReferredPatients => "紹介患者の数",
            Count::ReverseReferredPatients => "逆紹介患者の数",
            Count::ReturnVisits => "再診の患者数",
            Count::EmergencyPatients => "救急患者数",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Count> {
        Count::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Whether one more referred first visit adds one to this count. Used for the gap: a
    /// referred first visit is also a first visit and an initial patient.
    fn grows_with_referral(self) -> bool {
        matches!(self, Count::ReferredPatients | Count::InitialPatients | Count::FirstVisits)
    }

    fn grows_with_reverse_referral(self) -> bool {
        matches!(self, Count::ReverseReferredPatients)
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A comparison operator of a criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// 以上 (≥)
    Ge,
    /// 超える / 上回る (>)
    Gt,
}

impl Op {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Op::Ge => "≥",
            Op::Gt => ">",
        }
    }
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Op::Ge => ">=",
            Op::Gt => ">",
        }
    }

    /// How a form states it after the threshold: `50 % 以上`, `65 % 超`.
    pub(crate) fn word_ja(self) -> &'static str {
        match self {
            Op::Ge => "以上",
            Op::Gt => "超",
        }
    }
}

/// The unit a metric is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Percent,
    PerMille,
}

impl Unit {
    pub(crate) fn scale(self) -> u64 {
        match self {
            Unit::Percent => 100,
            Unit::PerMille => 1000,
        }
    }
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Unit::Percent => "%",
            Unit::PerMille => "‰",
        }
    }
}

/// Which of a regime's two metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum MetricKind {
    Referral,
    Reverse,
}

impl MetricKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            MetricKind::Referral => "referral",
            MetricKind::Reverse => "reverse",
        }
    }
}

/// One count added (`sign` 1) or subtracted (`sign` −1) in a numerator or denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Term {
    pub count: Count,
    pub sign: i64,
}

/// A ratio definition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Metric {
    pub kind: MetricKind,
    pub name_ja: String,
    pub numerator: Vec<Term>,
    pub denominator: Vec<Term>,
    pub unit: Unit,
}

impl Metric {
    /// The counts this metric reads.
    pub(crate) fn counts(&self) -> impl Iterator<Item = Count> + '_ {
        self.numerator.iter().chain(&self.denominator).map(|t| t.count)
    }

    /// The ratio for a set of counts; `None` if a count it needs is missing. A side that sums to
    /// less than zero (bad input) is treated as zero.
    pub(crate) fn ratio(&self, counts: &BTreeMap<Count, u64>) -> Option<Ratio> {
        let side = |terms: &[Term]| -> Option<u64> {
            let mut total: i128 = 0;
            for t in terms {
                total += i128::from(*counts.get(&t.count)?) * i128::from(t.sign);
            }
            Some(u64::try_from(total.max(0)).unwrap_or(u64::MAX))
        };
        Some(Ratio {
            numerator: side(&self.numerator)?,
            denominator: side(&self.denominator)?,
            scale: self.unit.scale(),
        })
    }

    fn lever(terms: &[Term], grows: fn(Count) -> bool) -> i64 {
        terms.iter().filter(|t| grows(t.count)).map(|t| t.sign).sum()
    }

    /// How much one more referred first visit adds to (numerator, denominator).
    pub(crate) fn referral_lever(&self) -> (i64, i64) {
        (
            Self::lever(&self.numerator, Count::grows_with_referral),
            Self::lever(&self.denominator, Count::grows_with_referral),
        )
    }

    /// How much one more reverse referral adds to (numerator, denominator).
    pub(crate) fn reverse_lever(&self) -> (i64, i64) {
        (
            Self::lever(&self.numerator, Count::grows_with_reverse_referral),
            Self::lever(&self.denominator, Count::grows_with_reverse_referral),
        )
    }

    /// "紹介率 = 紹介患者の数 ÷ 初診患者の数 × 100 %" style formula text.
    pub(crate) fn formula(&self) -> String {
        let side = |terms: &[Term]| {
            terms
                .iter()
                .enumerate()
                .map(|(i, t)| match (i, t.sign) {
                    (0, s) if s > 0 => t.count.name().to_string(),
                    (_, s) if s > 0 => format!(" + {}", t.count.name()),
                    _ => format!(" - {}", t.count.name()),
                })
                .collect::<String>()
        };
        format!(
            "({}) / ({}) × {} {}",
            side(&self.numerator),
            side(&self.denominator),
            self.unit.scale(),
            self.unit.symbol()
        )
    }
}

/// One comparison inside a criterion.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    pub metric: MetricKind,
    pub op: Op,
    pub threshold: Threshold,
}

/// A criterion is met when all its conditions hold; a regime passes when any criterion is met.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Criterion {
    pub id: String,
    /// How reports name it: `基準B`, `目標値`.
    pub name_ja: String,
    pub conditions: Vec<Condition>,
}

/// A validated regime.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Regime {
    pub id: String,
    pub name_ja: String,
    pub name_en: String,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
    pub sources: Vec<String>,
    pub uncertain: Vec<String>,
    pub referral: Metric,
    pub reverse: Metric,
    pub criteria: Vec<Criterion>,
    /// Where it came from: `builtin:rules/x.yaml` or a user path.
    pub origin: String,
}

impl Regime {
    pub(crate) fn metric(&self, kind: MetricKind) -> &Metric {
        match kind {
            MetricKind::Referral => &self.referral,
            MetricKind::Reverse => &self.reverse,
        }
    }

    /// When `ratio` rounded to one decimal shows a threshold of this regime's `metric` that it
    /// is not exactly on (79.95 % shown as 80.0 %): its value to two decimals, truncated.
    pub(crate) fn exact_when_rounding_hides(
        &self,
        ratio: Option<Ratio>,
        metric: MetricKind,
    ) -> Option<String> {
        let ratio = ratio?;
        self.criteria
            .iter()
            .flat_map(|c| &c.conditions)
            .any(|c| c.metric == metric && ratio.display_hides_difference(c.threshold))
            .then(|| ratio.hundredths_floor())
            .flatten()
    }

    /// The counts any metric of this regime needs.
    pub(crate) fn required_counts(&self) -> Vec<Count> {
        let mut counts: Vec<Count> = self.referral.counts().chain(self.reverse.counts()).collect();
        counts.sort();
        counts.dedup();
        counts
    }

    /// A condition as people read it: "紹介率 ≥ 80 %".
    pub(crate) fn condition_label(&self, c: &Condition) -> String {
        let m = self.metric(c.metric);
        format!("{} {} {} {}", m.name_ja, c.op.symbol(), c.threshold, m.unit.symbol())
    }

    /// A criterion as people read it: its conditions joined, "紹介率 > 65 % かつ 逆紹介率 > 40 %".
    pub(crate) fn criterion_label(&self, c: &Criterion) -> String {
        c.conditions.iter().map(|k| self.condition_label(k)).collect::<Vec<_>>().join(" かつ ")
    }

    /// For an unmet criterion, the extra referred first visits and then the extra reverse
    /// referrals that would meet it. The reverse gap is computed after adding the referral gap,
    /// because referred first visits also enlarge the denominator of the reverse rate.
    pub(crate) fn criterion_gaps(
        &self,
        criterion: &Criterion,
        counts: &BTreeMap<Count, u64>,
    ) -> (Option<u64>, Option<u64>) {
        let mut counts = counts.clone();
        let mut gaps = [None, None];
        for (slot, kind) in [MetricKind::Referral, MetricKind::Reverse].into_iter().enumerate() {
            let metric = self.metric(kind);
            let (a, b) = match kind {
                MetricKind::Referral => metric.referral_lever(),
                MetricKind::Reverse => metric.reverse_lever(),
            };
            let (Ok(a), Ok(b)) = (u64::try_from(a), u64::try_from(b)) else {
                continue;
            };
            let mut needed: Option<u64> = None;
            let mut reachable = true;
            for cond in criterion.conditions.iter().filter(|c| c.metric == kind) {
                let Some(ratio) = metric.ratio(&counts) else {
                    reachable = false;
                    break;
                };
                match gap_to(ratio, a, b, cond.op, cond.threshold) {
                    Some(x) => needed = Some(needed.unwrap_or(0).max(x)),
                    None => reachable = false,
                }
            }
            if !reachable {
                continue;
            }
            if let Some(x) = needed.filter(|&x| x > 0) {
                gaps[slot] = Some(x);
                let added: &[Count] = match kind {
                    MetricKind::Referral => {
                        &[Count::ReferredPatients, Count::InitialPatients, Count::FirstVisits]
                    }
                    MetricKind::Reverse => &[Count::ReverseReferredPatients],
                };
                for c in added {
                    if let Some(v) = counts.get_mut(c) {
                        *v += x;
                    }
                }
            }
        }
        (gaps[0], gaps[1])
    }
}

/// Errors in regime data. Each names the file and what to change.
#[derive(Debug, thiserror::Error)]
pub enum RegimeError {
    #[error("cannot read regime file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("regime file {origin}: {source}")]
    Yaml { origin: String, source: serde_yaml::Error },
    #[error("regime file {origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error(
        "unknown regime {id:?}: known regimes are {known}; add a YAML file under `regime_files` in the config to define it"
    )]
    Unknown { id: String, known: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegimeFile {
    id: String,
    name_ja: String,
    name_en: String,
    #[serde(default)]
    valid_from: Option<NaiveDate>,
    #[serde(default)]
    valid_to: Option<NaiveDate>,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    uncertain: Vec<String>,
    metrics: MetricsFile,
    criteria: Vec<CriterionFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsFile {
    referral: MetricFile,
    reverse: MetricFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricFile {
    name_ja: String,
    numerator: Vec<String>,
    #[serde(default)]
    numerator_minus: Vec<String>,
    denominator: Vec<String>,
    #[serde(default)]
    denominator_minus: Vec<String>,
    unit: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CriterionFile {
    id: String,
    #[serde(default)]
    name_ja: Option<String>,
    conditions: Vec<ConditionFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionFile {
    metric: String,
    op: String,
    threshold: serde_yaml::Value,
}

impl Regime {
    /// Parses and validates one regime file's text.
    pub(crate) fn from_yaml(text: &str, origin: &str) -> Result<Regime, RegimeError> {
        let file: RegimeFile = serde_yaml::from_str(text)
            .map_err(|source| RegimeError::Yaml { origin: origin.to_string(), source })?;
        let invalid = |message: String| RegimeError::Invalid { origin: origin.to_string(), message };
        if file.id.is_empty() || !file.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(invalid(format!(
                "id {:?} must be non-empty ASCII letters, digits, '-' or '_'",
                file.id
            )));
        }
        let metric = |kind: MetricKind, m: MetricFile| -> Result<Metric, RegimeError> {
            let terms = |names: &[String], sign: i64, side: &str| -> Result<Vec<Term>, RegimeError> {
                names
                    .iter()
                    .map(|n| {
                        Count::from_name(n).map(|count| Term { count, sign }).ok_or_else(|| {
                            invalid(format!(
                                "metrics.{}.{side}: unknown count {n:?}; known counts: {}",
                                kind.name(),
                                Count::ALL.map(Count::name).join(", ")
                            ))
                        })
                    })
                    .collect()
            };
            let mut numerator = terms(&m.numerator, 1, "numerator")?;
            numerator.extend(terms(&m.numerator_minus, -1, "numerator_minus")?);
            let mut denominator = terms(&m.denominator, 1, "denominator")?;
            denominator.extend(terms(&m.denominator_minus, -1, "denominator_minus")?);
            if m.numerator.is_empty() || m.denominator.is_empty() {
                return Err(invalid(format!(
                    "metrics.{}: numerator and denominator each need at least one count",
                    kind.name()
                )));
            }
            // A count named twice on a side is counted twice (or added and taken away): a slip
            // of the pen that would change every rate, so the regime is refused.
            for (side, terms) in [("numerator", &numerator), ("denominator", &denominator)] {
                let mut named = std::collections::BTreeSet::new();
                if let Some(t) = terms.iter().find(|t| !named.insert(t.count)) {
                    return Err(invalid(format!(
                        "metrics.{}.{side}: the count {:?} is named more than once on the {side} side \
                         ({side} and {side}_minus together name each count at most once)",
                        kind.name(),
                        t.count.name()
                    )));
                }
            }
            let unit = match m.unit.trim() {
                "%" | "percent" => Unit::Percent,
                "‰" | "per_mille" | "permille" => Unit::PerMille,
                other => {
                    return Err(invalid(format!(
                        "metrics.{}.unit: {other:?} is not a unit; use \"%\" or \"‰\"",
                        kind.name()
                    )));
                }
            };
            Ok(Metric { kind, name_ja: m.name_ja, numerator, denominator, unit })
        };
        let referral = metric(MetricKind::Referral, file.metrics.referral)?;
        let reverse = metric(MetricKind::Reverse, file.metrics.reverse)?;
        if file.criteria.is_empty() {
            return Err(invalid("criteria: at least one criterion is needed".into()));
        }
        let mut criteria = Vec::new();
        for c in file.criteria {
            if criteria.iter().any(|k: &Criterion| k.id == c.id) {
                return Err(invalid(format!("criteria: id {:?} appears twice", c.id)));
            }
            if c.conditions.is_empty() {
                return Err(invalid(format!("criteria.{}: no conditions", c.id)));
            }
            let mut conditions = Vec::new();
            for cond in c.conditions {
                let metric = match cond.metric.as_str() {
                    "referral" => MetricKind::Referral,
                    "reverse" => MetricKind::Reverse,
                    other => {
                        return Err(invalid(format!(
                            "criteria.{}: metric {other:?} is neither \"referral\" nor \"reverse\"",
                            c.id
                        )));
                    }
                };
                let op = match cond.op.as_str() {
                    ">=" | "≥" => Op::Ge,
                    ">" => Op::Gt,
                    other => {
                        return Err(invalid(format!(
                            "criteria.{}: operator {other:?} is not \">=\" or \">\"",
                            c.id
                        )));
                    }
                };
                let text = match &cond.threshold {
                    serde_yaml::Value::Number(n) => n.to_string(),
                    serde_yaml::Value::String(s) => s.clone(),
                    _ => String::new(),
                };
                let threshold = Threshold::parse(&text).ok_or_else(|| {
                    invalid(format!(
                        "criteria.{}: threshold {:?} is not a non-negative decimal",
                        c.id, cond.threshold
                    ))
                })?;
                conditions.push(Condition { metric, op, threshold });
            }
            let name_ja = c.name_ja.unwrap_or_else(|| format!("基準{}", c.id));
            criteria.push(Criterion { id: c.id, name_ja, conditions });
        }
        if let (Some(from), Some(to)) = (file.valid_from, file.valid_to)
            && to < from
        {
            return Err(invalid(format!("valid_to {to} is before valid_from {from}")));
        }
        Ok(Regime {
            id: file.id,
            name_ja: file.name_ja,
            name_en: file.name_en,
            valid_from: file.valid_from,
            valid_to: file.valid_to,
            sources: file.sources,
            uncertain: file.uncertain,
            referral,
            reverse,
            criteria,
            origin: origin.to_string(),
        })
    }
}

const BUILTIN: [(&str, &str); 6] = [
    ("rules/chiiki-shien-2014.yaml", include_str!("../../rules/chiiki-shien-2014.yaml")),
    ("rules/chiiki-shien-2004.yaml", include_str!("../../rules/chiiki-shien-2004.yaml")),
    ("rules/tokutei-kino.yaml", include_str!("../../rules/tokutei-kino.yaml")),
    ("rules/juten-gairai.yaml", include_str!("../../rules/juten-gairai.yaml")),
    ("rules/shinryo-2022.yaml", include_str!("../../rules/shinryo-2022.yaml")),
    ("rules/shinryo-2022-400.yaml", include_str!("../../rules/shinryo-2022-400.yaml")),
];

/// All regimes known to a run: the built-in ones, then user files (a user file with a built-in
/// id replaces it).
#[derive(Debug, Clone)]
pub(crate) struct RegimeSet {
    regimes: BTreeMap<String, Regime>,
}

impl RegimeSet {
    pub(crate) fn builtin() -> RegimeSet {
        let regimes = BUILTIN
            .iter()
            .map(|(path, text)| {
                let r = Regime::from_yaml(text, &format!("builtin:{path}"))
                    .unwrap_or_else(|e| panic!("built-in regime {path} is invalid: {e}"));
                (r.id.clone(), r)
            })
            .collect();
        RegimeSet { regimes }
    }

    /// The built-in regimes plus the given files.
    pub(crate) fn load(files: &[PathBuf]) -> Result<RegimeSet, RegimeError> {
        let mut set = RegimeSet::builtin();
        for path in files {
            set.add_file(path)?;
        }
        Ok(set)
    }

    fn add_file(&mut self, path: &Path) -> Result<(), RegimeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| RegimeError::Read { path: path.to_path_buf(), source })?;
        let regime = Regime::from_yaml(&text, &path.display().to_string())?;
        self.regimes.insert(regime.id.clone(), regime);
        Ok(())
    }

    pub(crate) fn get(&self, id: &str) -> Result<&Regime, RegimeError> {
        self.regimes.get(id).ok_or_else(|| RegimeError::Unknown {
            id: id.to_string(),
            known: self.regimes.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Regime> {
        self.regimes.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(Count, u64)]) -> BTreeMap<Count, u64> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn builtin_regimes_load() {
        let set = RegimeSet::builtin();
        let ids: Vec<&str> = set.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "chiiki-shien-2004",
                "chiiki-shien-2014",
                "juten-gairai",
                "shinryo-2022",
                "shinryo-2022-400",
                "tokutei-kino"
            ]
        );
        let r = set.get("chiiki-shien-2014").unwrap();
        assert_eq!(r.criteria.len(), 3);
        assert_eq!(r.condition_label(&r.criteria[1].conditions[0]), "紹介率 > 65 %");
        let fee = set.get("shinryo-2022").unwrap();
        assert_eq!(fee.reverse.unit, Unit::PerMille);
        assert_eq!(
            fee.reverse.formula(),
            "(reverse_referred_patients) / (initial_patients + return_visits) × 1000 ‰"
        );
        assert!(set.get("nope").unwrap_err().to_string().contains("chiiki-shien-2014"));
    }

    #[test]
    fn bad_regime_files_say_what_is_wrong() {
        let good = BUILTIN[0].1;
        let cases = [
            (good.replace("[referred_patients]", "[referred_patient]"), "unknown count \"referred_patient\""),
            (good.replacen("unit: \"%\"", "unit: \"pct\"", 1), "is not a unit"),
            (good.replacen("op: \">=\"", "op: \"=>\"", 1), "operator \"=>\""),
            (good.replacen("threshold: \"80\"", "threshold: \"eighty\"", 1), "not a non-negative decimal"),
            (format!("{good}\nextra_key: 1\n"), "unknown field `extra_key`"),
            (good.replacen("    unit: \"%\"\n", "\n", 1), "missing field `unit`"),
            (
                good.replacen(
                    "denominator: [initial_patients]",
                    "denominator: [initial_patients, initial_patients]",
                    1,
                ),
                "the count \"initial_patients\" is named more than once on the denominator side",
            ),
            (
                good.replacen(
                    "denominator: [initial_patients]",
                    "denominator: [initial_patients]\n    denominator_minus: [initial_patients]",
                    1,
                ),
                "the count \"initial_patients\" is named more than once on the denominator side",
            ),
        ];
        for (text, expected) in cases {
            let err = Regime::from_yaml(&text, "my.yaml").unwrap_err().to_string();
            assert!(err.contains(expected) && err.contains("my.yaml"), "{err}");
        }
    }

    #[test]
    fn metric_ratios_follow_the_yaml_terms() {
        let set = RegimeSet::builtin();
        let c = counts(&[
            (Count::FirstVisits, 120),
            (Count::AfterHoursFirstVisits, 20),
            (Count::InitialPatients, 90),
            (Count::ReferredPatients, 45),
            (Count::EmergencyPatients, 10),
            (Count::ReverseReferredPatients, 30),
            (Count::ReturnVisits, 910),
        ]);
        let tk = set.get("tokutei-kino").unwrap();
        // (45 + 10) / (120 − 20)
        assert_eq!(tk.referral.ratio(&c).unwrap(), Ratio { numerator: 55, denominator: 100, scale: 100 });
        let fee = set.get("shinryo-2022").unwrap();
        // 30 / (90 + 910) × 1000 = 30.0 ‰
        assert_eq!(fee.reverse.ratio(&c).unwrap().display().as_deref(), Some("30.0"));
        // A missing count makes the ratio not computable.
        let mut partial = c.clone();
        partial.remove(&Count::ReturnVisits);
        assert_eq!(fee.reverse.ratio(&partial), None);
    }

    #[test]
    fn criterion_gap_adds_referrals_before_reverse() {
        let set = RegimeSet::builtin();
        let r = set.get("chiiki-shien-2014").unwrap();
        // initial 100, referred 60, reverse 40. Criterion B: referral > 65, reverse > 40.
        let c = counts(&[
            (Count::FirstVisits, 100),
            (Count::InitialPatients, 100),
            (Count::ReferredPatients, 60),
            (Count::ReverseReferredPatients, 40),
        ]);
        let b = &r.criteria[1];
        let (ref_gap, rev_gap) = r.criterion_gaps(b, &c);
        // (60 + x) / (100 + x) > 0.65 ⇔ 0.35x > 5 ⇔ x > 14.28 → 15; then initial = 115 and
        // reverse > 46 → 47, i.e. 7 more.
        assert_eq!((ref_gap, rev_gap), (Some(15), Some(7)));
        let mut after = c.clone();
        *after.get_mut(&Count::ReferredPatients).unwrap() += 15;
        *after.get_mut(&Count::InitialPatients).unwrap() += 15;
        *after.get_mut(&Count::ReverseReferredPatients).unwrap() += 7;
        for cond in &b.conditions {
            let ratio = r.metric(cond.metric).ratio(&after).unwrap();
            assert_eq!(ratio.satisfies(cond.op, cond.threshold), Some(true));
        }
    }
}
