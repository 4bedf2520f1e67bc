//! What a command found, and the exit code it means: the one attention policy.
//!
//! A hospital needs review when, in a fiscal year it still answers for
//! ([`checked_fiscal_years`]), a regime's verdict is `fail` or one of its rates sits exactly on a
//! threshold. `run` and `rates` both hand their fiscal-year rows to [`Review::of`] and return
//! [`Review::outcome`], so the same warehouse gives the same exit code whatever command or
//! `--period` reads it. `main` maps an [`Outcome`] to 0 or 1 and an error to 2.

use crate::domain::{FiscalYear, PeriodKind, Verdict};
use crate::rates::RateRow;

/// What a command found, mapped to the exit code by `main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Ran; every checked hospital passes (or there was nothing to check). Exit 0.
    AllPass,
    /// Ran; at least one hospital needs review (for `validate`: a row would be rejected). Exit 1.
    Attention,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::AllPass => 0,
            Outcome::Attention => 1,
        }
    }
}

/// The fiscal years a hospital still answers for, seen from the latest month with data: the
/// current one (to date) and, until the annual report on the previous year is due (10月5日),
/// the previous one. Using the data rather than the clock keeps reruns reproducible.
pub(crate) fn checked_fiscal_years(latest_month: Option<&str>) -> Vec<FiscalYear> {
    let Some(month) = latest_month else { return Vec::new() };
    let (Some(fy), Some((_, m))) = (FiscalYear::of_month(month), crate::periods::parse_month(month)) else {
        return Vec::new();
    };
    if (4..=9).contains(&m) { vec![fy.previous(), fy] } else { vec![fy] }
}

/// The checked fiscal-year rows of a command, and those that need review.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Review {
    pub fiscal_years: Vec<FiscalYear>,
    pub hospitals_checked: usize,
    /// Every checked hospital, fiscal year and regime that needs review, in row order.
    pub attention: Vec<Attention>,
    /// Every checked hospital and fiscal year with an approval requirement not met.
    #[serde(default)]
    pub approval: Vec<ApprovalAttention>,
}

/// A checked hospital and fiscal year whose 承認要件 are not met: one line of the cron mail.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ApprovalAttention {
    pub code: String,
    pub name: Option<String>,
    pub fiscal_year: FiscalYear,
    /// The requirements not met, by their printed names.
    pub not_met: Vec<String>,
}

impl ApprovalAttention {
    fn line(&self, lang: crate::cli::Lang) -> String {
        match lang {
            crate::cli::Lang::En => format!(
                "{} {} FY{}: approval requirements not met: {}",
                self.code,
                self.name.as_deref().unwrap_or("(no name in the hospital master)"),
                self.fiscal_year,
                self.not_met.join(", ")
            ),
            crate::cli::Lang::Ja => format!(
                "{} {} {}: 承認要件を満たしていません（{}）",
                self.code,
                self.name.as_deref().unwrap_or("（病院一覧に名称なし）"),
                crate::report::format::fy_ja(self.fiscal_year.0),
                self.not_met.join("、")
            ),
        }
    }
}

impl Review {
    /// Reviews `rows` (any periods; only the fiscal-year rows of the checked years count).
    /// `latest_month` is the latest month the warehouse covers, reported fiscal years included;
    /// `name` gives a hospital's name for the cron lines.
    pub(crate) fn of(
        rows: &[RateRow],
        latest_month: Option<&str>,
        name: impl Fn(&str) -> Option<String>,
    ) -> Review {
        let fiscal_years = checked_fiscal_years(latest_month);
        let checked: Vec<(&RateRow, FiscalYear)> = rows
            .iter()
            .filter(|r| r.period_kind == PeriodKind::FiscalYear)
            .filter_map(|r| FiscalYear::from_label(&r.period).map(|fy| (r, fy)))
            .filter(|(_, fy)| fiscal_years.contains(fy))
            .collect();
        let hospitals: std::collections::BTreeSet<&str> =
            checked.iter().map(|(r, _)| r.hospital_code.as_str()).collect();
        let attention = checked
            .iter()
            .filter(|(r, _)| needs_review(r))
            .map(|(r, fy)| Attention::of(r, name(&r.hospital_code), *fy))
            .collect();
        Review { fiscal_years, hospitals_checked: hospitals.len(), attention, approval: Vec::new() }
    }

    /// Adds the checked hospital-years whose approval requirements are not met (unknown is
    /// shown on the pages, not reviewed: facts are often collected later than the counts).
    pub(crate) fn with_approval(
        mut self,
        tables: &[crate::approval::ApprovalTable],
        name: impl Fn(&str) -> Option<String>,
    ) -> Review {
        self.approval = tables
            .iter()
            .filter(|t| t.verdict == crate::domain::ApprovalVerdict::NotMet)
            .filter(|t| self.fiscal_years.contains(&FiscalYear(t.fiscal_year)))
            .map(|t| ApprovalAttention {
                code: t.hospital_code.clone(),
                name: name(&t.hospital_code),
                fiscal_year: FiscalYear(t.fiscal_year),
                not_met: t
                    .requirements
                    .iter()
                    .filter(|r| r.met == Some(false))
                    .map(|r| r.name_ja.clone())
                    .collect(),
            })
            .collect();
        self
    }

