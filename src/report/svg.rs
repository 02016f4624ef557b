//! The report's charts as inline SVG, written by hand: a line chart with interval and baseline
//! bands, axis ticks and dates, alert marks, and marks for nights of low coverage and changes of
//! instrument or panel; and a heatmap on a fixed colour scale. Every piece of text goes through
//! [`super::esc`].

use std::fmt::Write;

use super::esc;

/// One night of a series.
#[derive(Debug, Clone, Default)]
pub struct Point {
    /// The night's date (YYYY-MM-DD) or another label.
    pub label: String,
    pub value: f64,
    pub ci: Option<(f64, f64)>,
    /// Baseline and its band (baseline +- 2 spreads).
    pub baseline: Option<(f64, f64, f64)>,
    /// `warning` or `critical` when an alert was raised on this series that night.
    pub alert: Option<String>,
    /// A new comparable segment starts here (change of instrument).
    pub segment_start: bool,
    /// The set of models judged changed here.
    pub panel_change: bool,
    /// The night's coverage, when the coverage guard fired (nothing was judged).
    pub low_coverage: Option<f64>,
    /// Measured on that night's own models, not on the chart's panel ([`super::panel`]): drawn
    /// in grey, a series of its own.
    pub other_panel: bool,
}

const W: f64 = 560.0;
const H: f64 = 220.0;
const PAD_L: f64 = 56.0;
const PAD_R: f64 = 16.0;
const PAD_T: f64 = 24.0;
const PAD_B: f64 = 40.0;

/// Round steps for `ticks` values over `[lo, hi]`: 1, 2, 2.5 or 5 times a power of ten.
pub fn nice_ticks(lo: f64, hi: f64, ticks: usize) -> (Vec<f64>, f64) {
    if hi <= lo || !lo.is_finite() || !hi.is_finite() {
        return (vec![lo], 1.0);
    }
    let raw = (hi - lo) / ticks.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    ((first..=last).map(|k| k as f64 * step).collect(), step)
}

/// A tick's text: as many decimals as the step needs.
fn tick_text(v: f64, step: f64) -> String {
    let decimals = (-(step.log10().floor()) as i64
        + i64::from((step / 10f64.powf(step.log10().floor()) - 2.5).abs() < 1e-9))
    .clamp(0, 6);
    let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
    format!("{v:.*}", decimals as usize)
}

/// `2026-01-05` -> `01-05`; anything else as it is.
fn short_date(label: &str) -> &str {
    if label.len() == 10 && label.as_bytes()[4] == b'-' { &label[5..] } else { label }
}

/// Where a chart's values and nights land: the plot area and its value range.
struct Frame {
    nights: usize,
    lo: f64,
    hi: f64,
}

impl Frame {
    const PLOT_W: f64 = W - PAD_L - PAD_R;
    const PLOT_H: f64 = H - PAD_T - PAD_B;
    const BOTTOM: f64 = H - PAD_B;

