//! Small counts hidden on pages meant to leave the hospital (`suppress_below:` in the config):
//! a count from 1 to `below − 1` is shown as `<below` (primary suppression), and where a
//! column would have exactly one hidden cell, the smallest other cell is hidden too (secondary
//! suppression), because the column's total is on the page or follows from it and the one
//! hidden cell would be its difference. A share computed from a hidden count is hidden with it.
//! Zero is shown: it reveals no patient.

use super::model::{DepartmentLine, HospitalPage, PartnerLine};

/// How a cell is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hide {
    Shown,
    /// A small count: shown as `<10`.
    Small,
    /// Hidden so that a small count cannot be read from the total: shown as 秘匿 (it is not
    /// small, so `<10` would be false).
    Complement,
}

/// How each of `values` (one column) is shown.
pub(crate) fn hidden(values: &[u64], below: u64) -> Vec<Hide> {
    let mut hide: Vec<Hide> =
        values.iter().map(|&v| if v > 0 && v < below { Hide::Small } else { Hide::Shown }).collect();
    if hide.iter().filter(|h| **h == Hide::Small).count() == 1 {
        // The complement: the smallest other count, a non-zero one first (a zero beside it
        // would still let the pair be read as the small count).
        if let Some(i) = (0..values.len())
            .filter(|&i| hide[i] == Hide::Shown)
            .min_by_key(|&i| (values[i] == 0, values[i], i))
        {
            hide[i] = Hide::Complement;
        }
    }
    hide
}

/// The name a hidden field is listed under: the field for a small count, `field:withheld`
/// for a complement.
fn mark(field: &str, hide: Hide) -> Option<String> {
    match hide {
        Hide::Shown => None,
        Hide::Small => Some(field.to_string()),
        Hide::Complement => Some(format!("{field}:withheld")),
    }
}

/// The department columns that are counts, as the template names them.
const DEPARTMENT_COUNTS: [&str; 4] =
    ["first_visits", "initial_patients", "referred_patients", "reverse_referred_patients"];

fn department_value<'a>(line: &'a mut DepartmentLine, field: &str) -> &'a mut u64 {
    match field {
        "first_visits" => &mut line.first_visits,
        "initial_patients" => &mut line.initial_patients,
        "referred_patients" => &mut line.referred_patients,
        _ => &mut line.reverse_referred_patients,
    }
}

fn hide_partner_column(lines: &mut [PartnerLine], below: u64) {
    let counts: Vec<u64> = lines.iter().map(|l| l.count).collect();
    for (line, hide) in lines.iter_mut().zip(hidden(&counts, below)) {
        if hide != Hide::Shown {
            line.count = 0;
            line.hidden = Some(if hide == Hide::Small { "count" } else { "withheld" });
        }
    }
}