    /// Distinct hospitals with at least one line to review.
    pub(crate) fn hospitals_needing_attention(&self) -> usize {
        self.attention
            .iter()
            .map(|a| a.code.as_str())
            .chain(self.approval.iter().map(|a| a.code.as_str()))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    }

    pub(crate) fn outcome(&self) -> Outcome {
        if self.attention.is_empty() && self.approval.is_empty() {
            Outcome::AllPass
        } else {
            Outcome::Attention
        }
    }

    /// The review lines for stderr (the cron mail), one per hospital, fiscal year and regime.
    pub(crate) fn lines(&self, lang: crate::cli::Lang) -> impl Iterator<Item = String> + '_ {
        let prefix = match lang {
            crate::cli::Lang::En => "needs review",
            crate::cli::Lang::Ja => "要確認",
        };
        self.attention
            .iter()
            .map(move |a| a.line(lang))
            .chain(self.approval.iter().map(move |a| a.line(lang)))
            .map(move |line| format!("refrate: {prefix}: {line}"))
    }
}

/// A failing row, or one with a rate exactly on a threshold (the rounding of a form must not
/// decide it unseen).
fn needs_review(row: &RateRow) -> bool {
    matches!(row.verdict, Verdict::Fail | Verdict::Undetermined) || row.on_boundary
}

/// A checked hospital, fiscal year and regime that needs review: one line of the cron mail.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Attention {
    pub code: String,
    pub name: Option<String>,
    pub fiscal_year: FiscalYear,
    pub regime: String,
    /// Fails (otherwise it passes or is computed, but sits exactly on a threshold).
    pub fails: bool,
    pub verdict: Verdict,
    /// The rates as shown, with their unit (`50.0 %`), `-` without a denominator.
    pub referral: String,
    pub reverse: String,
    pub referral_gap: Option<u64>,
    pub reverse_gap: Option<u64>,
}

impl Attention {
    fn of(row: &RateRow, name: Option<String>, fiscal_year: FiscalYear) -> Attention {
        let rate = |shown: Option<String>, unit: &str| {
            shown.map(|d| format!("{d} {unit}")).unwrap_or_else(|| "-".into())
        };
        Attention {
            code: row.hospital_code.clone(),
            name,
            fiscal_year,
            regime: row.regime_id.clone(),
            fails: row.verdict == Verdict::Fail,
            verdict: row.verdict,
            referral: rate(row.referral_display(), row.referral_unit),
            reverse: rate(row.reverse_display(), row.reverse_unit),
            referral_gap: row.referral_gap.filter(|g| *g > 0),
            reverse_gap: row.reverse_gap.filter(|g| *g > 0),
        }
    }

    /// The line, in a few words a liaison office reads in a mail.
    pub(crate) fn line(&self, lang: crate::cli::Lang) -> String {
        use crate::cli::Lang;
        let rates = format!("紹介率 {}, 逆紹介率 {}", self.referral, self.reverse);
        match lang {
            Lang::En => {
                let name = self.name.as_deref().unwrap_or("(no name in the hospital master)");
                let gaps = [("referred", self.referral_gap), ("reverse-referred", self.reverse_gap)]
                    .into_iter()
                    .filter_map(|(what, gap)| gap.map(|g| format!("{g} more {what}")))
                    .collect::<Vec<_>>();
                let why = if self.verdict == Verdict::Undetermined {
                    format!(
                        "undetermined: masked counts (a value from 1 to 10) decide it, review it ({rates})"
                    )
                } else if !self.fails {
                    format!("{} but sits exactly on a threshold, review it ({rates})", self.verdict)
                } else if gaps.is_empty() {
                    format!("fails ({rates})")
                } else {
                    format!("fails ({rates}; nearest criterion needs {})", gaps.join(" and "))
                };
                format!("{} {name} FY{} {}: {why}", self.code, self.fiscal_year, self.regime)
            }
            Lang::Ja => {
                let name = self.name.as_deref().unwrap_or("（病院一覧に名称なし）");
                let gaps = [("紹介患者", self.referral_gap), ("逆紹介患者", self.reverse_gap)]
                    .into_iter()
                    .filter_map(|(what, gap)| gap.map(|g| format!("{what}あと {g} 人")))
                    .collect::<Vec<_>>();
                let why = if self.verdict == Verdict::Undetermined {
                    format!("秘匿値（1〜10）によって結果が変わるため判定不能、要確認（{rates}）")
                } else if !self.fails {
                    format!("基準値とちょうど等しく、要確認（{rates}）")
                } else if gaps.is_empty() {
                    format!("要件を満たしていません（{rates}）")
                } else {
                    format!("要件を満たしていません（{rates}。最も近い基準まで{}）", gaps.join("、"))
                };
                format!(
                    "{} {name} {} {}: {why}",
                    self.code,
                    crate::report::format::fy_ja(self.fiscal_year.0),
                    self.regime
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_year_is_checked_until_its_report_is_due() {
        let years = |m| checked_fiscal_years(m).into_iter().map(|fy| fy.0).collect::<Vec<_>>();
        assert_eq!(years(None), Vec::<i32>::new());
        // April–September: the previous year's 業務報告 is still to be filed by 10月5日.
        assert_eq!(years(Some("2026-04")), [2025, 2026]);
        assert_eq!(years(Some("2026-09")), [2025, 2026]);
        assert_eq!(years(Some("2026-10")), [2026]);
        assert_eq!(years(Some("2027-03")), [2026]);
    }
}
