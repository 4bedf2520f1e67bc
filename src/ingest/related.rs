//! Institutions directly related to a hospital's founder (開設者と直接関係のある医療機関).
//! Referrals from or to them do not count, so events with such a partner are marked
//! `partner_related`.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::code::parse_institution_code;
use super::read::IngestError;

/// Set of (hospital_code, partner_code) pairs whose partner is directly related to the
/// hospital's founder. A pair is one-directional, as a hospital lists its own related
/// institutions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RelatedInstitutions {
    pairs: HashMap<String, HashSet<String>>,
    len: usize,
}

impl RelatedInstitutions {
    /// An empty list.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds a pair; returns false if it was already there. Codes are taken as given.
    pub(crate) fn insert(&mut self, hospital_code: &str, related_code: &str) -> bool {
        let added = self.pairs.entry(hospital_code.to_owned()).or_default().insert(related_code.to_owned());
        self.len += usize::from(added);
        added
    }

    /// Whether `partner_code` is related to `hospital_code`'s founder.
    pub(crate) fn contains(&self, hospital_code: &str, partner_code: &str) -> bool {
        self.pairs.get(hospital_code).is_some_and(|s| s.contains(partner_code))
    }

    /// Number of pairs.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Loads a UTF-8 CSV (a BOM is allowed) with the heading `hospital_code,related_code`.
    /// Codes must be 10 digits (full-width digits are converted); their check digits are not
    /// checked, since the list is written by hand from official documents.
    pub(crate) fn load(path: &Path) -> Result<Self, IngestError> {
        let file = path.display().to_string();
        let err = |line: u64, detail: String| IngestError::RelatedList { file: file.clone(), line, detail };
        let bytes = std::fs::read(path).map_err(|source| IngestError::Open {
            file: file.clone(),
            path: path.to_owned(),
            source,
        })?;
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes));
        let headers = rdr.headers().map_err(|e| err(1, e.to_string()))?.iter().collect::<Vec<_>>().join(",");
        if headers != "hospital_code,related_code" {
            return Err(err(
                1,
                format!("the heading line must be `hospital_code,related_code`, found `{headers}`"),
            ));
        }
        let mut out = RelatedInstitutions::new();
        for rec in rdr.records() {
            let rec = rec.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                err(line, e.to_string())
            })?;
            let line = rec.position().map_or(0, |p| p.line());
            if rec.iter().all(str::is_empty) {
                continue;
            }
            let code = |i: usize, name: &str| {
                let raw = rec.get(i).unwrap_or("");
                parse_institution_code(raw, false)
                    .map(|c| c.code)
                    .map_err(|e| err(line, format!("{name} {raw:?}: {}", e.detail())))
            };
            let (h, r) = (code(0, "hospital_code")?, code(1, "related_code")?);
            out.insert(&h, &r);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_pairs_and_looks_them_up_one_way() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("related.csv");
        std::fs::write(
            &p,
            "\u{FEFF}hospital_code,related_code\n0110113719,1310123458\r\n\n０１１０１１３７１９, 2712345673\n0110113719,1310123458\n",
        )
        .unwrap();
        let r = RelatedInstitutions::load(&p).unwrap();
        assert_eq!(r.len(), 2);
        assert!(r.contains("0110113719", "1310123458"));
        assert!(r.contains("0110113719", "2712345673"));
        assert!(!r.contains("1310123458", "0110113719"));
        assert!(!r.contains("0110113719", "0110113719"));
    }

    #[test]
    fn bad_lists_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("related.csv");
        std::fs::write(&p, "hospital_code,related_code\n0110113719,131012345\n").unwrap();
        let e = RelatedInstitutions::load(&p).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("related_code"), "{e}");
        std::fs::write(&p, "hospital,related\n").unwrap();
        let e = RelatedInstitutions::load(&p).unwrap_err().to_string();
        assert!(e.contains("hospital_code,related_code"), "{e}");
    }
}
