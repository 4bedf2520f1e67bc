//! The optional hospital master: `hospital_code,name,prefecture,beds`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why the hospital master cannot be used; each names the file (and the line).
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    #[error("hospitals {}: {source}", .path.display())]
    Read { path: PathBuf, source: csv::Error },
    #[error("hospitals {} line {line}: {source}", .path.display())]
    Row { path: PathBuf, line: usize, source: csv::Error },
    #[error(
        "hospitals {} line {line}, field hospital_code: {code:?} is not 10 digits (a spreadsheet may have dropped a leading zero)",
        .path.display()
    )]
    Code { path: PathBuf, line: usize, code: String },
    #[error(
        "hospitals {} line {line}, field hospital_code: {code} is listed twice (also on line {first}); \
         keep one row per hospital so the name and beds shown are the ones you mean",
        .path.display()
    )]
    Duplicate { path: PathBuf, line: usize, first: usize, code: String },
}

/// One hospital of the master file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Hospital {
    pub hospital_code: String,
    pub name: Option<String>,
    pub prefecture: Option<String>,
    pub beds: Option<u32>,
}

/// Reads the master (UTF-8 CSV with a header). Codes must be 10 digits: a master that lost
/// leading zeros would silently attach names to the wrong hospitals.
pub(crate) fn load_hospitals(path: Option<&Path>) -> Result<BTreeMap<String, Hospital>, MasterError> {
    let Some(path) = path else {
        return Ok(BTreeMap::new());
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|source| MasterError::Read { path: path.to_path_buf(), source })?;
    let mut out = BTreeMap::new();
    for (i, row) in reader.deserialize::<Hospital>().enumerate() {
        let line = i + 2;
        let mut h = row.map_err(|source| MasterError::Row { path: path.to_path_buf(), line, source })?;
        if h.hospital_code.len() != 10 || !h.hospital_code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MasterError::Code { path: path.to_path_buf(), line, code: h.hospital_code });
        }
        h.name = h.name.filter(|n| !n.is_empty());
        h.prefecture = h.prefecture.filter(|n| !n.is_empty());
        let code = h.hospital_code.clone();
        if let Some((first, _)) = out.get(&code) {
            return Err(MasterError::Duplicate { path: path.to_path_buf(), line, first: *first, code });
        }
        out.insert(code, (line, h));
    }
    Ok(out.into_iter().map(|(code, (_, h))| (code, h)).collect())
}