/// The page as shared outside the hospital: its breakdowns suppressed below `below`, its
/// rejected rows not listed (their counts stay), and marked as such.
pub(crate) fn shared_page(page: &HospitalPage, below: u64) -> HospitalPage {
    let mut page = page.clone();
    page.sharing = Some(super::model::Sharing { below, label: format!("<{below}") });
    for field in DEPARTMENT_COUNTS {
        let column: Vec<u64> = page.departments.iter_mut().map(|d| *department_value(d, field)).collect();
        for (line, hide) in page.departments.iter_mut().zip(hidden(&column, below)) {
            if let Some(name) = mark(field, hide) {
                *department_value(line, field) = 0;
                line.hidden.push(name);
            }
        }
    }
    for line in &mut page.departments {
        let hidden = |f: &str| line.hidden.iter().any(|h| h.split(':').next() == Some(f));
        let (referred, reverse, initial) =
            (hidden("referred_patients"), hidden("reverse_referred_patients"), hidden("initial_patients"));
        if referred || initial {
            line.referred_share = None;
            line.hidden.push("referred_share".into());
        }
        if reverse || initial {
            line.reverse_share = None;
            line.hidden.push("reverse_share".into());
        }
    }
    hide_partner_column(&mut page.partners.top_referrers, below);
    hide_partner_column(&mut page.partners.top_reverse, below);
    for d in &mut page.partners.declines {
        // previous − current = fall: one hidden count of the two would be read from the others.
        let small = |v: u64| v > 0 && v < below;
        if small(d.previous) || small(d.current) {
            let hides = [
                ("previous", if small(d.previous) { Hide::Small } else { Hide::Complement }),
                ("current", if small(d.current) { Hide::Small } else { Hide::Complement }),
            ];
            for (field, hide) in hides {
                d.hidden.extend(mark(field, hide));
            }
            (d.previous, d.current, d.fall) = (0, 0, 0);
            d.hidden.push("fall".into());
        }
    }
    page.rejects.rows.clear();
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_small_count_takes_the_smallest_other_with_it() {
        use Hide::*;
        assert_eq!(hidden(&[120, 3, 40, 55], 10), [Shown, Small, Complement, Shown]);
        // Two small counts protect each other; zeros are shown.
        assert_eq!(hidden(&[120, 3, 0, 9], 10), [Shown, Small, Shown, Small]);
        // A zero is a complement only when nothing else is left.
        assert_eq!(hidden(&[0, 4, 300], 10), [Shown, Small, Complement]);
        assert_eq!(hidden(&[0, 4], 10), [Complement, Small]);
        assert_eq!(hidden(&[10, 11], 10), [Shown, Shown], "10 is not below 10");
        assert_eq!(hidden(&[], 10), Vec::<Hide>::new());
    }

    #[test]
    fn a_shared_page_shows_no_count_below_the_threshold_nor_one_it_gives_away() {
        let page = super::super::fixtures::fixture_hospital_page();
        let shared = shared_page(&page, 10);
        // The fixture's 皮膚科 line has 1 first visit and 3 reverse referrals.
        let derm = shared.departments.iter().find(|d| d.department == "皮膚科").unwrap();
        let derm_hidden: Vec<&str> = derm.hidden.iter().map(String::as_str).collect();
        assert!(derm_hidden.contains(&"first_visits") && derm_hidden.contains(&"reverse_referred_patients"));
        // Its complements are shown as withheld, not as small: they are not.
        let complements: Vec<(&str, &str)> = shared
            .departments
            .iter()
            .flat_map(|d| {
                d.hidden
                    .iter()
                    .filter(|h| h.ends_with(":withheld"))
                    .map(|h| (d.department.as_str(), h.as_str()))
            })
            .collect();
        assert_eq!(
            complements,
            [("小児科", "first_visits:withheld"), ("小児科", "reverse_referred_patients:withheld")]
        );
        assert_eq!((derm.first_visits, derm.reverse_referred_patients), (0, 0));
        // Each hidden column has a second hidden cell, so no total gives one away.
        for field in DEPARTMENT_COUNTS {
            let n = shared
                .departments
                .iter()
                .filter(|d| d.hidden.iter().any(|h| h.split(':').next() == Some(field)))
                .count();
            assert_ne!(n, 1, "{field}");
        }
        for d in &shared.departments {
            for field in DEPARTMENT_COUNTS {
                let v = match field {
                    "first_visits" => d.first_visits,
                    "initial_patients" => d.initial_patients,
                    "referred_patients" => d.referred_patients,
                    _ => d.reverse_referred_patients,
                };
                assert!(v == 0 || v >= 10, "{} {field} = {v}", d.department);
            }
        }
        // The partner 0110000014 has 2 referrals: hidden, with the next smallest.
        let hidden_referrers: Vec<Option<&str>> =
            shared.partners.top_referrers.iter().map(|p| p.hidden).collect();
        assert_eq!(hidden_referrers, [None, Some("withheld"), Some("count")]);
        assert!(shared.partners.top_referrers.iter().all(|p| p.count == 0 || p.count >= 10));
        assert!(shared.rejects.rows.is_empty() && shared.sharing.is_some());
        // The hospital's own page is untouched.
        assert!(page.departments.iter().all(|d| d.hidden.is_empty()) && page.sharing.is_none());
    }
}
