//! The project's vocabulary as types, parsed once at the edge (the CLI, the config, the
//! engine's rows) and passed on as such: a verdict is a [`Verdict`], a fiscal year a
//! [`FiscalYear`], a period kind a [`PeriodKind`] (a count is a [`crate::regimes::Count`]). Words like `"fail"` or
//! `"fiscal-year"` appear only where they are read or written (SQL results, CSV, JSON,
//! templates), through the methods here.

use std::fmt;

use serde::{Deserialize, Serialize};

pub(crate) use crate::periods::PeriodKind;

/// The verdict of one regime for one hospital and period, as `queries/regime_verdicts.sql`
/// decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verdict {
    /// A criterion is met.
    Pass,
    /// No criterion is met.
    Fail,
    /// A denominator is zero.
    NoData,
    /// A count the regime needs was not reported.
    NotComputable,
    /// Whether a criterion is met depends on counts the source masked (外来機能報告's `*`):
    /// neither pass nor fail.
    Undetermined,
}

impl Verdict {
    pub(crate) const ALL: [Verdict; 5] =
        [Verdict::Pass, Verdict::Fail, Verdict::NoData, Verdict::NotComputable, Verdict::Undetermined];

    /// The stable word of machine outputs and SQL: `pass`, `fail`, `no_data`, `not_computable`,
    /// `undetermined`.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NoData => "no_data",
            Verdict::NotComputable => "not_computable",
            Verdict::Undetermined => "undetermined",
        }
    }

    pub(crate) fn from_code(code: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.code() == code)
    }

    /// How the pages say it: 満たしています, 満たしていません, データなし, 算出不可, 判定不能.
    pub(crate) fn label_ja(self) -> &'static str {
        match self {
            Verdict::Pass => "満たしています",
            Verdict::Fail => "満たしていません",
            Verdict::NoData => "データなし",
            Verdict::NotComputable => "算出不可",
            Verdict::Undetermined => "判定不能（秘匿値）",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The overall 承認要件 verdict of a hospital and fiscal year, as
/// `queries/approval_verdicts.sql` decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ApprovalVerdict {
    /// Every requirement is met.
    Met,
    /// Some requirement is not met.
    NotMet,
    /// None is not met, and some fact needed is not given.
    Unknown,
}

impl ApprovalVerdict {
    pub(crate) const ALL: [ApprovalVerdict; 3] =
        [ApprovalVerdict::Met, ApprovalVerdict::NotMet, ApprovalVerdict::Unknown];

    /// `met`, `not_met`, `unknown`.
    pub(crate) fn code(self) -> &'static str {
        match self {
            ApprovalVerdict::Met => "met",
            ApprovalVerdict::NotMet => "not_met",
            ApprovalVerdict::Unknown => "unknown",
        }
    }

    pub(crate) fn from_code(code: &str) -> Option<ApprovalVerdict> {
        ApprovalVerdict::ALL.into_iter().find(|v| v.code() == code)
    }

    /// 満たしています, 満たしていません, 不明（未入力あり）.
    pub(crate) fn label_ja(self) -> &'static str {
        match self {
            ApprovalVerdict::Met => "満たしています",
            ApprovalVerdict::NotMet => "満たしていません",
            ApprovalVerdict::Unknown => "不明（未入力あり）",
        }
    }
}

/// A fiscal year (年度), April to March, named by the year of its April: `FiscalYear(2025)` is
/// 2025-04..2026-03 (令和7年度).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct FiscalYear(pub i32);

impl FiscalYear {
    /// The fiscal year a `YYYY-MM` month belongs to: 2026-03 → 2025, 2026-04 → 2026.
    pub(crate) fn of_month(month: &str) -> Option<FiscalYear> {
        crate::periods::parse_month(month).map(|(y, m)| FiscalYear(if m >= 4 { y } else { y - 1 }))
    }

    /// Parses the label of a fiscal-year period (`"2025"`).
    pub(crate) fn from_label(label: &str) -> Option<FiscalYear> {
        (label.len() == 4).then(|| label.parse().ok().map(FiscalYear)).flatten()
    }

    pub(crate) fn previous(self) -> FiscalYear {
        FiscalYear(self.0 - 1)
    }
}

impl fmt::Display for FiscalYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_words_round_trip() {
        for v in Verdict::ALL {
            assert_eq!(Verdict::from_code(v.code()), Some(v));
            assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(v.code()));
        }
        assert_eq!(Verdict::from_code("passed"), None);
    }

    #[test]
    fn fiscal_year_starts_in_april() {
        assert_eq!(FiscalYear::of_month("2026-03"), Some(FiscalYear(2025)));
        assert_eq!(FiscalYear::of_month("2026-04"), Some(FiscalYear(2026)));
        assert_eq!(FiscalYear::of_month("2026-13"), None);
        assert_eq!(FiscalYear::from_label("2025"), Some(FiscalYear(2025)));
        assert_eq!(FiscalYear::from_label("2025-04..2025-09"), None);
        assert_eq!(FiscalYear(2025).previous().to_string(), "2024");
    }
}
