//! Periods: months, fiscal years (April–March) and the windows built from them.
//!
//! A period is a named set of months; the engine sums monthly counts over it. This module
//! only does calendar arithmetic on `YYYY-MM` strings.

use std::collections::BTreeSet;

/// One month of one period, a row of the engine's `periods` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeriodMonth {
    pub kind: String,
    pub period: String,
    pub month: String,
    pub months_in_period: u32,
}

/// The period kinds `refrate rates --period` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum PeriodKind {
    /// Each calendar month.
    Month,
    /// April to March; `2025` is 2025-04..2026-03 (令和7年度).
    FiscalYear,
    /// From April of the latest fiscal year to the latest month with data.
    Ytd,
    /// The 12 months ending with each month.
    #[value(name = "rolling-12")]
    Rolling12,
    /// Every run of 6 consecutive months within a fiscal year (the fee schedule lets a
    /// hospital that failed recover by meeting the standard for 6 consecutive months).
    #[value(name = "six-months")]
    SixMonths,
    /// Every run of 3 consecutive months (the fee schedule's period before a new 届出).
    #[value(name = "three-months")]
    ThreeMonths,
}

impl PeriodKind {
    pub const ALL: [PeriodKind; 6] = [
        PeriodKind::Month,
        PeriodKind::FiscalYear,
        PeriodKind::Ytd,
        PeriodKind::Rolling12,
        PeriodKind::SixMonths,
        PeriodKind::ThreeMonths,
    ];

    /// The kind named by [`PeriodKind::name`] (the engine's `period_kind` column).
    pub fn from_name(name: &str) -> Option<PeriodKind> {
        PeriodKind::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            PeriodKind::Month => "month",
            PeriodKind::FiscalYear => "fiscal-year",
            PeriodKind::Ytd => "ytd",
            PeriodKind::Rolling12 => "rolling-12",
            PeriodKind::SixMonths => "six-months",
            PeriodKind::ThreeMonths => "three-months",
        }
    }
}

