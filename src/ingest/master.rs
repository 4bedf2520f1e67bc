//! The optional hospital master: each hospital's code, name, prefecture and beds, as the
//! prefecture or the 厚生局 publishes it (a CSV in UTF-8 or Shift_JIS, or a workbook; see
//! [`read_table`](super::table::read_table)). Headings may be the canonical names
//! (`hospital_code,name,prefecture,beds`), the usual Japanese ones (医療機関コード, 医療機関名,
//! 都道府県, 病床数 …, see [`JAPANESE_HEADINGS`]), or any mapped under `columns:`; other
//! columns are ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::aggregates::parse_count;
use super::code::{code_text, parse_institution_code};
use super::table::{TableError, TableFormat, heading_key, position_word, read_table};

/// Where the master is and how it is laid out: `hospitals: masters/list.xlsx`, or
/// `hospitals: {path: …, format: {…}}` in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterSource {
    /// The config key that names it (`hospitals`, `partners`), for messages.
    pub list: &'static str,
    pub path: PathBuf,
    pub format: TableFormat,
}

impl MasterSource {
    /// A value of `row` that cannot be used, naming the list, file, row and field.
    pub(super) fn field_error(&self, row: u64, field: &'static str, message: String) -> MasterError {
        MasterError::Field { list: self.list, path: self.path.clone(), row, field, message }
    }

    /// The institution code of `row` as this list writes it (hyphens, a lost zero repaired
    /// only when the format says so).
    pub(super) fn code(
        &self,
        row: u64,
        field: &'static str,
        raw: &str,
    ) -> Result<super::code::InstitutionCode, MasterError> {
        parse_institution_code(&code_text(raw, self.format.strip_code_hyphens), self.format.pad_codes)
            .map_err(|e| self.field_error(row, field, format!("{raw:?}: {}", e.detail())))
    }
}

/// The fields of the master.
const FIELDS: [&str; 4] = ["hospital_code", "name", "prefecture", "beds"];

/// Headings the 厚生局 and prefectures use, by field; compared after [`heading_key`].
pub(crate) const JAPANESE_HEADINGS: [(&str, &str); 9] = [
    ("医療機関コード", "hospital_code"),
    ("医療機関番号", "hospital_code"),
    ("医療機関名", "name"),
    ("医療機関名称", "name"),
    ("名称", "name"),
    ("都道府県", "prefecture"),
    ("都道府県名", "prefecture"),
    ("病床数", "beds"),
    ("許可病床数", "beds"),
];

/// Why the hospital master cannot be used; each names the file (and the row).
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    #[error("{list} {source}")]
    Table { list: &'static str, source: TableError },
    #[error("{list} {}: {message}", .path.display())]
    Headings { list: &'static str, path: PathBuf, message: String },
    #[error("{list} {} {} {row}, field {field}: {message}", .path.display(), position_word(.path))]
    Field { list: &'static str, path: PathBuf, row: u64, field: &'static str, message: String },
    #[error(
        "{list} {} {at} {row}, field hospital_code: {code} is listed twice (also on {at} {first}); \
         keep one row per institution so the name and beds shown are the ones you mean",
        .path.display(), at = position_word(.path)
    )]
    Duplicate { list: &'static str, path: PathBuf, row: u64, first: u64, code: String },
}

/// One hospital of the master file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Hospital {
    pub hospital_code: String,
    pub name: Option<String>,
    pub prefecture: Option<String>,
    pub beds: Option<u32>,
}