    /// The range of every value, interval and baseline band, widened a little (a flat series
    /// gets a small range of its own).
    fn around(points: &[Point]) -> Frame {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for p in points {
            let all =
                [Some(p.value), p.ci.map(|c| c.0), p.ci.map(|c| c.1), p.baseline.map(|b| b.1), p.baseline.map(|b| b.2)];
            for v in all.into_iter().flatten().filter(|v| v.is_finite()) {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if hi - lo < 1e-9 {
            let pad = (hi.abs() * 0.1).max(1e-3);
            lo -= pad;
            hi += pad;
        }
        let margin = (hi - lo) * 0.08;
        Frame { nights: points.len(), lo: lo - margin, hi: hi + margin }
    }

    fn x(&self, i: usize) -> f64 {
        if self.nights == 1 {
            PAD_L + Self::PLOT_W / 2.0
        } else {
            PAD_L + Self::PLOT_W * i as f64 / (self.nights - 1) as f64
        }
    }

    fn y(&self, v: f64) -> f64 {
        PAD_T + Self::PLOT_H * (1.0 - (v - self.lo) / (self.hi - self.lo))
    }

    /// A shaded band through `(night, low, high)` points.
    fn band(&self, pts: &[(usize, f64, f64)], class: &str) -> String {
        if pts.is_empty() {
            return String::new();
        }
        let upper = pts.iter().map(|(i, _, h)| format!("{:.1},{:.1}", self.x(*i), self.y(*h)));
        let lower = pts.iter().rev().map(|(i, l, _)| format!("{:.1},{:.1}", self.x(*i), self.y(*l)));
        format!(r#"<polygon class="{class}" points="{}"/>"#, upper.chain(lower).collect::<Vec<_>>().join(" "))
    }

    /// A line through `(night, value)` points.
    fn line(&self, pts: &[(usize, f64)], class: &str) -> String {
        let coords: Vec<String> = pts.iter().map(|(i, v)| format!("{:.1},{:.1}", self.x(*i), self.y(*v))).collect();
        format!(r#"<polyline class="{class}" points="{}"/>"#, coords.join(" "))
    }
}

/// A line chart of a series with its 95% interval (shaded), its baseline (dashed, with a band),
/// value and date ticks, alerts (red for critical, orange for warning), nights of low coverage
/// (a pale red column, hollow grey dot) and changes of instrument or panel (vertical lines).
pub fn line_chart(title: &str, points: &[Point]) -> String {
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{}"><text x="{PAD_L}" y="16" class="title">{}</text>"#,
        esc(title),
        esc(title)
    );
    if points.is_empty() {
        svg.push_str(r#"<text x="60" y="100">no data</text></svg>"#);
        return svg;
    }
    let frame = Frame::around(points);
    let _ = write!(
        svg,
        r#"<rect x="{PAD_L}" y="{PAD_T}" width="{}" height="{}" class="frame"/>"#,
        Frame::PLOT_W,
        Frame::PLOT_H
    );
    value_ticks(&mut svg, &frame);
    low_coverage_columns(&mut svg, &frame, points);
    let indexed = || points.iter().enumerate();
    let baseline_band: Vec<_> = indexed().filter_map(|(i, p)| p.baseline.map(|b| (i, b.1, b.2))).collect();
    let ci_band: Vec<_> = indexed().filter_map(|(i, p)| p.ci.map(|c| (i, c.0, c.1))).collect();
    let baseline: Vec<_> = indexed().filter_map(|(i, p)| p.baseline.map(|b| (i, b.0))).collect();
    let values: Vec<_> = indexed().filter(|(_, p)| !p.other_panel).map(|(i, p)| (i, p.value)).collect();
    let others: Vec<_> = indexed().filter(|(_, p)| p.other_panel).map(|(i, p)| (i, p.value)).collect();
    svg.push_str(&frame.band(&baseline_band, "baseline-band"));
    svg.push_str(&frame.band(&ci_band, "ci-band"));
    svg.push_str(&frame.line(&baseline, "baseline"));
    svg.push_str(&frame.line(&others, "value other-panel"));
    svg.push_str(&frame.line(&values, "value"));
    for (i, p) in indexed() {
        night_marks(&mut svg, &frame, i, p);
    }
    date_ticks(&mut svg, &frame, points);
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{}" class="tick" text-anchor="middle">run date ({} runs)</text></svg>"#,
        PAD_L + Frame::PLOT_W / 2.0,
        H - 6.0,
        points.len()
    );
    svg
}

/// Value ticks, with light grid lines.
fn value_ticks(svg: &mut String, frame: &Frame) {
    let (ticks, step) = nice_ticks(frame.lo, frame.hi, 4);
    for t in &ticks {
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{PAD_L}" x2="{right:.1}" y1="{at:.1}" y2="{at:.1}"/><text x="{tx:.1}" y="{ty:.1}" class="tick" text-anchor="end">{text}</text>"#,
            right = W - PAD_R,
            at = frame.y(*t),
            tx = PAD_L - 4.0,
            ty = frame.y(*t) + 3.5,
            text = esc(&tick_text(*t, step))
        );
    }
}

/// Columns behind the data for nights of low coverage (nothing was judged on them).
fn low_coverage_columns(svg: &mut String, frame: &Frame, points: &[Point]) {
    let n = points.len();
    let column = if n > 1 { Frame::PLOT_W / (n - 1) as f64 } else { Frame::PLOT_W / 4.0 };
    for (i, p) in points.iter().enumerate() {
        if let Some(c) = p.low_coverage {
            let _ = write!(
                svg,
                r#"<rect class="low-coverage" x="{:.1}" y="{PAD_T}" width="{:.1}" height="{:.1}"><title>{}: coverage {:.0}%, diversity not judged</title></rect>"#,
                (frame.x(i) - column / 2.0).max(PAD_L),
                column.min(Frame::PLOT_W),
                Frame::PLOT_H,
                esc(&p.label),
                c * 100.0
            );
        }
    }
}

/// A night's dot (coloured by its alert) and its vertical marks (instrument or panel changed).
fn night_marks(svg: &mut String, frame: &Frame, i: usize, p: &Point) {
    let bottom = Frame::BOTTOM;
    for (mark, class, what) in [
        (p.segment_start, "segment", "the instrument changed: a new baseline"),
        (p.panel_change, "panel", "the set of models changed"),
    ] {
        if mark && i > 0 {
            let _ = write!(
                svg,
                r#"<line class="{class}" x1="{0:.1}" x2="{0:.1}" y1="{PAD_T}" y2="{bottom}"><title>{1}: {what}</title></line>"#,
                frame.x(i),
                esc(&p.label)
            );
        }
    }
    let class = match (p.alert.as_deref(), p.low_coverage) {
        (_, Some(_)) => "dot low",
        _ if p.other_panel => "dot other-panel",
        (Some("critical"), _) => "dot critical",
        (Some("warning"), _) => "dot warning",
        _ => "dot",
    };
    let r = if p.alert.is_some() { 4.5 } else { 2.5 };
    let _ = write!(
        svg,
        r#"<circle class="{class}" cx="{:.1}" cy="{:.1}" r="{r}"><title>{}: {}{}</title></circle>"#,
        frame.x(i),
        frame.y(p.value),
        esc(&p.label),
        fmt(p.value),
        p.alert.as_deref().map(|a| format!(" ({})", esc(a))).unwrap_or_default()
    );
}

/// Date ticks: at most six, evenly spread, the first with its year.
fn date_ticks(svg: &mut String, frame: &Frame, points: &[Point]) {
    let (n, bottom) = (points.len(), Frame::BOTTOM);
    let shown = n.min(6);
    let mut last = usize::MAX;
    for k in 0..shown {
        let i = if shown == 1 { 0 } else { (k * (n - 1) + (shown - 1) / 2) / (shown - 1) };
        if i == last {
            continue;
        }
        last = i;
        let (text, anchor) = match (k, shown) {
            (0, 1) => (points[i].label.as_str(), "middle"),
            (0, _) => (points[i].label.as_str(), "start"),
            (k, s) if k == s - 1 => (short_date(&points[i].label), "end"),
            _ => (short_date(&points[i].label), "middle"),
        };
        let _ = write!(
            svg,
            r#"<line class="axis" x1="{0:.1}" x2="{0:.1}" y1="{bottom}" y2="{1}"/><text x="{0:.1}" y="{2}" class="tick" text-anchor="{anchor}">{3}</text>"#,
            frame.x(i),
            bottom + 4.0,
            bottom + 16.0,
            esc(text)
        );
    }
}

/// The colour scale of the heatmap: fixed, so two nights' maps compare by eye.
pub const HEATMAP_SCALE: (f64, f64) = (0.0, 1.0);

/// Approximate width of a character of the 11px labels.
const CHAR_W: f64 = 6.4;

/// A heatmap of a symmetric model x model similarity matrix (`None`: the pair never met), on
/// the fixed scale [`HEATMAP_SCALE`], with a colour key; the labels get the room their longest
/// name needs. Values are printed in the cells when there is room.
pub fn heatmap(names: &[String], value: impl Fn(usize, usize) -> Option<f64>) -> String {
    heatmap_of(names, value, false)
}

/// [`heatmap`], with `diagonal` a value of its own on the diagonal (a group with itself) rather
/// than a model with itself (grey).
pub fn heatmap_of(names: &[String], value: impl Fn(usize, usize) -> Option<f64>, diagonal: bool) -> String {
    let m = names.len();
    let cell = if m <= 16 { 34.0 } else { (720.0 / m as f64).clamp(6.0, 34.0) };
    let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(0) as f64;
    let label_w = longest * CHAR_W + 10.0;
    // Column labels are turned -60 degrees: they rise by sin 60 and reach right by cos 60.
    let top = longest * CHAR_W * 0.87 + 14.0;
    let right = longest * CHAR_W * 0.5 + 10.0;
    let key_h = 46.0;
    // Room for the colour key and its caption, however few the models.
    let width = (label_w + cell * m as f64 + right).max(label_w + KEY_W + 150.0);
    let height = top + cell * m as f64 + key_h;
    let (lo, hi) = HEATMAP_SCALE;
    let mut svg = format!(
        r#"<svg class="heatmap" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}" role="img" aria-label="model pair similarity">"#
    );
    for (i, name) in names.iter().enumerate() {
        let c = cell * (i as f64 + 0.5);
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" class="label" text-anchor="end" dominant-baseline="middle">{}</text><text class="label" transform="translate({:.1},{:.1}) rotate(-60)">{}</text>"#,
            label_w - 4.0,
            top + c,
            esc(name),
            label_w + c,
            top - 4.0,
            esc(name)
        );
    }
    let show_values = cell >= 30.0;
    for a in 0..m {
        for b in 0..m {
            let (x, y) = (label_w + cell * b as f64, top + cell * a as f64);
            let (fill, title, v) = match (a == b, value(a, b)) {
                (true, None) => ("#dddddd".to_owned(), esc(&names[a]), None),
                (true, Some(_)) if !diagonal => ("#dddddd".to_owned(), esc(&names[a]), None),
                (true, Some(v)) => {
                    (colour((v - lo) / (hi - lo)), format!("within {}: {}", esc(&names[a]), fmt(v)), Some(v))
                }
                (false, Some(v)) => (
                    colour((v - lo) / (hi - lo)),
                    format!("{} and {}: {}", esc(&names[a]), esc(&names[b]), fmt(v)),
                    Some(v),
                ),
                (false, None) => {
                    ("#ffffff".to_owned(), format!("{} and {}: no shared probe", esc(&names[a]), esc(&names[b])), None)
                }
            };
            let _ = write!(
                svg,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{cell:.1}" height="{cell:.1}" fill="{fill}" stroke="#fff"><title>{title}</title></rect>"##
            );
            if let Some(v) = v.filter(|_| show_values) {
                let dark = (v - lo) / (hi - lo) > 0.55;
                let _ = write!(
                    svg,
                    r#"<text x="{:.1}" y="{:.1}" class="cell{}" text-anchor="middle" dominant-baseline="middle">{:.2}</text>"#,
                    x + cell / 2.0,
                    y + cell / 2.0,
                    if dark { " dark" } else { "" },
                    v
                );
            }
        }
    }
    colour_key(&mut svg, label_w, top + cell * m as f64 + 14.0);
    svg.push_str("</svg>");
    svg
}

/// Width of the heatmap's colour key.
const KEY_W: f64 = 240.0;

/// The heatmap's colour key, from `left` at height `key_y`, on the fixed scale.
fn colour_key(svg: &mut String, left: f64, key_y: f64) {
    let (lo, hi) = HEATMAP_SCALE;
    let key_w = KEY_W;
    let steps = 24;
    for s in 0..steps {
        let t = (s as f64 + 0.5) / steps as f64;
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{key_y:.1}" width="{:.2}" height="10" fill="{}"/>"#,
            left + key_w * s as f64 / steps as f64,
            key_w / steps as f64 + 0.3,
            colour(t)
        );
    }
    for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" class="tick" text-anchor="middle">{}</text>"#,
            left + key_w * t,
            key_y + 22.0,
            tick_text(lo + (hi - lo) * t, 0.25)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" class="tick">mean cosine similarity</text>"#,
        left + key_w + 8.0,
        key_y + 9.0
    );
}

