//! A deterministic generator of realistic event logs, for the demo, tests and benchmarks.
//!
//! Each hospital follows a profile (target referral and reverse-referral rates, volume) so the
//! data set has a passing, a failing and an exactly-on-the-line hospital. Counts per month are
//! fixed by integer arithmetic from the profile; only dates, patients, departments and
//! partners are random (seeded, so the same spec always writes the same bytes).

use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::NaiveDate;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ingest::luhn_check_digit;
use crate::periods::{month_range, parse_month};

/// What to generate.
#[derive(Debug, Clone)]
pub(crate) struct SampleSpec {
    /// Approximate total number of events.
    pub events: u64,
    pub hospitals: u32,
    pub months: u32,
    /// Partner institutions the hospitals exchange patients with (all share one list).
    pub partners: u32,
    /// First month, `YYYY-MM`.
    pub start: String,
    pub seed: u64,
}

/// What was written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Written {
    pub events: u64,
    pub files: u64,
}

struct Profile {
    name: &'static str,
    prefecture: &'static str,
    /// Referred share of initial patients, per mille.
    referral_pm: u64,
    /// Reverse referrals per initial patient, per mille.
    reverse_pm: u64,
    beds: u32,
}

const PROFILES: [Profile; 5] = [
    Profile {
        name: "札幌みなみ地域医療センター",
        prefecture: "北海道",
        referral_pm: 720,
        reverse_pm: 550,
        beds: 420,
    },
    Profile {
        name: "東京あおば総合病院",
        prefecture: "東京都",
        referral_pm: 850,
        reverse_pm: 900,
        beds: 610,
    },
    Profile {
        name: "大阪しらさぎ病院", prefecture: "大阪府", referral_pm: 480, reverse_pm: 350, beds: 240
    },
    // Exactly 80.0 %: on the line of criterion A (≥ 80), flagged for review.
    Profile {
        name: "福岡はかた記念病院",
        prefecture: "福岡県",
        referral_pm: 800,
        reverse_pm: 300,
        beds: 350,
    },
    Profile {
        name: "京都かも川病院", prefecture: "京都府", referral_pm: 550, reverse_pm: 750, beds: 300
    },
];

const PREFECTURE_CODES: [&str; 5] = ["01", "13", "27", "40", "26"];

const DEPARTMENTS: [&str; 8] =
    ["内科", "外科", "整形外科", "小児科", "循環器内科", "消化器内科", "脳神経外科", "産婦人科"];

/// A valid 10-digit medical (fee table 1) institution code.
fn institution_code(prefecture: &str, district: u32, number: u32) -> String {
    let nine = format!("{prefecture}1{:02}{:04}", district % 100, number % 10_000);
    let check = luhn_check_digit(&nine).expect("nine digits");
    format!("{nine}{check}")
}

/// The code of the `i`-th generated hospital. The first one starts with 0 (Hokkaido).
pub(crate) fn hospital_code(i: u32) -> String {
    if i == 0 {
        return "0110113719".to_string();
    }
    let pref = PREFECTURE_CODES[(i as usize) % PREFECTURE_CODES.len()];
    institution_code(pref, 10 + i, 1000 + 37 * i)
}

fn profile(i: u32) -> &'static Profile {
    &PROFILES[(i as usize) % PROFILES.len()]
}

