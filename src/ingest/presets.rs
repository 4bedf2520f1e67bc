//! Built-in input layouts a config can name (`format: {preset: gairai-kino-houkoku}`), kept as
//! YAML in `presets/` so that a user can read what a preset sets and override any key.

use serde_yaml::{Mapping, Value};

use super::format::InputFormat;
use super::table::heading_key;

/// `(name, YAML)` of every preset.
const PRESETS: [(&str, &str); 1] =
    [("gairai-kino-houkoku", include_str!("../../presets/gairai-kino-houkoku.yaml"))];

/// The names of the presets, for messages.
fn names() -> String {
    PRESETS.map(|(n, _)| n).join(", ")
}

/// An input's `format:` as written: a mapping that may name a `preset:`. The preset's keys
/// come first and the config's replace them; `columns:` are merged, a config entry replacing
/// the preset's entry for the same heading (after normalisation) or for the same field.
pub(crate) fn input_format(written: Value) -> Result<InputFormat, String> {
    let mut written = match written {
        Value::Null => return Ok(InputFormat::default()),
        Value::Mapping(m) => m,
        other => return serde_yaml::from_value(other).map_err(|e| e.to_string()),
    };
    let Some(preset) = written.remove("preset") else {
        return serde_yaml::from_value(Value::Mapping(written)).map_err(|e| e.to_string());
    };
    let name = preset.as_str().ok_or_else(|| format!("preset: a name ({})", names()))?;
    let (_, text) = PRESETS
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| format!("preset: {name:?} is not a preset; presets are {}", names()))?;
    let mut merged: Mapping = serde_yaml::from_str(text).expect("a built-in preset is a mapping");
    for (key, value) in written {
        match (key.as_str(), value, merged.get_mut(&key)) {
            (Some("columns"), Value::Mapping(mine), Some(Value::Mapping(theirs))) => {
                merge_columns(theirs, mine)
            }
            (_, value, _) => {
                merged.insert(key, value);
            }
        }
    }
    serde_yaml::from_value(Value::Mapping(merged)).map_err(|e| format!("(with preset {name}) {e}"))
}

fn merge_columns(preset: &mut Mapping, config: Mapping) {
    let key_of = |v: &Value| v.as_str().map(heading_key);
    for (heading, field) in config {
        preset.retain(|h, f| key_of(h) != key_of(&heading) && *f != field);
        preset.insert(heading, field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(yaml: &str) -> Result<InputFormat, String> {
        input_format(serde_yaml::from_str(yaml).unwrap())
    }

    #[test]
    fn a_preset_is_a_starting_point_the_config_overrides() {
        let f = format("preset: gairai-kino-houkoku\nperiod: FY2022\nheading_row: 4\nfirst_data_row: 6\n")
            .unwrap();
        assert_eq!(
            (f.heading_row, f.first_data_row, f.period.as_deref()),
            (Some(4), Some(6), Some("FY2022"))
        );
        assert_eq!(f.masked.get("*"), Some(&[1, 10]));
        assert!(f.pad_codes);
        assert_eq!(f.columns.get("初診患者数（年間）").map(String::as_str), Some("initial_patients"));
    }

    #[test]
    fn columns_merge_by_heading_and_by_field() {
        // A heading written with half-width brackets replaces the preset's full-width one, and
        // a moved heading for the same field replaces the preset's heading for it.
        let f = format(
            "preset: gairai-kino-houkoku\ncolumns:\n  初診患者数(年間): initial_patients\n  紹介患者数（年度）: referred_patients\n",
        )
        .unwrap();
        let fields: Vec<(&str, &str)> = f.columns.iter().map(|(h, v)| (h.as_str(), v.as_str())).collect();
        assert!(fields.contains(&("初診患者数(年間)", "initial_patients")), "{fields:?}");
        assert!(!fields.contains(&("初診患者数（年間）", "initial_patients")), "{fields:?}");
        assert!(fields.contains(&("紹介患者数（年度）", "referred_patients")), "{fields:?}");
        assert_eq!(fields.iter().filter(|(_, v)| *v == "referred_patients").count(), 1, "{fields:?}");
        assert!(fields.contains(&("オープンデータ医療機関コード", "hospital_code")), "{fields:?}");
    }

    #[test]
    fn an_unknown_preset_or_key_is_named() {
        let e = format("preset: gairai\n").unwrap_err();
        assert!(e.contains("\"gairai\" is not a preset") && e.contains("gairai-kino-houkoku"), "{e}");
        let e = format("preset: gairai-kino-houkoku\nheadng_row: 5\n").unwrap_err();
        assert!(e.contains("headng_row") && e.contains("gairai-kino-houkoku"), "{e}");
        assert_eq!(format("").unwrap(), InputFormat::default());
    }
}