/// Ordered by name, as SQL orders the `period_kind` column.
impl Ord for PeriodKind {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

impl PartialOrd for PeriodKind {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Parses `YYYY-MM` into (year, month).
pub(crate) fn parse_month(month: &str) -> Option<(i32, u32)> {
    let (y, m) = month.split_once('-')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
    (1..=12).contains(&m).then_some((y, m))
}

fn index(month: &str) -> Option<i32> {
    parse_month(month).map(|(y, m)| y * 12 + m as i32 - 1)
}

fn from_index(i: i32) -> String {
    format!("{:04}-{:02}", i.div_euclid(12), i.rem_euclid(12) + 1)
}

/// The fiscal year a month belongs to: 2026-03 → 2025, 2026-04 → 2026.
pub(crate) fn fiscal_year_of(month: &str) -> Option<i32> {
    crate::domain::FiscalYear::of_month(month).map(|fy| fy.0)
}

/// The twelve months of a fiscal year, April first.
pub(crate) fn months_of_fiscal_year(fy: i32) -> Vec<String> {
    let start = fy * 12 + 3;
    (start..start + 12).map(from_index).collect()
}

/// The months the data covers: those with monthly data, and the first and last month of each
/// fiscal year reported only as a whole (it has no monthly rows but needs a calendar).
pub(crate) fn covered_months(
    months: &BTreeSet<String>,
    reported_fiscal_years: &BTreeSet<i32>,
) -> BTreeSet<String> {
    let mut covered = months.clone();
    covered.extend(
        reported_fiscal_years.iter().flat_map(|fy| [format!("{fy:04}-04"), format!("{:04}-03", fy + 1)]),
    );
    covered
}

/// The months from `first` to `last` inclusive.
pub(crate) fn month_range(first: &str, last: &str) -> Vec<String> {
    match (index(first), index(last)) {
        (Some(a), Some(b)) => (a..=b).map(from_index).collect(),
        _ => Vec::new(),
    }
}

/// The label of the 12 months ending with `end`: `2024-07..2025-06`, like every window's label.
pub(crate) fn rolling12_label(end: &str) -> String {
    let start = index(end).map(|e| from_index(e - 11)).unwrap_or_default();
    format!("{start}..{end}")
}

/// The calendar for `kind` over the months that have data.
pub(crate) fn calendar(kind: PeriodKind, data_months: &BTreeSet<String>) -> Vec<PeriodMonth> {
    let row = |period: String, month: String, n: u32| PeriodMonth {
        kind: kind.name().to_string(),
        period,
        month,
        months_in_period: n,
    };
    let (Some(first), Some(last)) = (data_months.first(), data_months.last()) else {
        return Vec::new();
    };
    match kind {
        PeriodKind::Month => month_range(first, last).into_iter().map(|m| row(m.clone(), m, 1)).collect(),
        PeriodKind::FiscalYear => {
            let (a, b) = (fiscal_year_of(first).unwrap_or(0), fiscal_year_of(last).unwrap_or(0));
            (a..=b)
                .flat_map(|fy| months_of_fiscal_year(fy).into_iter().map(move |m| (fy, m)))
                .map(|(fy, m)| row(fy.to_string(), m, 12))
                .collect()
        }
        PeriodKind::Ytd => {
            let fy = fiscal_year_of(last).unwrap_or(0);
            let months = month_range(&format!("{fy:04}-04"), last);
            let n = months.len() as u32;
            let label = format!("{fy:04}-04..{last}");
            months.into_iter().map(|m| row(label.clone(), m, n)).collect()
        }
        PeriodKind::Rolling12 => month_range(first, last)
            .into_iter()
            .flat_map(|end| {
                let e = index(&end).unwrap_or(0);
                let label = rolling12_label(&end);
                (e - 11..=e).map(move |i| (label.clone(), from_index(i)))
            })
            .map(|(label, m)| row(label, m, 12))
            .collect(),
        PeriodKind::SixMonths => {
            let (a, b) = (fiscal_year_of(first).unwrap_or(0), fiscal_year_of(last).unwrap_or(0));
            let mut out = Vec::new();
            for fy in a..=b {
                let months = months_of_fiscal_year(fy);
                for window in months.windows(6) {
                    let label = format!("{}..{}", window[0], window[5]);
                    out.extend(window.iter().map(|m| row(label.clone(), m.clone(), 6)));
                }
            }
            out
        }
        // Across fiscal years: a 届出 can be made in any month.
        PeriodKind::ThreeMonths => month_range(first, last)
            .windows(3)
            .flat_map(|w| {
                let label = format!("{}..{}", w[0], w[2]);
                w.iter().map(move |m| (label.clone(), m.clone())).collect::<Vec<_>>()
            })
            .map(|(label, m)| row(label, m, 3))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fiscal_year_runs_april_to_march() {
        assert_eq!(fiscal_year_of("2025-04"), Some(2025));
        assert_eq!(fiscal_year_of("2026-03"), Some(2025));
        assert_eq!(fiscal_year_of("2026-04"), Some(2026));
        assert_eq!(fiscal_year_of("2025-13"), None);
        let m = months_of_fiscal_year(2025);
        assert_eq!((m.len(), m[0].as_str(), m[11].as_str()), (12, "2025-04", "2026-03"));
    }

    #[test]
    fn three_month_windows_cross_the_fiscal_year() {
        let months: BTreeSet<String> = ["2025-02", "2025-05"].iter().map(|m| m.to_string()).collect();
        let cal = calendar(PeriodKind::ThreeMonths, &months);
        let labels: BTreeSet<&str> = cal.iter().map(|p| p.period.as_str()).collect();
        assert_eq!(labels.into_iter().collect::<Vec<_>>(), ["2025-02..2025-04", "2025-03..2025-05"]);
        assert!(cal.iter().all(|p| p.months_in_period == 3));
        assert_eq!(cal.iter().filter(|p| p.period == "2025-02..2025-04").count(), 3);
    }

    #[test]
    fn calendars_cover_the_data() {
        let data: BTreeSet<String> = ["2025-02", "2025-05"].iter().map(|s| s.to_string()).collect();
        let fy = calendar(PeriodKind::FiscalYear, &data);
        // FY2024 and FY2025, twelve months each.
        assert_eq!(fy.len(), 24);
        assert_eq!(fy[0].period, "2024");
        assert_eq!(fy[0].month, "2024-04");
        let months = calendar(PeriodKind::Month, &data);
        assert_eq!(
            months.iter().map(|p| p.month.as_str()).collect::<Vec<_>>(),
            ["2025-02", "2025-03", "2025-04", "2025-05"]
        );
        let ytd = calendar(PeriodKind::Ytd, &data);
        assert_eq!(ytd.iter().map(|p| p.month.as_str()).collect::<Vec<_>>(), ["2025-04", "2025-05"]);
        assert_eq!(ytd[0].period, "2025-04..2025-05");
        let rolling = calendar(PeriodKind::Rolling12, &data);
        assert_eq!(rolling.len(), 4 * 12);
        assert_eq!(rolling[0].month, "2024-03");
        assert_eq!(rolling[11].month, "2025-02");
        assert_eq!(rolling[0].period, "2024-03..2025-02", "a window's label names both ends");
        // Seven 6-month windows per fiscal year: Apr–Sep … Oct–Mar, never across a year.
        let six = calendar(PeriodKind::SixMonths, &data);
        assert_eq!(six.len(), 2 * 7 * 6);
        let labels: BTreeSet<&str> = six.iter().map(|p| p.period.as_str()).collect();
        assert!(labels.contains("2025-04..2025-09") && labels.contains("2025-10..2026-03"));
        assert!(!labels.iter().any(|l| l.starts_with("2025-01")));
    }
}
