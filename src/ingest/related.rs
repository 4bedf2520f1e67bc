//! Institutions directly related to a hospital's founder (開設者と直接関係のある医療機関).
//! Referrals from or to them do not count, so events with such a partner are marked
//! `partner_related`.

use std::collections::{HashMap, HashSet};

use super::master::{MasterError, MasterSource, field_columns};
use super::table::read_table;

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

    /// Loads the list, read as the hospital master is (a CSV in any encoding or a workbook;
    /// headings `hospital_code,related_code`, or 医療機関コード and 関連医療機関コード, or any
    /// mapped under `columns:`). Codes must be 10 digits (full-width digits are converted;
    /// 9 digits are repaired only with `pad_codes`); their check digits are not checked, since
    /// the list is written by hand from official documents.
    pub(crate) fn load(source: &MasterSource) -> Result<Self, MasterError> {
        let path = &source.path;
        let table = read_table(path, &path.display().to_string(), &source.format)
            .map_err(|e| MasterError::Table { list: source.list, source: e })?;
        let columns = field_columns(source, &table.headings, &FIELDS, &JAPANESE_HEADINGS)?;
        if !columns.contains_key("related_code") {
            return Err(MasterError::Headings {
                list: source.list,
                path: path.clone(),
                message: format!(
                    "no column gives related_code (headings: {}); the heading line must be `hospital_code,related_code` (or 医療機関コード,関連医療機関コード), or map it under columns:",
                    table.headings.join(", ")
                ),
            });
        }
        let mut out = RelatedInstitutions::new();
        for row in &table.rows {
            let cell =
                |field: &str| columns.get(field).and_then(|&i| row.cells.get(i)).map_or("", |v| v.trim());
            if cell("hospital_code").is_empty() && cell("related_code").is_empty() {
                continue;
            }
            let hospital = source.code(row.row, "hospital_code", cell("hospital_code"))?;
            let related = source.code(row.row, "related_code", cell("related_code"))?;
            out.insert(&hospital.code, &related.code);
        }
        Ok(out)
    }
}

/// The columns of the list.
const FIELDS: [&str; 2] = ["hospital_code", "related_code"];

/// Headings used for the list, by field.
const JAPANESE_HEADINGS: [(&str, &str); 4] = [
    ("医療機関コード", "hospital_code"),
    ("関連医療機関コード", "related_code"),
    ("関連施設コード", "related_code"),
    ("関連施設の医療機関コード", "related_code"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn source(path: std::path::PathBuf) -> MasterSource {
        MasterSource { list: "related_institutions", path, format: Default::default() }
    }

    #[test]
    fn loads_pairs_and_looks_them_up_one_way() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("related.csv");
        std::fs::write(
            &p,
            "\u{FEFF}hospital_code,related_code\n0110113719,1310123458\r\n\n０１１０１１３７１９, 2712345673\n0110113719,1310123458\n",
        )
        .unwrap();
        let r = RelatedInstitutions::load(&source(p)).unwrap();
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
        let e = RelatedInstitutions::load(&source(p.clone())).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("related_code"), "{e}");
        std::fs::write(&p, "hospital_code,related\n").unwrap();
        let e = RelatedInstitutions::load(&source(p.clone())).unwrap_err().to_string();
        assert!(e.contains("hospital_code,related_code"), "{e}");
    }

    #[test]
    fn a_shift_jis_list_with_japanese_headings_loads() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("related.csv");
        let text = "医療機関コード,関連医療機関コード,名称\n0110113719,1310123458,系列クリニック\n";
        std::fs::write(&p, encoding_rs::SHIFT_JIS.encode(text).0).unwrap();
        let format = crate::ingest::TableFormat {
            encoding: super::super::format::InputEncoding::ShiftJis,
            ..Default::default()
        };
        let r = RelatedInstitutions::load(&MasterSource { list: "related_institutions", path: p, format })
            .unwrap();
        assert!(r.contains("0110113719", "1310123458"));
    }
}
