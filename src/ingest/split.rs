//! Splits one decoded line into fields with CSV quoting (RFC 4180 within a line).
//!
//! A general CSV reader is not used here on purpose: it would let an unclosed quote swallow
//! the rest of the file as one field. These logs never have fields spanning lines, so a quote
//! still open at the end of a line is an error naming that line. The splitter reuses one
//! buffer for all fields of all lines.

use super::text::{is_blank, trim};

/// A quote opened on this line is never closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnterminatedQuote;

pub(crate) struct Splitter {
    delimiter: u8,
    buf: String,
    bounds: Vec<(usize, usize)>,
}

impl Splitter {
    /// `delimiter` must be ASCII and not `"` (checked by `InputFormat::validate`).
    pub(super) fn new(delimiter: u8) -> Self {
        debug_assert!(delimiter.is_ascii() && delimiter != b'"');
        Splitter { delimiter, buf: String::with_capacity(256), bounds: Vec::with_capacity(16) }
    }

    /// Splits `line`. Unquoted values are trimmed of ASCII and full-width blanks; quoted values
    /// keep their inner blanks, `""` stands for `"`, blanks around the quotes are dropped and
    /// any other text after the closing quote is kept (as spreadsheets and the csv crate do).
    pub(super) fn split(&mut self, line: &str) -> Result<(), UnterminatedQuote> {
        self.buf.clear();
        self.bounds.clear();
        let b = line.as_bytes();
        let d = self.delimiter;
        let find_delim = |from: usize| b[from..].iter().position(|&c| c == d).map_or(b.len(), |k| from + k);
        if !b.contains(&b'"') {
            // Fast path, the usual line: one copy, then trimmed ranges into it.
            self.buf.push_str(line);
            let mut i = 0;
            loop {
                let end = find_delim(i);
                let t = trim(&line[i..end]);
                let s = t.as_ptr() as usize - line.as_ptr() as usize;
                self.bounds.push((s, s + t.len()));
                if end >= b.len() {
                    return Ok(());
                }
                i = end + 1;
            }
        }
        let mut i = 0;
        loop {
            let start = self.buf.len();
            let q = match b.get(i) {
                Some(b' ' | b'\t' | 0xE3) => {
                    i + line[i..].len() - line[i..].trim_start_matches(is_blank).len()
                }
                _ => i,
            };
            if q < b.len() && b[q] == b'"' {
                let mut j = q + 1;
                loop {
                    let Some(k) = b[j..].iter().position(|&c| c == b'"') else {
                        return Err(UnterminatedQuote);
                    };
                    self.buf.push_str(&line[j..j + k]);
                    j += k + 1;
                    if j < b.len() && b[j] == b'"' {
                        self.buf.push('"');
                        j += 1;
                    } else {
                        break;
                    }
                }
                let end = find_delim(j);
                self.buf.push_str(trim(&line[j..end]));
                i = end;
            } else {
                let end = find_delim(i);
                self.buf.push_str(trim(&line[i..end]));
                i = end;
            }
            self.bounds.push((start, self.buf.len()));
            if i >= b.len() {
                return Ok(());
            }
            i += 1;
        }
    }

    pub(super) fn len(&self) -> usize {
        self.bounds.len()
    }

    /// Field `i` of the last split line.
    pub(super) fn get(&self, i: usize) -> &str {
        let (s, e) = self.bounds[i];
        &self.buf[s..e]
    }

    /// True when every field of the last line is empty (a line of bare delimiters, as
    /// spreadsheets leave after the data).
    pub(super) fn all_empty(&self) -> bool {
        self.bounds.iter().all(|&(s, e)| s == e)
    }

    /// Overwrites the field buffer, which held raw patient numbers.
    pub(super) fn wipe(&mut self) {
        let mut bytes = std::mem::take(&mut self.buf).into_bytes();
        super::lines::wipe(&mut bytes);
        self.buf = String::from_utf8(bytes).unwrap_or_default();
        self.bounds.clear();
    }
}

impl Drop for Splitter {
    fn drop(&mut self) {
        self.wipe();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str, d: u8) -> Result<Vec<String>, UnterminatedQuote> {
        let mut s = Splitter::new(d);
        s.split(line)?;
        Ok((0..s.len()).map(|i| s.get(i).to_owned()).collect())
    }

    #[test]
    fn plain_fields_are_trimmed() {
        assert_eq!(fields("a, b ,\u{3000}c\u{3000}", b',').unwrap(), ["a", "b", "c"]);
        assert_eq!(fields("", b',').unwrap(), [""]);
        assert_eq!(fields("a,,", b',').unwrap(), ["a", "", ""]);
        assert_eq!(fields(",a", b',').unwrap(), ["", "a"]);
        assert_eq!(fields(" , ", b',').unwrap(), ["", ""]);
        assert_eq!(fields("\u{3000}内科\u{3000},x ", b',').unwrap(), ["内科", "x"]);
        assert_eq!(fields("a\tb", b'\t').unwrap(), ["a", "b"]);
        assert_eq!(fields("a,b", b'\t').unwrap(), ["a,b"]);
    }

    #[test]
    fn quotes_escape_delimiters_and_quotes() {
        assert_eq!(fields(r#""a,b","say ""hi""", "" ,x"#, b',').unwrap(), ["a,b", "say \"hi\"", "", "x"]);
        assert_eq!(fields(r#"" keep "  ,z"#, b',').unwrap(), [" keep ", "z"]);
        assert_eq!(fields(r#""内科""#, b',').unwrap(), ["内科"]);
        // a quote inside an unquoted value is literal
        assert_eq!(fields(r#"5"2,b"#, b',').unwrap(), ["5\"2", "b"]);
        // text after a closing quote is kept
        assert_eq!(fields(r#""a"b,c"#, b',').unwrap(), ["ab", "c"]);
    }

    #[test]
    fn an_open_quote_at_the_end_of_the_line_is_an_error() {
        assert_eq!(fields(r#"a,"b,c"#, b','), Err(UnterminatedQuote));
        assert_eq!(fields(r#"a,"b"","#, b','), Err(UnterminatedQuote));
        assert_eq!(fields("\"", b','), Err(UnterminatedQuote));
    }

    #[test]
    fn all_empty_detects_bare_delimiters() {
        let mut s = Splitter::new(b',');
        s.split(",, ,").unwrap();
        assert!(s.all_empty());
        s.split(",x,").unwrap();
        assert!(!s.all_empty());
    }
}
