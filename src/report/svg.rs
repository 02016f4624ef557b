//! The report's charts as inline SVG, written by hand: a line chart with interval and baseline
//! bands and alert marks, and a heatmap. Every piece of text goes through [`super::esc`].

use std::fmt::Write;

use super::esc;

/// One night of a series.
#[derive(Debug, Clone)]
pub struct Point {
    pub label: String,
    pub value: f64,
    pub ci: Option<(f64, f64)>,
    /// Baseline and its band (baseline +- 2 spreads).
    pub baseline: Option<(f64, f64, f64)>,
    /// `warning` or `critical` when an alert was raised on this series that night.
    pub alert: Option<String>,
    /// A new comparable segment starts here (change of instrument).
    pub segment_start: bool,
}

const W: f64 = 560.0;
const H: f64 = 200.0;
const PAD_L: f64 = 56.0;
const PAD_R: f64 = 12.0;
const PAD_T: f64 = 24.0;
const PAD_B: f64 = 28.0;

/// A line chart of a series with its 95% interval (shaded), its baseline (dashed, with a band)
/// and alerts (red for critical, orange for warning).
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
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for p in points {
        for v in [Some(p.value), p.ci.map(|c| c.0), p.ci.map(|c| c.1), p.baseline.map(|b| b.1), p.baseline.map(|b| b.2)]
            .into_iter()
            .flatten()
            .filter(|v| v.is_finite())
        {
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
    let (lo, hi) = (lo - margin, hi + margin);
    let n = points.len();
    let x = |i: usize| {
        if n == 1 { (PAD_L + W - PAD_R) / 2.0 } else { PAD_L + (W - PAD_L - PAD_R) * i as f64 / (n - 1) as f64 }
    };
    let y = |v: f64| PAD_T + (H - PAD_T - PAD_B) * (1.0 - (v - lo) / (hi - lo));
    let _ = write!(
        svg,
        r#"<rect x="{PAD_L}" y="{PAD_T}" width="{}" height="{}" class="frame"/><text x="{}" y="{}" class="tick" text-anchor="end">{}</text><text x="{}" y="{}" class="tick" text-anchor="end">{}</text>"#,
        W - PAD_L - PAD_R,
        H - PAD_T - PAD_B,
        PAD_L - 4.0,
        y(hi - margin) + 4.0,
        fmt(hi - margin),
        PAD_L - 4.0,
        y(lo + margin) + 4.0,
        fmt(lo + margin)
    );
    let band = |pts: Vec<(usize, f64, f64)>, class: &str| -> String {
        if pts.is_empty() {
            return String::new();
        }
        let upper: Vec<String> = pts.iter().map(|(i, _, h)| format!("{:.1},{:.1}", x(*i), y(*h))).collect();
        let lower: Vec<String> = pts.iter().rev().map(|(i, l, _)| format!("{:.1},{:.1}", x(*i), y(*l))).collect();
        format!(r#"<polygon class="{class}" points="{} {}"/>"#, upper.join(" "), lower.join(" "))
    };
    svg.push_str(&band(
        points.iter().enumerate().filter_map(|(i, p)| p.baseline.map(|b| (i, b.1, b.2))).collect(),
        "baseline-band",
    ));
    svg.push_str(&band(
        points.iter().enumerate().filter_map(|(i, p)| p.ci.map(|c| (i, c.0, c.1))).collect(),
        "ci-band",
    ));
    let line = |pts: Vec<(usize, f64)>, class: &str| -> String {
        let coords: Vec<String> = pts.iter().map(|(i, v)| format!("{:.1},{:.1}", x(*i), y(*v))).collect();
        format!(r#"<polyline class="{class}" points="{}"/>"#, coords.join(" "))
    };
    svg.push_str(&line(
        points.iter().enumerate().filter_map(|(i, p)| p.baseline.map(|b| (i, b.0))).collect(),
        "baseline",
    ));
    svg.push_str(&line(points.iter().enumerate().map(|(i, p)| (i, p.value)).collect(), "value"));
    for (i, p) in points.iter().enumerate() {
        if p.segment_start && i > 0 {
            let _ = write!(
                svg,
                r#"<line class="segment" x1="{0:.1}" x2="{0:.1}" y1="{PAD_T}" y2="{1}"/>"#,
                x(i),
                H - PAD_B
            );
        }
        let class = match p.alert.as_deref() {
            Some("critical") => "dot critical",
            Some("warning") => "dot warning",
            _ => "dot",
        };
        let r = if p.alert.is_some() { 4.5 } else { 2.5 };
        let _ = write!(
            svg,
            r#"<circle class="{class}" cx="{:.1}" cy="{:.1}" r="{r}"><title>{}: {}{}</title></circle>"#,
            x(i),
            y(p.value),
            esc(&p.label),
            fmt(p.value),
            p.alert.as_deref().map(|a| format!(" ({})", esc(a))).unwrap_or_default()
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{PAD_L}" y="{}" class="tick">{}</text><text x="{}" y="{}" class="tick" text-anchor="end">{}</text></svg>"#,
        H - 8.0,
        esc(&points[0].label),
        W - PAD_R,
        H - 8.0,
        esc(&points[n - 1].label)
    );
    svg
}

/// A heatmap of a symmetric model x model similarity matrix (`None`: the pair never met).
pub fn heatmap(names: &[String], value: impl Fn(usize, usize) -> Option<f64>) -> String {
    let m = names.len();
    let cell = if m <= 20 { 22.0 } else { (440.0 / m as f64).max(4.0) };
    let label_w = 130.0;
    let size = label_w + cell * m as f64 + 10.0;
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for a in 0..m {
        for b in 0..m {
            if a != b
                && let Some(v) = value(a, b)
            {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    if !lo.is_finite() || hi - lo < 1e-9 {
        (lo, hi) = (0.0, 1.0);
    }
    let mut svg = format!(
        r#"<svg class="heatmap" viewBox="0 0 {size} {size}" width="{size}" height="{size}" role="img" aria-label="model pair similarity">"#
    );
    for (i, name) in names.iter().enumerate() {
        let c = label_w + cell * (i as f64 + 0.5);
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{c:.1}" class="tick" text-anchor="end" dominant-baseline="middle">{}</text><text class="tick" transform="translate({c:.1},{:.1}) rotate(-60)">{}</text>"#,
            label_w - 4.0,
            esc(name),
            label_w - 4.0,
            esc(name)
        );
    }
    for a in 0..m {
        for b in 0..m {
            let (x, y) = (label_w + cell * b as f64, label_w + cell * a as f64);
            let (fill, title) = match (a == b, value(a, b)) {
                (true, _) => ("#dddddd".to_owned(), esc(&names[a])),
                (false, Some(v)) => {
                    (colour((v - lo) / (hi - lo)), format!("{} and {}: {}", esc(&names[a]), esc(&names[b]), fmt(v)))
                }
                (false, None) => {
                    ("#ffffff".to_owned(), format!("{} and {}: no shared probe", esc(&names[a]), esc(&names[b])))
                }
            };
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{cell:.1}" height="{cell:.1}" fill="{fill}"><title>{title}</title></rect>"#
            );
        }
    }
    let _ = write!(svg, r#"<text x="4" y="14" class="tick">{} (pale) to {} (dark)</text></svg>"#, fmt(lo), fmt(hi));
    svg
}

/// Pale yellow to dark blue.
fn colour(t: f64) -> String {
    let t = t.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(255.0, 8.0), mix(247.0, 48.0), mix(188.0, 107.0))
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

    #[test]
    fn text_in_charts_is_escaped() {
        let p = Point {
            label: "<b>".into(),
            value: 1.0,
            ci: None,
            baseline: None,
            alert: Some("critical".into()),
            segment_start: false,
        };
        let svg = line_chart("a<script>", &[p.clone(), p]);
        assert!(!svg.contains("<script>") && !svg.contains("<b>"), "{svg}");
        assert!(svg.contains("a&lt;script&gt;"));
        let h = heatmap(&["<i>x".into(), "y".into()], |_, _| Some(0.5));
        assert!(!h.contains("<i>") && h.contains("&lt;i&gt;x"));
    }
}
