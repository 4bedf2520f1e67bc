//! 医療機関コード: 10 digits, the last one a Luhn check digit over the first nine.

use std::borrow::Cow;

use super::text::normalize_value;

/// A syntactically valid institution code (10 ASCII digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InstitutionCode {
    /// The 10 digits, leading zeros kept.
    pub code: String,
    /// False when the last digit is not the Luhn check digit of the first nine. Dummy codes
    /// exist in practice, so this is a warning unless the input asks for strict codes.
    pub check_digit_ok: bool,
    /// True when a 9-digit value was repaired with a leading zero (`pad_codes: true`).
    pub padded: bool,
}

/// Why a value is not an institution code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CodeError {
    /// Something other than digits (after full-width digits are converted).
    NotDigits,
    /// 9 digits and padding was not asked for.
    NineDigits,
    /// Any other length.
    WrongLength(usize),
}

impl CodeError {
    /// English detail for a reject record.
    pub(crate) fn detail(&self) -> String {
        match self {
            CodeError::NotDigits => "an institution code has 10 digits and nothing else".into(),
            CodeError::NineDigits => "9 digits: the leading zero may have been dropped by a \
                                      spreadsheet; set pad_codes: true to repair"
                .into(),
            CodeError::WrongLength(n) => format!("expected 10 digits, found {n}"),
        }
    }
}

/// The Luhn check digit (mod 10, weights 2,1,2,… from the right, two-digit products summed as
/// their digits) of `first_nine`, which must be 9 ASCII digits; `None` otherwise.
pub(crate) fn luhn_check_digit(first_nine: &str) -> Option<u8> {
    let b = first_nine.as_bytes();
    if b.len() != 9 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(luhn_digits(b))
}

fn luhn_digits(nine: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, &c) in nine.iter().rev().enumerate() {
        let d = u32::from(c - b'0');
        sum += if i % 2 == 0 {
            let p = d * 2;
            p / 10 + p % 10
        } else {
            d
        };
    }
    ((10 - sum % 10) % 10) as u8
}

/// An institution code as an input writes it, ready to parse: hyphens removed when the input
/// says `strip_code_hyphens` (`26-1-492377-5`, as printed on forms, reads as `2614923775`).
pub(crate) fn code_text(raw: &str, strip_hyphens: bool) -> std::borrow::Cow<'_, str> {
    if strip_hyphens && raw.contains('-') {
        std::borrow::Cow::Owned(raw.replace('-', ""))
    } else {
        std::borrow::Cow::Borrowed(raw)
    }
}

/// Parses an institution code: trims, converts full-width digits, pads a 9-digit value with a
/// leading zero only when `pad` is true, and checks the check digit. An empty value is an
/// error here; callers decide whether empty is allowed (it is for partner codes).
pub(crate) fn parse_institution_code(raw: &str, pad: bool) -> Result<InstitutionCode, CodeError> {
    let v: Cow<'_, str> = normalize_value(raw);
    let b = v.as_bytes();
    if !b.iter().all(u8::is_ascii_digit) || b.is_empty() {
        return Err(if b.is_empty() { CodeError::WrongLength(0) } else { CodeError::NotDigits });
    }
    let (code, padded) = match b.len() {
        10 => (v.into_owned(), false),
        9 if pad => (format!("0{v}"), true),
        9 => return Err(CodeError::NineDigits),
        n => return Err(CodeError::WrongLength(n)),
    };
    let cb = code.as_bytes();
    let check_digit_ok = luhn_digits(&cb[..9]) == cb[9] - b'0';
    Ok(InstitutionCode { code, check_digit_ok, padded })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_examples_computed_by_hand() {
        // 011011371: from the right 1*2=2, 7, 3*2=6, 1, 1*2=2, 0, 1*2=2, 1, 0*2=0 → 21 → 9.
        assert_eq!(luhn_check_digit("011011371"), Some(9));
        // 131012345: 5*2=10→1, 4, 3*2=6, 2, 1*2=2, 0, 1*2=2, 3, 1*2=2 → 22 → 8.
        assert_eq!(luhn_check_digit("131012345"), Some(8));
        // 271234567: 7*2=14→5, 6, 5*2=10→1, 4, 3*2=6, 2, 1*2=2, 7, 2*2=4 → 37 → 3.
        assert_eq!(luhn_check_digit("271234567"), Some(3));
        // 000000000 → 0.
        assert_eq!(luhn_check_digit("000000000"), Some(0));
        // 401999999: 9*2=18→9, 9, 18→9, 9, 18→9, 9, 1*2=2, 0, 4*2=8 → 64 → 6.
        assert_eq!(luhn_check_digit("401999999"), Some(6));
        assert_eq!(luhn_check_digit("01101137"), None);
        assert_eq!(luhn_check_digit("01101137a"), None);
    }

    #[test]
    fn valid_and_invalid_codes() {
        for good in ["0110113719", "1310123458", "2712345673", "0000000000", "4019999996"] {
            let c = parse_institution_code(good, false).unwrap();
            assert!(c.check_digit_ok, "{good}");
            assert_eq!(c.code, good);
            assert!(!c.padded);
        }
        for bad_check in ["0110113718", "1310123450", "2712345677"] {
            let c = parse_institution_code(bad_check, false).unwrap();
            assert!(!c.check_digit_ok, "{bad_check}");
        }
    }

    #[test]
    fn fullwidth_and_blanks_are_accepted() {
        let c = parse_institution_code("\u{3000}０１１０１１３７１９ ", false).unwrap();
        assert_eq!(c.code, "0110113719");
        assert!(c.check_digit_ok);
    }

    #[test]
    fn nine_digits_need_pad_codes() {
        assert_eq!(parse_institution_code("110113719", false), Err(CodeError::NineDigits));
        let c = parse_institution_code("110113719", true).unwrap();
        assert_eq!(c.code, "0110113719");
        assert!(c.padded && c.check_digit_ok);
        assert!(CodeError::NineDigits.detail().contains("pad_codes: true"));
    }

    #[test]
    fn other_shapes_are_errors() {
        assert_eq!(parse_institution_code("01101137190", true), Err(CodeError::WrongLength(11)));
        assert_eq!(parse_institution_code("1.10113719E+09", true), Err(CodeError::NotDigits));
        assert_eq!(parse_institution_code("", true), Err(CodeError::WrongLength(0)));
    }
}
