//! Japanese display formatting: era fiscal years, thousands separators, verdict wording.
//! Pure functions; the template filters in `mod.rs` are thin wrappers over them.
use crate::domain::Verdict;

/// Japanese fiscal-year label in the era in which the fiscal year is officially named.
///
/// A fiscal year is named after the era of its start (April). FY2019 started in April 2019,
/// still 平成31年, but the government names it 令和元年度 (the era changed on 2019-05-01), so
/// every fiscal year from 2019 is 令和 and 1989–2018 is 平成. Years before 1989 are written in
/// the Western calendar (`"1988年度"`); no report covers them.
pub(crate) fn fy_ja(fiscal_year: i32) -> String {
    let (era, year) = match fiscal_year {
        2019.. => ("令和", fiscal_year - 2018),
        1989..=2018 => ("平成", fiscal_year - 1988),
        _ => return format!("{fiscal_year}年度"),
    };
    if year == 1 { format!("{era}元年度") } else { format!("{era}{year}年度") }
}

/// `2025` → `"FY2025"`.
pub(crate) fn fy_en(fiscal_year: i32) -> String {
    format!("FY{fiscal_year}")
}

/// The months a fiscal year covers: `2025` → `"2025年4月〜2026年3月"`.
pub(crate) fn fy_period_ja(fiscal_year: i32) -> String {
    format!("{fiscal_year}年4月〜{}年3月", fiscal_year + 1)
}

/// `12345` → `"12,345"`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A count as the pages show it: `9,811`, `1〜10` when masked (an interval), `—` when not
/// reported (never a 0 that was not counted).
pub(crate) fn count_cell(exact: Option<u64>, masked: Option<&(u64, u64)>) -> String {
    match (exact, masked) {
        (Some(v), _) => thousands(v),
        (None, Some((low, high))) => format!("{}〜{}", thousands(*low), thousands(*high)),
        (None, None) => "—".to_string(),
    }
}

/// `"pass"` → `"満たしています"` (templates receive verdicts as their codes); `None` for a
/// word that is not a [`Verdict`] code.
pub(crate) fn verdict_ja(verdict: &str) -> Option<&'static str> {
    Verdict::from_code(verdict).map(Verdict::label_ja)
}

/// The headline sentence of a regime's result, e.g.
/// `"地域医療支援病院の紹介率・逆紹介率要件を満たしています（基準B）"`.
/// `None` for a word that is not a [`Verdict`] code.
pub(crate) fn verdict_sentence_ja(name_ja: &str, verdict: &str, met_criteria: &[String]) -> Option<String> {
    let sentence = match Verdict::from_code(verdict)? {
        Verdict::Pass if met_criteria.is_empty() => {
            format!("{name_ja}の紹介率・逆紹介率要件を満たしています")
        }
        Verdict::Pass => {
            format!("{name_ja}の紹介率・逆紹介率要件を満たしています（{}）", met_criteria.join("・"))
        }
        Verdict::Fail => format!("{name_ja}の紹介率・逆紹介率要件を満たしていません"),
        Verdict::NoData => format!("{name_ja}の要件を判定するデータがありません"),
        Verdict::NotComputable => format!("{name_ja}の紹介率・逆紹介率を算出できません"),
        Verdict::Undetermined => {
            format!(
                "{name_ja}の紹介率・逆紹介率要件は、秘匿された値（1〜10）によって結果が変わるため判定できません"
            )
        }
    };
    Some(sentence)
}

/// `"2025-04"` → `"2025年4月"`; any other shape is returned unchanged.
pub(crate) fn month_ja(month: &str) -> String {
    match split_month(month) {
        Some((year, m)) => format!("{year}年{m}月"),
        None => month.to_owned(),
    }
}

/// `"2025-04"` → `"4月"` (chart axis); any other shape is returned unchanged.
pub(crate) fn month_short_ja(month: &str) -> String {
    match split_month(month) {
        Some((_, m)) => format!("{m}月"),
        None => month.to_owned(),
    }
}

fn split_month(month: &str) -> Option<(u32, u32)> {
    let (year, m) = month.split_once('-')?;
    if year.len() != 4 || m.len() != 2 || !(year.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let m: u32 = m.parse().ok()?;
    (1..=12).contains(&m).then_some((year.parse().ok()?, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fy_ja_names_the_era_of_the_fiscal_year() {
        assert_eq!(fy_ja(2025), "令和7年度");
        assert_eq!(fy_ja(2020), "令和2年度");
        assert_eq!(fy_ja(2019), "令和元年度");
        assert_eq!(fy_ja(2018), "平成30年度");
        assert_eq!(fy_ja(1990), "平成2年度");
        assert_eq!(fy_ja(1989), "平成元年度");
        assert_eq!(fy_ja(1988), "1988年度");
    }

    #[test]
    fn fy_en_and_period() {
        assert_eq!(fy_en(2025), "FY2025");
        assert_eq!(fy_period_ja(2025), "2025年4月〜2026年3月");
    }

    #[test]
    fn thousands_inserts_separators_every_three_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(12345), "12,345");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn verdict_words() {
        assert_eq!(verdict_ja("pass"), Some("満たしています"));
        assert_eq!(verdict_ja("fail"), Some("満たしていません"));
        assert_eq!(verdict_ja("no_data"), Some("データなし"));
        assert_eq!(verdict_ja("not_computable"), Some("算出不可"));
        assert_eq!(verdict_ja("PASS"), None);
    }

    #[test]
    fn verdict_sentence_names_regime_and_criteria() {
        let b = vec!["基準B".to_owned()];
        assert_eq!(
            verdict_sentence_ja("地域医療支援病院", "pass", &b).unwrap(),
            "地域医療支援病院の紹介率・逆紹介率要件を満たしています（基準B）"
        );
        let ab = vec!["基準A".to_owned(), "基準B".to_owned()];
        // Names come from the regime data: a single criterion may be called 目標値.
        assert_eq!(
            verdict_sentence_ja("地域医療支援病院", "pass", &ab).unwrap(),
            "地域医療支援病院の紹介率・逆紹介率要件を満たしています（基準A・基準B）"
        );
        assert_eq!(
            verdict_sentence_ja("地域医療支援病院", "fail", &[]).unwrap(),
            "地域医療支援病院の紹介率・逆紹介率要件を満たしていません"
        );
        assert!(verdict_sentence_ja("x", "maybe", &[]).is_none());
    }

    #[test]
    fn month_labels() {
        assert_eq!(month_ja("2025-04"), "2025年4月");
        assert_eq!(month_short_ja("2026-03"), "3月");
        assert_eq!(month_ja("2025-13"), "2025-13");
        assert_eq!(month_short_ja("R7.4"), "R7.4");
    }
}