/// Writes `events/<month>.csv` (all hospitals of a month, canonical format), `hospitals.csv`
/// and a `refrate.yaml` pointing at them into `out`.
pub(crate) fn write(out: &Path, spec: &SampleSpec) -> std::io::Result<Written> {
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
    let (sy, sm) = parse_month(&spec.start)
        .ok_or_else(|| invalid(format!("--start {:?} is not YYYY-MM", spec.start)))?;
    if spec.hospitals == 0 || spec.months == 0 {
        return Err(invalid("--hospitals and --months must be at least 1".into()));
    }
    let last_index = sy * 12 + sm as i32 - 1 + spec.months as i32 - 1;
    let last = format!("{:04}-{:02}", last_index.div_euclid(12), last_index.rem_euclid(12) + 1);
    let months = month_range(&spec.start, &last);
    std::fs::create_dir_all(out.join("events"))?;

    let mut master = BufWriter::new(std::fs::File::create(out.join("hospitals.csv"))?);
    writeln!(master, "hospital_code,name,prefecture,beds")?;
    for h in 0..spec.hospitals {
        let p = profile(h);
        let suffix = if h as usize >= PROFILES.len() { format!(" {}", h + 1) } else { String::new() };
        writeln!(master, "{},{}{},{},{}", hospital_code(h), p.name, suffix, p.prefecture, p.beds)?;
    }
    master.flush()?;

    // About 6.5 events per initial patient (exclusions, reverse referrals, return visits).
    let per_hospital_month =
        (spec.events as f64 / (f64::from(spec.hospitals) * months.len() as f64)).max(10.0);
    let base_initial = ((per_hospital_month / 6.5) as u64).max(10);
    let partners: Vec<String> = (0..spec.partners as usize)
        .map(|i| institution_code(PREFECTURE_CODES[i % 5], 20 + i as u32, 2000 + 13 * i as u32))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut total = 0u64;
    let mut patient_seq: u64 = 10_000_000;
    for month in &months {
        let (y, m) = parse_month(month).expect("generated month");
        let first = NaiveDate::from_ymd_opt(y, m, 1).expect("valid month");
        let days =
            if m == 12 { NaiveDate::from_ymd_opt(y + 1, 1, 1) } else { NaiveDate::from_ymd_opt(y, m + 1, 1) }
                .expect("valid month")
                .signed_duration_since(first)
                .num_days() as u32;
        let mut rows: Vec<(NaiveDate, String)> = Vec::new();
        for h in 0..spec.hospitals {
            let code = hospital_code(h);
            let p = profile(h);
            // Seasonal swing of ±10 %, rounded to a multiple of 10 so that the exact-rate
            // profiles stay exact every month.
            let swing = 100 + ((m as i64 * 7 + h as i64 * 3) % 21) as u64 - 10;
            let initial = ((base_initial * swing / 100) / 10 * 10).max(10);
            // Rates drift a little from one fiscal year to the next (the exact-rate profile
            // excepted), so year-on-year changes show.
            let fy = crate::periods::fiscal_year_of(month).expect("generated month");
            let years = u64::try_from(fy - sy).unwrap_or(0);
            let drift =
                |pm: u64, step: u64| if p.referral_pm == 800 { pm } else { pm.saturating_sub(step * years) };
            let referred = initial * drift(p.referral_pm, 20) / 1000;
            let reverse = initial * drift(p.reverse_pm, 15) / 1000;
            let date = |rng: &mut ChaCha8Rng| first + chrono::Days::new(rng.random_range(0..days) as u64);
            let mut push = |rng: &mut ChaCha8Rng,
                            kind: &str,
                            letter: bool,
                            partner: Option<&str>,
                            related: bool,
                            flags: (bool, bool, bool)| {
                patient_seq += 1 + rng.random_range(0..3);
                let dept = DEPARTMENTS.choose(rng).expect("non-empty");
                let d = date(rng);
                let line = format!(
                    "{code},{d},{kind},{patient_seq:08},{dept},{},{},{},{},{},{}",
                    letter as u8,
                    partner.unwrap_or(""),
                    related as u8,
                    flags.0 as u8,
                    flags.1 as u8,
                    flags.2 as u8
                );
                rows.push((d, line));
            };
            // Initial patients: `referred` with a letter from an unrelated partner, the rest
            // walk-ins, some with a letter from a related institution (not counted).
            for i in 0..initial {
                if i < referred {
                    let partner = partners.choose(&mut rng).expect("partners").clone();
                    push(&mut rng, "first_visit", true, Some(&partner), false, (false, false, false));
                } else if i % 7 == 0 {
                    let partner = partners.choose(&mut rng).expect("partners").clone();
                    push(&mut rng, "first_visit", true, Some(&partner), true, (false, false, false));
                } else {
                    push(&mut rng, "first_visit", false, None, false, (false, false, false));
                }
            }
            // Excluded first visits: ambulance (some also after hours), after hours, checkup.
            let excluded = initial / 10;
            for i in 0..excluded {
                let flags = match i % 4 {
                    0 => (true, true, false),
                    1 => (true, false, false),
                    2 => (false, true, false),
                    _ => (false, false, true),
                };
                let letter = i % 3 == 0;
                let partner = letter.then(|| partners.choose(&mut rng).expect("partners").clone());
                push(&mut rng, "first_visit", letter, partner.as_deref(), false, flags);
            }
            // Reverse referrals, plus a few to related institutions (not counted).
            for i in 0..reverse + reverse / 10 {
                let partner = partners.choose(&mut rng).expect("partners").clone();
                push(&mut rng, "referral_out", false, Some(&partner), i >= reverse, (false, false, false));
            }
            // Return visits: four per initial patient, a few of them emergencies.
            for i in 0..initial * 4 {
                push(&mut rng, "return_visit", false, None, false, (i % 50 == 0, i % 40 == 0, false));
            }
        }
        rows.sort_by_key(|r| r.0);
        let mut f = BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(out.join("events").join(format!("{month}.csv")))?,
        );
        writeln!(
            f,
            "hospital_code,event_date,event_type,patient_id,department,referral_letter,partner_code,partner_related,ambulance,after_hours_emergency,checkup_origin"
        )?;
        for (_, line) in &rows {
            writeln!(f, "{line}")?;
        }
        f.flush()?;
        total += rows.len() as u64;
    }
    std::fs::write(
        out.join("refrate.yaml"),
        "# Generated by `refrate sample`.\nwarehouse: warehouse\nreports: reports\nhospitals: hospitals.csv\ninputs:\n  - path: events/*.csv\n    kind: events\nregimes: [chiiki-shien-2014, shinryo-2022]\n",
    )?;
    Ok(Written { events: total, files: months.len() as u64 })
}
