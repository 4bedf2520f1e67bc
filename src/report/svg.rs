//! The monthly chart as inline SVG, generated here so the page needs no script and no
//! external resource. This output is the only markup the templates print unescaped, so every
//! piece of text that reaches it goes through [`escape`].

use std::fmt::Write as _;

use super::format::month_short_ja;
use super::model::ChartData;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 56.0;
const RIGHT_SINGLE: f64 = 24.0;
const RIGHT_DUAL: f64 = 56.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 36.0;

const REFERRAL_COLOUR: &str = "#1f4e79";
const REVERSE_COLOUR: &str = "#a34a00";
const GRID_COLOUR: &str = "#d0d4da";
const TEXT_COLOUR: &str = "#222";
const ROLLING_WIDTH: f64 = 7.0;

/// Escapes text for SVG/HTML character data and double-quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// A vertical scale from 0 to `max` with grid lines every `step`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scale {
    max: f64,
    step: f64,
}

impl Scale {
    /// The lowest round scale (steps of 1, 2, 5 or 2.5 × 10ⁿ, four to eight intervals) that
    /// covers every value and threshold. Steps of 2.5 lose ties: 0–100 by 20 reads better.
    fn covering(values: impl Iterator<Item = f64>) -> Self {
        let top = values.filter(|v| v.is_finite()).fold(0.0_f64, f64::max);
        if top <= 0.0 {
            return Scale { max: 100.0, step: 20.0 };
        }
        let exponent = top.log10().floor() as i32;
        let mut best: Option<Scale> = None;
        for magnitude in (exponent - 2..=exponent).map(|e| 10f64.powi(e)) {
            for multiple in [1.0, 2.0, 5.0, 2.5] {
                let step = multiple * magnitude;
                let intervals = (top / step).ceil();
                if !(4.0..=8.0).contains(&intervals) {
                    continue;
                }
                let candidate = Scale { max: intervals * step, step };
                if best.is_none_or(|b| candidate.max < b.max - step * 1e-9) {
                    best = Some(candidate);
                }
            }
        }
        best.unwrap_or(Scale { max: top, step: top / 4.0 })
    }

    fn ticks(&self) -> impl Iterator<Item = f64> + '_ {
        let n = (self.max / self.step).round() as usize;
        (0..=n).map(|i| i as f64 * self.step)
    }
}

