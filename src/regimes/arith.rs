//! Exact arithmetic on referral ratios: no floating point anywhere a verdict depends on it.

use std::cmp::Ordering;
use std::fmt;

use super::model::Op;

/// A threshold as an exact decimal `numerator / denominator` (denominator a power of ten),
/// in the metric's own unit: `65` means 65 % for a percent metric, `30` means 30 ‰.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Threshold {
    pub numerator: u64,
    pub denominator: u64,
}

impl Threshold {
    /// Parses a non-negative decimal such as `80`, `65.5` or `0.25` without going through a float.
    pub(crate) fn parse(text: &str) -> Option<Threshold> {
        let text = text.trim();
        let (int_part, frac_part) = match text.split_once('.') {
            Some((i, f)) => (i, f),
            None => (text, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        if !int_part.chars().all(|c| c.is_ascii_digit())
            || !frac_part.chars().all(|c| c.is_ascii_digit())
            || frac_part.len() > 6
        {
            return None;
        }
        let digits = format!("{int_part}{frac_part}");
        let numerator: u64 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
        let denominator = 10u64.checked_pow(frac_part.len() as u32)?;
        Some(Threshold { numerator, denominator })
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let places = self.denominator.ilog10() as usize;
        if places == 0 {
            write!(f, "{}", self.numerator)
        } else {
            let int = self.numerator / self.denominator;
            let frac = self.numerator % self.denominator;
            write!(f, "{int}.{frac:0places$}")
        }
    }
}

/// A ratio of two counts, shown on a `scale` (100 for %, 1000 for ‰).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ratio {
    pub numerator: u64,
    pub denominator: u64,
    pub scale: u64,
}

impl Ratio {
    /// Compares `numerator / denominator × scale` with the threshold exactly, or `None` when the
    /// denominator is zero (no rate exists).
    pub(crate) fn cmp_threshold(&self, t: Threshold) -> Option<Ordering> {
        if self.denominator == 0 {
            return None;
        }
        let lhs = u128::from(self.numerator) * u128::from(self.scale) * u128::from(t.denominator);
        let rhs = u128::from(t.numerator) * u128::from(self.denominator);
        Some(lhs.cmp(&rhs))
    }

    /// Whether the ratio meets `op threshold`; `None` without a denominator. A test oracle
    /// only: whether a condition is met is decided by `queries/regime_conditions.sql`.
    #[cfg(test)]
    pub(crate) fn satisfies(&self, op: Op, t: Threshold) -> Option<bool> {
        self.cmp_threshold(t).map(|ord| match op {
            Op::Ge => ord != Ordering::Less,
            Op::Gt => ord == Ordering::Greater,
        })
    }

    /// The value for display with one decimal, rounded half up (四捨五入); `None` when the
    /// denominator is zero.
    pub(crate) fn display(&self) -> Option<String> {
        display_half_up(self.numerator, self.denominator, self.scale)
    }

    /// The value in tenths of the unit, rounded half up, for charts.
    pub(crate) fn tenths(&self) -> Option<u128> {
        tenths_half_up(self.numerator, self.denominator, self.scale)
    }

    /// The value with two decimals, truncated: 3,876 / 4,848 → "79.95" (never rounded up onto
    /// a threshold the value misses).
    pub(crate) fn hundredths_floor(&self) -> Option<String> {
        if self.denominator == 0 {
            return None;
        }
        let h = u128::from(self.numerator) * u128::from(self.scale) * 100 / u128::from(self.denominator);
        Some(format!("{}.{:02}", h / 100, h % 100))
    }