/// Which column holds each of `fields`: the config's `columns:` first, then the canonical
/// names, then the `japanese` headings. A field found in two columns is refused; other
/// columns are ignored; `hospital_code` is required.
pub(super) fn field_columns(
    source: &MasterSource,
    headings: &[String],
    fields: &[&'static str],
    japanese: &[(&str, &'static str)],
) -> Result<BTreeMap<&'static str, usize>, MasterError> {
    let refuse =
        |message: String| MasterError::Headings { list: source.list, path: source.path.clone(), message };
    let mapped: BTreeMap<String, &str> =
        source.format.columns.iter().map(|(heading, field)| (heading_key(heading), field.as_str())).collect();
    for field in mapped.values() {
        if !fields.contains(field) {
            return Err(refuse(format!(
                "columns: maps to unknown field {field:?}; expected one of {}",
                fields.join(", ")
            )));
        }
    }
    let mut found: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (i, heading) in headings.iter().enumerate() {
        let key = heading_key(heading);
        let field = mapped
            .get(&key)
            .copied()
            .or_else(|| fields.iter().copied().find(|f| *f == key))
            .or_else(|| japanese.iter().find(|(h, _)| heading_key(h) == key).map(|(_, f)| *f));
        let Some(field) = field.and_then(|f| fields.iter().copied().find(|x| *x == f)) else { continue };
        if let Some(other) = found.insert(field, i) {
            return Err(refuse(format!(
                "both {:?} and {heading:?} give {field}; map the one you mean under columns:",
                headings[other]
            )));
        }
    }
    if !found.contains_key("hospital_code") {
        return Err(refuse(format!(
            "no column gives hospital_code (headings: {}); name it hospital_code or 医療機関コード, or map it under columns:",
            headings.join(", ")
        )));
    }
    Ok(found)
}

/// Reads the master. Codes must be 10 digits: a master that lost leading zeros would silently
/// attach names to the wrong hospitals (with `pad_codes`, 9 digits are repaired).
pub(crate) fn load_hospitals(
    source: Option<&MasterSource>,
) -> Result<BTreeMap<String, Hospital>, MasterError> {
    let Some(source) = source else {
        return Ok(BTreeMap::new());
    };
    let path: &Path = &source.path;
    let table = read_table(path, &path.display().to_string(), &source.format)
        .map_err(|e| MasterError::Table { list: source.list, source: e })?;
    let columns = field_columns(source, &table.headings, &FIELDS, &JAPANESE_HEADINGS)?;
    let field_error =
        |row: u64, field: &'static str, message: String| source.field_error(row, field, message);
    let mut out: BTreeMap<String, (u64, Hospital)> = BTreeMap::new();
    for row in &table.rows {
        let cell = |field: &str| {
            columns.get(field).and_then(|&i| row.cells.get(i)).map(String::as_str).filter(|v| !v.is_empty())
        };
        let raw = cell("hospital_code").unwrap_or("");
        let code = source.code(row.row, "hospital_code", raw)?;
        let beds = match cell("beds") {
            None => None,
            Some(v) => Some(
                parse_count(v)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| field_error(row.row, "beds", format!("{v:?} is not a whole number")))?,
            ),
        };
        let hospital = Hospital {
            hospital_code: code.code.clone(),
            name: cell("name").map(str::to_string),
            prefecture: cell("prefecture").map(str::to_string),
            beds,
        };
        if let Some((first, _)) = out.get(&code.code) {
            return Err(MasterError::Duplicate {
                list: source.list,
                path: path.to_path_buf(),
                row: row.row,
                first: *first,
                code: code.code,
            });
        }
        out.insert(code.code, (row.row, hospital));
    }
    Ok(out.into_iter().map(|(code, (_, h))| (code, h)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, columns: &[(&str, &str)]) -> Result<BTreeMap<String, Hospital>, MasterError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.csv");
        std::fs::write(&path, text).unwrap();
        let format = TableFormat {
            columns: columns.iter().map(|(h, f)| (h.to_string(), f.to_string())).collect(),
            ..TableFormat::default()
        };
        load_hospitals(Some(&MasterSource { list: "hospitals", path, format }))
    }

    #[test]
    fn columns_map_headings_as_normalised_and_a_field_comes_from_one_column() {
        let text =
            "医療機関コード,名称,許可病床数（一般）,許可病床数（療養）\n0110113719,札幌病院,\"1,200\",50\n";
        let m = load(text, &[("許可病床数(一般)", "beds")]).unwrap();
        let h = &m["0110113719"];
        assert_eq!(
            (h.name.as_deref(), h.beds, h.prefecture.as_deref()),
            (Some("札幌病院"), Some(1200), None)
        );
        // Two columns giving beds: refused, naming both.
        let e = load("hospital_code,beds,病床数\n0110113719,1,2\n", &[]).unwrap_err().to_string();
        assert!(e.contains("\"beds\" and \"病床数\" give beds"), "{e}");
        let e = load("hospital_code\n0110113719\n", &[("hospital_code", "code")]).unwrap_err().to_string();
        assert!(e.contains("unknown field \"code\""), "{e}");
        let e = load("名前\nA\n", &[]).unwrap_err().to_string();
        assert!(e.contains("no column gives hospital_code"), "{e}");
        let e = load("hospital_code,beds\n0110113719,many\n", &[]).unwrap_err().to_string();
        assert!(e.contains("master.csv line 2, field beds: \"many\""), "{e}");
    }
}
