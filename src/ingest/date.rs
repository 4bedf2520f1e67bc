//! Dates as hospital systems write them: Gregorian (`2025-04-01`, `2025/4/1`, `20250401`,
//! `2025年4月1日`) and Japanese era (`R7.4.1`, `R07/04/01`, `令和7年4月1日`, `令和元年5月1日`).

use std::fmt;

use chrono::{Datelike, NaiveDate};

use super::text::normalize_value;

/// The Japanese eras a hospital log can contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Era {
    /// 昭和, 1926-12-25 ..= 1989-01-07.
    Showa,
    /// 平成, 1989-01-08 ..= 2019-04-30.
    Heisei,
    /// 令和, from 2019-05-01.
    Reiwa,
}

impl Era {
    /// The Japanese name, e.g. "令和".
    pub(crate) fn name_ja(self) -> &'static str {
        match self {
            Era::Showa => "昭和",
            Era::Heisei => "平成",
            Era::Reiwa => "令和",
        }
    }

    /// Gregorian year of the era's year 1 (元年), minus one.
    fn year_offset(self) -> i32 {
        match self {
            Era::Showa => 1925,
            Era::Heisei => 1988,
            Era::Reiwa => 2018,
        }
    }

    /// First day of the era.
    pub(crate) fn first_day(self) -> NaiveDate {
        match self {
            Era::Showa => ymd(1926, 12, 25),
            Era::Heisei => ymd(1989, 1, 8),
            Era::Reiwa => ymd(2019, 5, 1),
        }
    }

    /// Last day of the era, `None` for the current one.
    pub(crate) fn last_day(self) -> Option<NaiveDate> {
        match self {
            Era::Showa => Some(ymd(1989, 1, 7)),
            Era::Heisei => Some(ymd(2019, 4, 30)),
            Era::Reiwa => None,
        }
    }

    fn contains(self, d: NaiveDate) -> bool {
        d >= self.first_day() && self.last_day().is_none_or(|last| d <= last)
    }
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("era boundary is a valid date")
}

/// Why a value is not a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DateError {
    /// Not in any accepted form.
    Unreadable,
    /// Well formed, but the day does not exist (2025-02-30).
    NoSuchDay { year: i32, month: u32, day: u32 },
    /// An era date outside its era (H31.5.1, R1.4.30).
    OutsideEra { era: Era, era_year: u32, date: NaiveDate },
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DateError::Unreadable => f.write_str(
                "not a date; accepted forms: 2025-04-01, 2025/4/1, 20250401, 2025年4月1日, \
                 R7.4.1, R07/04/01, 令和7年4月1日",
            ),
            DateError::NoSuchDay { year, month, day } => {
                write!(f, "no such day: {year:04}-{month:02}-{day:02}")
            }
            DateError::OutsideEra { era, era_year, date } => {
                let (first, last) = (era.first_day(), era.last_day());
                let span = match last {
                    Some(last) => format!("{first} to {last}"),
                    None => format!("from {first}"),
                };
                write!(
                    f,
                    "{}{}年{}月{}日 would be {date}, outside {} ({span})",
                    era.name_ja(),
                    era_year,
                    date.month(),
                    date.day(),
                    era.name_ja(),
                )
            }
        }
    }
}

/// Parses a date in any accepted form (see the module doc). Surrounding blanks and full-width
/// digits are accepted.
pub(crate) fn parse_date(raw: &str) -> Result<NaiveDate, DateError> {
    if let Some(ymd) = iso_fast_path(raw.as_bytes()) {
        return make(ymd.0, ymd.1, ymd.2);
    }
    let v = normalize_value(raw);
    let s: &str = &v;
    let (era, rest) = strip_era(s);

    // 20250401
    if era.is_none() && rest.len() == 8 && rest.bytes().all(|b| b.is_ascii_digit()) {
        let n = |r: std::ops::Range<usize>| rest[r].parse::<u32>().ok();
        let (y, m, d) = (n(0..4), n(4..6), n(6..8));
        return match (y, m, d) {
            (Some(y), Some(m), Some(d)) => make(y as i32, m, d),
            _ => Err(DateError::Unreadable),
        };
    }

    let mut c = Cursor(rest);
    let year = if era.is_some() && c.eat("元") {
        1
    } else {
        let (y, len) = c.number().ok_or(DateError::Unreadable)?;
        let ok_len = if era.is_some() { (1..=2).contains(&len) } else { len == 4 };
        if !ok_len {
            return Err(DateError::Unreadable);
        }
        y
    };
    let sep = c.separator().ok_or(DateError::Unreadable)?;
    let month = c.short_number().ok_or(DateError::Unreadable)?;
    let kanji = sep == Sep::Kanji;
    let second_ok = if kanji { c.eat("月") } else { c.eat(sep.as_str()) };
    if !second_ok {
        return Err(DateError::Unreadable);
    }
    let day = c.short_number().ok_or(DateError::Unreadable)?;
    if kanji {
        c.eat("日");
    }
    if !c.0.is_empty() {
        return Err(DateError::Unreadable);
    }

    match era {
        None => make(year as i32, month, day),
        Some(era) => {
            let gy = era.year_offset() + year as i32;
            let date = make(gy, month, day)?;
            if era.contains(date) {
                Ok(date)
            } else {
                Err(DateError::OutsideEra { era, era_year: year, date })
            }
        }
    }
}

/// `YYYY-MM-DD` exactly, the canonical form and by far the most common one.
fn iso_fast_path(b: &[u8]) -> Option<(i32, u32, u32)> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let mut n = [0u32; 8];
    for (k, &i) in [0, 1, 2, 3, 5, 6, 8, 9].iter().enumerate() {
        let c = b[i];
        if !c.is_ascii_digit() {
            return None;
        }
        n[k] = u32::from(c - b'0');
    }
    let y = n[0] * 1000 + n[1] * 100 + n[2] * 10 + n[3];
    Some((y as i32, n[4] * 10 + n[5], n[6] * 10 + n[7]))
}