/// A number as a person would write it: `80.0` → `"80"`, `2.5` → `"2.5"`, `0.25` → `"0.25"`.
fn number_label(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

struct Plot {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    slots: usize,
}

impl Plot {
    fn x(&self, i: usize) -> f64 {
        let slot = (self.right - self.left) / self.slots.max(1) as f64;
        self.left + slot * (i as f64 + 0.5)
    }

    fn y(&self, scale: Scale, v: f64) -> f64 {
        let v = v.clamp(0.0, scale.max);
        self.bottom - (self.bottom - self.top) * v / scale.max
    }
}

/// Renders the monthly referral and reverse-referral series with their thresholds.
///
/// When the two units differ (% and ‰) each series gets its own axis: referral on the left,
/// reverse on the right. Months with `None` (or a non-finite value) leave a gap in the line.
pub(crate) fn chart_svg(chart: &ChartData) -> String {
    let dual = chart.referral_unit != chart.reverse_unit;
    let slots = chart.months.len();
    let value_at =
        |series: &[Option<f64>], i: usize| series.get(i).copied().flatten().filter(|v| v.is_finite());

    let referral_values = (0..slots)
        .filter_map(|i| value_at(&chart.referral, i))
        .chain((0..slots).filter_map(|i| value_at(&chart.referral_rolling, i)));
    let reverse_values = (0..slots)
        .filter_map(|i| value_at(&chart.reverse, i))
        .chain((0..slots).filter_map(|i| value_at(&chart.reverse_rolling, i)));
    let (referral_scale, reverse_scale) = if dual {
        (
            Scale::covering(referral_values.chain(chart.referral_threshold)),
            Scale::covering(reverse_values.chain(chart.reverse_threshold)),
        )
    } else {
        let shared = Scale::covering(
            referral_values
                .chain(reverse_values)
                .chain(chart.referral_threshold)
                .chain(chart.reverse_threshold),
        );
        (shared, shared)
    };
    let plot = Plot {
        left: LEFT,
        right: WIDTH - if dual { RIGHT_DUAL } else { RIGHT_SINGLE },
        top: TOP,
        bottom: HEIGHT - BOTTOM,
        slots,
    };

    let referral_unit = escape(&chart.referral_unit);
    let reverse_unit = escape(&chart.reverse_unit);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" font-size="12" fill="{TEXT_COLOUR}">"#
    );
    let _ = writeln!(s, "<title>月別の紹介率（{referral_unit}）と逆紹介率（{reverse_unit}）</title>");

    // Grid and left axis labels.
    for t in referral_scale.ticks() {
        let y = plot.y(referral_scale, t);
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{GRID_COLOUR}" stroke-width="1"/>"#,
            plot.left, plot.right
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            plot.left - 6.0,
            y + 4.0,
            number_label(t)
        );
    }
    if dual {
        for t in reverse_scale.ticks() {
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="start">{}</text>"#,
                plot.right + 6.0,
                plot.y(reverse_scale, t) + 4.0,
                number_label(t)
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="start">逆紹介率（{reverse_unit}）</text>"#,
            plot.right - 40.0,
            plot.top - 10.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="start">紹介率（{referral_unit}）</text>"#,
            plot.left - 48.0,
            plot.top - 10.0
        );
    } else {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="start">率（{referral_unit}）</text>"#,
            plot.left - 48.0,
            plot.top - 10.0
        );
    }
    let _ = writeln!(
        s,
        r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{TEXT_COLOUR}" stroke-width="1"/>"#,
        plot.left, plot.bottom, plot.right, plot.bottom
    );

    // Month labels.
    for (i, month) in chart.months.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            plot.x(i),
            plot.bottom + 16.0,
            escape(&month_short_ja(month))
        );
    }

    // Thresholds, dashed, labelled at the right end of the plot.
    let thresholds = [
        (chart.referral_threshold, referral_scale, REFERRAL_COLOUR, "紹介率基準", &referral_unit),
        (chart.reverse_threshold, reverse_scale, REVERSE_COLOUR, "逆紹介率基準", &reverse_unit),
    ];
    for (threshold, scale, colour, label, unit) in thresholds {
        let Some(t) = threshold.filter(|t| t.is_finite()) else {
            continue;
        };
        let y = plot.y(scale, t);
        let _ = writeln!(
            s,
            r#"<line class="threshold" x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="6 4"/>"#,
            plot.left, plot.right
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="{colour}">{label} {} {unit}</text>"#,
            plot.right - 4.0,
            y - 4.0,
            number_label(t)
        );
    }

    // Rolling 12 months: wide pale bands under the monthly lines, no markers.
    for (values, scale, colour) in [
        (&chart.referral_rolling, referral_scale, REFERRAL_COLOUR),
        (&chart.reverse_rolling, reverse_scale, REVERSE_COLOUR),
    ] {
        let points: Vec<Option<(f64, f64)>> =
            (0..slots).map(|i| value_at(values, i).map(|v| (plot.x(i), plot.y(scale, v)))).collect();
        for run in points.split(Option::is_none) {
            let coords: Vec<String> = run.iter().flatten().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            match coords.len() {
                0 => {}
                // A single complete window still shows, as a short bar.
                1 => {
                    let (x, y) = run[0].expect("non-empty run");
                    let _ = writeln!(
                        s,
                        r#"<line class="rolling" x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="{ROLLING_WIDTH}" stroke-opacity="0.35" stroke-linecap="round"/>"#,
                        x - 8.0,
                        x + 8.0
                    );
                }
                _ => {
                    let _ = writeln!(
                        s,
                        r#"<polyline class="rolling" points="{}" fill="none" stroke="{colour}" stroke-width="{ROLLING_WIDTH}" stroke-opacity="0.35" stroke-linejoin="round" stroke-linecap="round"/>"#,
                        coords.join(" ")
                    );
                }
            }
        }
    }

    // Series: referral with filled circles, reverse with hollow squares, so they differ in
    // greyscale too.
    let series = [
        (&chart.referral, referral_scale, REFERRAL_COLOUR, Marker::Circle),
        (&chart.reverse, reverse_scale, REVERSE_COLOUR, Marker::Square),
    ];
    for (values, scale, colour, marker) in series {
        let points: Vec<Option<(f64, f64)>> =
            (0..slots).map(|i| value_at(values, i).map(|v| (plot.x(i), plot.y(scale, v)))).collect();
        for run in points.split(Option::is_none) {
            if run.len() < 2 {
                continue;
            }
            let coords: Vec<String> = run.iter().flatten().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                coords.join(" ")
            );
        }
        for (x, y) in points.iter().flatten() {
            let _ = writeln!(s, "{}", marker.draw(*x, *y, colour));
        }
    }

    // Legend.
    let legend_y = 16.0;
    let _ = writeln!(s, "{}", Marker::Circle.draw(plot.left + 6.0, legend_y - 4.0, REFERRAL_COLOUR));
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{legend_y:.1}">紹介率（{referral_unit}）</text>"#,
        plot.left + 16.0
    );
    let _ = writeln!(s, "{}", Marker::Square.draw(plot.left + 156.0, legend_y - 4.0, REVERSE_COLOUR));
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{legend_y:.1}">逆紹介率（{reverse_unit}）</text>"#,
        plot.left + 166.0
    );
    let _ = writeln!(
        s,
        r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{TEXT_COLOUR}" stroke-width="1.5" stroke-dasharray="6 4"/>"#,
        plot.left + 316.0,
        legend_y - 4.0,
        plot.left + 346.0,
        legend_y - 4.0
    );
    let _ = writeln!(s, r#"<text x="{:.1}" y="{legend_y:.1}">基準線</text>"#, plot.left + 352.0);
    let rolling_y = legend_y + 17.0;
    for (offset, colour, label) in [(0.0, REFERRAL_COLOUR, "紹介率"), (156.0, REVERSE_COLOUR, "逆紹介率")]
    {
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="{ROLLING_WIDTH}" stroke-opacity="0.35" stroke-linecap="round"/>"#,
            plot.left + offset,
            rolling_y - 4.0,
            plot.left + offset + 12.0,
            rolling_y - 4.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{rolling_y:.1}">{label}（直近12か月）</text>"#,
            plot.left + offset + 16.0
        );
    }

    let has_points = (0..slots).any(|i| {
        [&chart.referral, &chart.reverse, &chart.referral_rolling, &chart.reverse_rolling]
            .iter()
            .any(|series| value_at(series, i).is_some())
    });
    if !has_points {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">表示できる月別データがありません</text>"#,
            (plot.left + plot.right) / 2.0,
            (plot.top + plot.bottom) / 2.0
        );
    }
    s.push_str("</svg>");
    s
}