    /// Whether the one-decimal display equals `t` although the exact value does not (79.95 %
    /// shows as 80.0 % and fails ≥ 80 %): the page must then show why.
    pub(crate) fn display_hides_difference(&self, t: Threshold) -> bool {
        let Some(tenths) = self.tenths() else { return false };
        let shows_threshold = tenths * u128::from(t.denominator) == u128::from(t.numerator) * 10;
        shows_threshold && self.cmp_threshold(t) != Some(Ordering::Equal)
    }
}

fn tenths_half_up(numerator: u64, denominator: u64, scale: u64) -> Option<u128> {
    if denominator == 0 {
        return None;
    }
    let scaled = u128::from(numerator) * u128::from(scale) * 10;
    let den = u128::from(denominator);
    Some((2 * scaled + den) / (2 * den))
}

/// `numerator / denominator × scale` with one decimal, half up: 29.96 ‰ → "30.0".
pub(crate) fn display_half_up(numerator: u64, denominator: u64, scale: u64) -> Option<String> {
    tenths_half_up(numerator, denominator, scale).map(|t| format!("{}.{}", t / 10, t % 10))
}

/// The smallest number `x` of additional events that makes
/// `(numerator + a·x) / (denominator + b·x) × scale  op  threshold` true, where `a` and `b` say
/// how much one additional event adds above and below the line (a referred first visit adds one
/// to both `referred` and `initial`; a reverse referral adds to the numerator only).
/// `Some(0)` when already met, `None` when no number of such events can meet it.
pub(crate) fn gap_to(ratio: Ratio, a: u64, b: u64, op: Op, t: Threshold) -> Option<u64> {
    let q = i128::from(t.denominator);
    let p = i128::from(t.numerator);
    let s = i128::from(ratio.scale);
    let n = i128::from(ratio.numerator);
    let d = i128::from(ratio.denominator);
    if d == 0 && b == 0 {
        return None;
    }
    // With a zero denominator the ratio exists only once one event is added.
    let x_min: i128 = if d == 0 { 1 } else { 0 };
    // q·s·(n + a·x)  op  p·(d + b·x)   ⇔   x·c  op  r
    let c = q * s * i128::from(a) - p * i128::from(b);
    let r = p * d - q * s * n;
    let holds = |x: i128| match op {
        Op::Ge => x * c >= r,
        Op::Gt => x * c > r,
    };
    let x = if c > 0 {
        let x = match op {
            Op::Ge => (r + c - 1).div_euclid(c),
            Op::Gt => r.div_euclid(c) + 1,
        };
        x.max(x_min)
    } else if holds(x_min) {
        // Adding events never helps (c ≤ 0), so only the starting point can work.
        x_min
    } else {
        return None;
    };
    u64::try_from(x).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_display_on_the_line_that_is_not_on_it_is_recognised() {
        let t = Threshold::parse("80").unwrap();
        let near = Ratio { numerator: 3876, denominator: 4848, scale: 100 };
        assert_eq!(near.display().as_deref(), Some("80.0"));
        assert!(near.display_hides_difference(t));
        assert_eq!(near.hundredths_floor().as_deref(), Some("79.95"));
        let exact = Ratio { numerator: 80, denominator: 100, scale: 100 };
        assert!(!exact.display_hides_difference(t), "exactly on the line is on_boundary, not hidden");
        let far = Ratio { numerator: 79, denominator: 100, scale: 100 };
        assert!(!far.display_hides_difference(t));
        let permille = Ratio { numerator: 2996, denominator: 100_000, scale: 1000 };
        assert!(permille.display_hides_difference(Threshold::parse("30").unwrap()));
        assert_eq!(permille.hundredths_floor().as_deref(), Some("29.96"));
    }

    fn r(n: u64, d: u64, s: u64) -> Ratio {
        Ratio { numerator: n, denominator: d, scale: s }
    }
    fn t(s: &str) -> Threshold {
        Threshold::parse(s).unwrap()
    }

    #[test]
    fn threshold_parses_decimals_exactly() {
        assert_eq!(t("80"), Threshold { numerator: 80, denominator: 1 });
        assert_eq!(t("65.5"), Threshold { numerator: 655, denominator: 10 });
        assert_eq!(t("0.25"), Threshold { numerator: 25, denominator: 100 });
        assert_eq!(t("65.5").to_string(), "65.5");
        assert_eq!(t("0.05").to_string(), "0.05");
        for bad in ["", "-1", "1e3", "abc", "1.2.3", "."] {
            assert_eq!(Threshold::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn exactly_on_the_line_meets_ge_but_not_gt() {
        // 80 referred of 100 initial = exactly 80 %.
        assert_eq!(r(80, 100, 100).satisfies(Op::Ge, t("80")), Some(true));
        assert_eq!(r(80, 100, 100).satisfies(Op::Gt, t("80")), Some(false));
        // 65 of 100 is not "> 65"; 651 of 1000 (65.1 %) is.
        assert_eq!(r(65, 100, 100).satisfies(Op::Gt, t("65")), Some(false));
        assert_eq!(r(651, 1000, 100).satisfies(Op::Gt, t("65")), Some(true));
        // One below the line.
        assert_eq!(r(79, 100, 100).satisfies(Op::Ge, t("80")), Some(false));
    }

    #[test]
    fn per_mille_that_displays_as_30_still_fails_30() {
        // 2996 / 100000 × 1000 = 29.96 ‰ → "30.0", but 29.96 < 30.
        let ratio = r(2996, 100_000, 1000);
        assert_eq!(ratio.display().as_deref(), Some("30.0"));
        assert_eq!(ratio.satisfies(Op::Ge, t("30")), Some(false));
    }

    #[test]
    fn display_rounds_half_up() {
        // 1/8 = 12.5 % exactly → "12.5"; 1/16 = 6.25 % → "6.3" (half up), 1/3 = 33.33 → "33.3".
        assert_eq!(display_half_up(1, 8, 100).as_deref(), Some("12.5"));
        assert_eq!(display_half_up(1, 16, 100).as_deref(), Some("6.3"));
        assert_eq!(display_half_up(1, 3, 100).as_deref(), Some("33.3"));
        assert_eq!(display_half_up(2, 3, 100).as_deref(), Some("66.7"));
        // Above 100 % is normal for reverse referral: 150/100 → 150.0.
        assert_eq!(display_half_up(150, 100, 100).as_deref(), Some("150.0"));
        assert_eq!(display_half_up(0, 7, 100).as_deref(), Some("0.0"));
        assert_eq!(display_half_up(5, 0, 100), None);
    }

    #[test]
    fn zero_denominator_has_no_rate_and_no_verdict() {
        assert_eq!(r(0, 0, 100).satisfies(Op::Ge, t("80")), None);
        assert_eq!(r(0, 0, 100).display(), None);
    }

    /// Brute force: the smallest x for which the condition holds after adding x events.
    fn brute(ratio: Ratio, a: u64, b: u64, op: Op, th: Threshold) -> Option<u64> {
        (0..1_000_000u64).find(|&x| {
            let after = r(ratio.numerator + a * x, ratio.denominator + b * x, ratio.scale);
            after.satisfies(op, th) == Some(true)
        })
    }

    #[test]
    fn referral_gap_counts_the_denominator_effect() {
        // 70 of 100 = 70 %. To reach ≥ 80 % adding referred first visits (each also adds one to
        // the denominator): (70 + x) / (100 + x) ≥ 0.8 ⇔ x ≥ (80 − 70) / 0.2 = 50.
        let ratio = r(70, 100, 100);
        assert_eq!(gap_to(ratio, 1, 1, Op::Ge, t("80")), Some(50));
        assert_eq!(r(120, 150, 100).satisfies(Op::Ge, t("80")), Some(true));
        assert_eq!(r(119, 149, 100).satisfies(Op::Ge, t("80")), Some(false));
        // Strictly greater: 50 gives exactly 80 %, so 51 are needed.
        assert_eq!(gap_to(ratio, 1, 1, Op::Gt, t("80")), Some(51));
    }

    #[test]
    fn reverse_gap_leaves_the_denominator_alone() {
        // 30 of 100 = 30 %; ≥ 40 % needs 10 more; > 40 % needs 11.
        assert_eq!(gap_to(r(30, 100, 100), 1, 0, Op::Ge, t("40")), Some(10));
        assert_eq!(gap_to(r(30, 100, 100), 1, 0, Op::Gt, t("40")), Some(11));
        // Per mille over first + return visits: 12172 / 170354 = 71.45 ‰ ≥ 30 ‰ already.
        assert_eq!(gap_to(r(12172, 170_354, 1000), 1, 0, Op::Ge, t("30")), Some(0));
    }

    #[test]
    fn gaps_are_the_smallest_integers_that_work() {
        let cases = [
            (r(70, 100, 100), 1, 1, Op::Ge, t("80")),
            (r(70, 100, 100), 1, 1, Op::Gt, t("80")),
            (r(0, 1, 100), 1, 1, Op::Gt, t("65")),
            (r(333, 1000, 100), 1, 0, Op::Gt, t("40")),
            (r(2996, 100_000, 1000), 1, 0, Op::Ge, t("30")),
            (r(17, 91, 100), 1, 1, Op::Ge, t("65.5")),
            (r(0, 0, 100), 1, 1, Op::Ge, t("50")),
            (r(5, 0, 100), 1, 0, Op::Ge, t("50")),
            (r(1, 3, 100), 2, 1, Op::Ge, t("60")),
        ];
        for (ratio, a, b, op, th) in cases {
            let gap = gap_to(ratio, a, b, op, th);
            assert_eq!(gap, brute(ratio, a, b, op, th), "{ratio:?} a={a} b={b} {op:?} {th}");
            if let Some(x) = gap.filter(|&x| x > 0) {
                let before = r(ratio.numerator + a * (x - 1), ratio.denominator + b * (x - 1), ratio.scale);
                assert_ne!(before.satisfies(op, th), Some(true), "x-1 must not be enough");
            }
        }
    }

    #[test]
    fn unreachable_threshold_has_no_gap() {
        // 100 % is the ceiling when every added event adds to both sides: > 100 % is impossible.
        assert_eq!(gap_to(r(5, 10, 100), 1, 1, Op::Gt, t("100")), None);
    }
}
