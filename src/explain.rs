//! The trail behind every count (`refrate explain`): each record of a hospital-month with how
//! it counted, in the counts (`queries/counted_events.sql` decides, through `explain.sql`) and
//! under a regime (its terms applied to the record's counts, as `regime_metrics.sql` applies
//! them to a month's sums). Nothing is decided here that the SQL did not: the words only say
//! which of the record's flags put it where.

use crate::engine::CountedRecord;
use crate::regimes::{Count, Metric, Regime};

/// One record with what it adds to a regime's two ratios (−1, 0 or 1 per side: a term may be
/// subtracted) and why, in English and Japanese.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Explained<'a> {
    pub record: &'a CountedRecord,
    /// (numerator, denominator) of the referral and the reverse-referral ratio.
    pub referral: (i64, i64),
    pub reverse: (i64, i64),
    pub how: String,
    pub how_ja: String,
}

fn count(record: &CountedRecord, c: Count) -> u64 {
    let i = Count::ALL.iter().position(|x| *x == c).expect("every count is in ALL");
    record.counts[i]
}

/// What the record adds to each side of `metric`.
fn contribution(record: &CountedRecord, metric: &Metric) -> (i64, i64) {
    let side =
        |terms: &[crate::regimes::Term]| terms.iter().map(|t| t.sign * count(record, t.count) as i64).sum();
    (side(&metric.numerator), side(&metric.denominator))
}

/// `record` under `regime`.
pub(crate) fn explain<'a>(record: &'a CountedRecord, regime: &Regime) -> Explained<'a> {
    let (how, how_ja) = reasons(record);
    Explained {
        record,
        referral: contribution(record, &regime.referral),
        reverse: contribution(record, &regime.reverse),
        how,
        how_ja,
    }
}

/// Why the record is in the counts it is in.
fn reasons(r: &CountedRecord) -> (String, String) {
    let [letter, ambulance, after_hours, checkup] = r.flags;
    let mut said: Vec<(String, String)> = Vec::new();
    let mut say = |en: &str, ja: &str| said.push((en.to_string(), ja.to_string()));
    // Which exclusion groups the record is in, as `what: a, b` and `何（あ・い）`.
    let excluded = |en: &str, ja: &str, with_checkup: bool| {
        let groups = [
            (ambulance, "ambulance", "救急搬送"),
            (after_hours, "holiday/night emergency", "休日・夜間の救急"),
            (checkup && with_checkup, "after a health checkup", "健診後の受診"),
        ];
        let groups: Vec<_> = groups.iter().filter(|g| g.0).collect();
        let en_why: Vec<&str> = groups.iter().map(|g| g.1).collect();
        let ja_why: Vec<&str> = groups.iter().map(|g| g.2).collect();
        (format!("{en}: {}", en_why.join(", ")), format!("{ja}（{}）", ja_why.join("・")))
    };
    match r.event_type.as_str() {
        "first_visit" => {
            if count(r, Count::InitialPatients) == 1 {
                say("initial patient", "初診患者");
                if count(r, Count::ReferredPatients) == 1 {
                    say("referred", "紹介患者");
                } else if letter && r.partner_related {
                    say(
                        "not referred: the letter is from a related institution",
                        "紹介患者に数えない（開設者と関係のある機関の紹介状）",
                    );
                } else {
                    say("not referred: no referral letter", "紹介患者に数えない（紹介状なし）");
                }
            } else {
                let (en, ja) = excluded("not an initial patient", "初診患者から除く", true);
                say(&en, &ja);
            }
            if count(r, Count::EmergencyPatients) == 1 {
                say("emergency patient", "救急患者");
            }
        }
        "referral_out" if count(r, Count::ReverseReferredPatients) == 1 => {
            say("reverse-referred", "逆紹介患者")
        }
        "referral_out" => say(
            "not reverse-referred: to a related institution",
            "逆紹介患者に数えない（開設者と関係のある機関へ）",
        ),
        "return_visit" if count(r, Count::ReturnVisits) == 1 => say("return visit", "再診"),
        "return_visit" => {
            let (en, ja) = excluded("return visit not counted", "再診に数えない", false);
            say(&en, &ja);
        }
        other => say(&format!("{other}: in no count"), &format!("{other}：どの数にも入らない")),
    }
    let en: Vec<&str> = said.iter().map(|(en, _)| en.as_str()).collect();
    let ja: Vec<&str> = said.iter().map(|(_, ja)| ja.as_str()).collect();
    (en.join("; "), ja.join("・"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event_type: &str, flags: [bool; 4], related: bool, counts: &[Count]) -> CountedRecord {
        CountedRecord {
            month: "2025-04".into(),
            source_file: "a.csv".into(),
            source_line: 2,
            event_date: "2025-04-01".into(),
            event_type: event_type.into(),
            patient_key: "k".into(),
            department: String::new(),
            partner_code: None,
            partner_related: related,
            flags,
            counts: Count::ALL.map(|c| u64::from(counts.contains(&c))),
        }
    }

    #[test]
    fn each_record_adds_what_the_regime_terms_say_and_says_why() {
        let set = crate::regimes::RegimeSet::load(&[]).unwrap();
        let (r2014, r2004) = (set.get("chiiki-shien-2014").unwrap(), set.get("chiiki-shien-2004").unwrap());
        use Count::*;
        let referred = record(
            "first_visit",
            [true, false, false, false],
            false,
            &[FirstVisits, InitialPatients, ReferredPatients],
        );
        let e = explain(&referred, r2014);
        assert_eq!((e.referral, e.reverse), ((1, 1), (0, 1)));
        assert_eq!((e.how.as_str(), e.how_ja.as_str()), ("initial patient; referred", "初診患者・紹介患者"));
        // By ambulance: out of the initial patients, but an emergency patient, which the 2004
        // formula adds to the numerator.
        let ambulance = record(
            "first_visit",
            [false, true, false, false],
            false,
            &[FirstVisits, AmbulanceFirstVisits, EmergencyPatients],
        );
        assert_eq!(explain(&ambulance, r2014).referral, (0, 0));
        assert_eq!(explain(&ambulance, r2004).referral, (1, 0));
        assert_eq!(explain(&ambulance, r2014).how, "not an initial patient: ambulance; emergency patient");
        let related =
            record("first_visit", [true, false, false, false], true, &[FirstVisits, InitialPatients]);
        assert_eq!(
            explain(&related, r2014).how,
            "initial patient; not referred: the letter is from a related institution"
        );
        let out = record("referral_out", [false; 4], true, &[]);
        assert_eq!(explain(&out, r2014).how_ja, "逆紹介患者に数えない（開設者と関係のある機関へ）");
        assert_eq!(explain(&out, r2014).reverse, (0, 0));
    }
}