#[derive(Clone, Copy)]
enum Marker {
    Circle,
    Square,
}

impl Marker {
    fn draw(self, x: f64, y: f64, colour: &str) -> String {
        match self {
            Marker::Circle => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{colour}"/>"#),
            Marker::Square => format!(
                r##"<rect x="{:.1}" y="{:.1}" width="8" height="8" fill="#fff" stroke="{colour}" stroke-width="2"/>"##,
                x - 4.0,
                y - 4.0
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::fixture_hospital_page;

    #[test]
    fn chart_snapshot() {
        insta::assert_snapshot!("chart_svg", chart_svg(&fixture_hospital_page().chart));
    }

    #[test]
    fn scale_is_round_and_covers_values() {
        let scale = |values: &[f64]| {
            let s = Scale::covering(values.iter().copied());
            (number_label(s.max), number_label(s.step))
        };
        assert_eq!(scale(&[96.5, 80.0]), ("100".into(), "20".into()));
        assert_eq!(scale(&[123.4, 70.0]), ("125".into(), "25".into()));
        assert_eq!(scale(&[71.5, 30.0]), ("80".into(), "10".into()));
        assert_eq!(scale(&[1.0]), ("1".into(), "0.2".into()));
        assert_eq!(scale(&[]), ("100".into(), "20".into()));
        assert_eq!(scale(&[f64::INFINITY, 7.0]), ("7".into(), "1".into()));
    }

    #[test]
    fn gaps_split_the_line() {
        let chart = ChartData {
            months: ["2025-04", "2025-05", "2025-06", "2025-07", "2025-08"].map(String::from).to_vec(),
            referral: vec![Some(50.0), Some(60.0), None, Some(70.0), Some(75.0)],
            reverse: vec![None, Some(f64::NAN), None, None, Some(40.0)],
            referral_rolling: vec![None, None, None, Some(66.0), Some(67.0)],
            reverse_rolling: vec![None, None, None, None, Some(41.0)],
            referral_threshold: Some(65.0),
            reverse_threshold: None,
            referral_unit: "%".into(),
            reverse_unit: "%".into(),
        };
        let svg = chart_svg(&chart);
        assert_eq!(svg.matches("<polyline points").count(), 2, "one line each side of the gap");
        assert_eq!(svg.matches("<circle").count(), 4 + 1, "four points and the legend");
        assert_eq!(svg.matches("<rect").count(), 1 + 1, "one finite reverse point and the legend");
        assert_eq!(svg.matches(r#"class="threshold""#).count(), 1);
        assert_eq!(svg.matches(r#"<polyline class="rolling""#).count(), 1, "two rolling referral points");
        assert_eq!(svg.matches(r#"<line class="rolling""#).count(), 1, "one lone rolling reverse point");
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn all_text_is_escaped() {
        let evil = r#"<script>alert(1)</script>"><img src=x onerror=alert(1)>"#;
        let chart = ChartData {
            months: vec![evil.into()],
            referral: vec![Some(1.0)],
            reverse: vec![None],
            referral_rolling: vec![None],
            reverse_rolling: vec![None],
            referral_threshold: Some(2.0),
            reverse_threshold: Some(3.0),
            referral_unit: evil.into(),
            reverse_unit: "‰".into(),
        };
        let svg = chart_svg(&chart);
        assert!(!svg.contains("<script"));
        assert!(!svg.contains("<img"));
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img"));
    }

    #[test]
    fn empty_chart_says_so() {
        let chart = ChartData {
            months: vec![],
            referral: vec![],
            reverse: vec![],
            referral_rolling: vec![],
            reverse_rolling: vec![],
            referral_threshold: None,
            reverse_threshold: None,
            referral_unit: "%".into(),
            reverse_unit: "‰".into(),
        };
        assert!(chart_svg(&chart).contains("表示できる月別データがありません"));
    }
}