/// Pale yellow through green to dark blue (t in [0, 1]).
fn colour(t: f64) -> String {
    const STOPS: [(f64, f64, f64); 4] =
        [(255.0, 250.0, 205.0), (161.0, 218.0, 180.0), (65.0, 182.0, 196.0), (8.0, 48.0, 107.0)];
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let k = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - k as f64;
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

pub fn fmt(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(label: &str, value: f64) -> Point {
        Point { label: label.into(), value, ..Default::default() }
    }

    #[test]
    fn text_in_charts_is_escaped() {
        let p = Point { alert: Some("critical".into()), ..point("<b>", 1.0) };
        let svg = line_chart("a<script>", &[p.clone(), p]);
        assert!(!svg.contains("<script>") && !svg.contains("<b>"), "{svg}");
        assert!(svg.contains("a&lt;script&gt;"));
        let h = heatmap(&["<i>x".into(), "y".into()], |_, _| Some(0.5));
        assert!(!h.contains("<i>") && h.contains("&lt;i&gt;x"));
    }

    #[test]
    fn ticks_are_round_numbers_inside_the_range() {
        let (ticks, step) = nice_ticks(3.37, 4.62, 4);
        assert_eq!(step, 0.5);
        assert_eq!(ticks, vec![3.5, 4.0, 4.5]);
        assert_eq!(tick_text(4.0, 0.5), "4.0");
        let (ticks, step) = nice_ticks(0.0, 1.0, 4);
        assert_eq!((ticks.len(), step), (5, 0.25));
        assert_eq!(tick_text(0.25, 0.25), "0.25");
        assert_eq!(tick_text(0.123, 0.02), "0.12");
        assert_eq!(tick_text(120.0, 20.0), "120");
    }

    #[test]
    fn a_chart_has_value_and_date_ticks_and_marks_low_coverage_and_panel_changes() {
        let mut points: Vec<Point> =
            (1..=9).map(|d| point(&format!("2026-01-0{d}"), 4.0 + f64::from(d) * 0.1)).collect();
        points[4].low_coverage = Some(0.72);
        points[6].panel_change = true;
        let svg = line_chart("effective number of models", &points);
        assert!(svg.contains(">2026-01-01</text>"), "the first date in full: {svg}");
        assert!(svg.contains(">01-09</text>"), "the last one short");
        assert!(svg.contains("class=\"grid\""), "value ticks");
        assert!(svg.contains("coverage 72%, diversity not judged"));
        assert!(svg.contains("class=\"panel\"") && svg.contains("the set of models changed"));
    }

    #[test]
    fn the_heatmap_scale_is_fixed_and_labels_have_room() {
        let names: Vec<String> = vec!["a-very-long-model-name-indeed".into(), "b".into()];
        let pale = heatmap(&names, |_, _| Some(0.2));
        let same = heatmap(&names, |_, _| Some(0.2));
        let with_high = heatmap(&names, |a, b| Some(if a + b == 1 { 0.2 } else { 0.9 }));
        // The colour of 0.2 does not depend on the other values on the map.
        let fill = |svg: &str| svg.split("fill=\"").nth(2).unwrap().split('"').next().unwrap().to_owned();
        assert_eq!(fill(&pale), fill(&same));
        assert_eq!(fill(&pale), fill(&with_high), "{pale}");
        assert_eq!(colour(0.0), "#fffacd");
        assert_eq!(colour(1.0), "#08306b");
        // The longest label fits left of the first column.
        let x_first_cell: f64 = pale.split("<rect x=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
        assert!(x_first_cell >= 29.0 * 6.0, "{x_first_cell}");
    }
}