fn make(y: i32, m: u32, d: u32) -> Result<NaiveDate, DateError> {
    NaiveDate::from_ymd_opt(y, m, d).ok_or(DateError::NoSuchDay { year: y, month: m, day: d })
}

fn strip_era(s: &str) -> (Option<Era>, &str) {
    const PREFIXES: [(&str, Era); 9] = [
        ("令和", Era::Reiwa),
        ("平成", Era::Heisei),
        ("昭和", Era::Showa),
        ("R", Era::Reiwa),
        ("H", Era::Heisei),
        ("S", Era::Showa),
        ("r", Era::Reiwa),
        ("h", Era::Heisei),
        ("s", Era::Showa),
    ];
    for (p, era) in PREFIXES {
        if let Some(rest) = s.strip_prefix(p) {
            return (Some(era), rest);
        }
    }
    (None, s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    Dot,
    Slash,
    Dash,
    /// 年 … 月 … (日)
    Kanji,
}

impl Sep {
    fn as_str(self) -> &'static str {
        match self {
            Sep::Dot => ".",
            Sep::Slash => "/",
            Sep::Dash => "-",
            Sep::Kanji => "年",
        }
    }
}

struct Cursor<'a>(&'a str);

impl Cursor<'_> {
    fn eat(&mut self, p: &str) -> bool {
        match self.0.strip_prefix(p) {
            Some(rest) => {
                self.0 = rest;
                true
            }
            None => false,
        }
    }

    /// Leading ASCII digits as a number, with their count.
    fn number(&mut self) -> Option<(u32, usize)> {
        let len = self.0.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 || len > 4 {
            return None;
        }
        let n = self.0[..len].parse().ok()?;
        self.0 = &self.0[len..];
        Some((n, len))
    }

    /// One or two digits.
    fn short_number(&mut self) -> Option<u32> {
        match self.number()? {
            (n, 1..=2) => Some(n),
            _ => None,
        }
    }

    fn separator(&mut self) -> Option<Sep> {
        [Sep::Dot, Sep::Slash, Sep::Dash, Sep::Kanji].into_iter().find(|&sep| self.eat(sep.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, dd: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, dd).unwrap()
    }

    #[test]
    fn gregorian_forms() {
        for s in [
            "2025-04-01",
            "2025/4/1",
            "2025/04/01",
            "20250401",
            "2025-4-1",
            "2025.4.1",
            "2025年4月1日",
            " 2025/4/1 ",
            "２０２５／０４／０１",
        ] {
            assert_eq!(parse_date(s), Ok(d(2025, 4, 1)), "{s}");
        }
    }

    #[test]
    fn era_forms() {
        for s in ["R7.4.1", "R07/04/01", "R7-4-1", "令和7年4月1日", "令和7年4月1", "r7.4.1", "Ｒ７．４．１"]
        {
            assert_eq!(parse_date(s), Ok(d(2025, 4, 1)), "{s}");
        }
        assert_eq!(parse_date("令和元年5月1日"), Ok(d(2019, 5, 1)));
        assert_eq!(parse_date("R1.5.1"), Ok(d(2019, 5, 1)));
        assert_eq!(parse_date("H31.4.30"), Ok(d(2019, 4, 30)));
        assert_eq!(parse_date("平成31年4月30日"), Ok(d(2019, 4, 30)));
        assert_eq!(parse_date("H1.1.8"), Ok(d(1989, 1, 8)));
        assert_eq!(parse_date("平成元年1月8日"), Ok(d(1989, 1, 8)));
        assert_eq!(parse_date("S64.1.7"), Ok(d(1989, 1, 7)));
        assert_eq!(parse_date("S1.12.25"), Ok(d(1926, 12, 25)));
        assert_eq!(parse_date("昭和50年3月3日"), Ok(d(1975, 3, 3)));
    }

    #[test]
    fn era_boundaries_are_enforced() {
        for (s, era) in [
            ("H31.5.1", Era::Heisei),
            ("平成31年5月1日", Era::Heisei),
            ("R1.4.30", Era::Reiwa),
            ("令和元年4月30日", Era::Reiwa),
            ("H1.1.7", Era::Heisei),
            ("S64.1.8", Era::Showa),
            ("S1.12.24", Era::Showa),
            ("R0.5.1", Era::Reiwa),
        ] {
            match parse_date(s) {
                Err(DateError::OutsideEra { era: e, .. }) => assert_eq!(e, era, "{s}"),
                other => panic!("{s}: {other:?}"),
            }
        }
        let msg = parse_date("H31.5.1").unwrap_err().to_string();
        assert_eq!(msg, "平成31年5月1日 would be 2019-05-01, outside 平成 (1989-01-08 to 2019-04-30)");
    }

    #[test]
    fn impossible_and_unreadable_dates() {
        assert_eq!(parse_date("2025-02-30"), Err(DateError::NoSuchDay { year: 2025, month: 2, day: 30 }));
        assert!(matches!(parse_date("20250230"), Err(DateError::NoSuchDay { .. })));
        assert!(matches!(parse_date("H31.2.29"), Err(DateError::NoSuchDay { .. })));
        for s in [
            "",
            "2025",
            "25/4/1",
            "2025/4-1",
            "2025/04/01x",
            "R123.4.1",
            "X7.4.1",
            "2025/004/01",
            "2025年4/1",
            "令和7.4.1日",
            "April 1",
        ] {
            assert_eq!(parse_date(s), Err(DateError::Unreadable), "{s}");
        }
    }
}
