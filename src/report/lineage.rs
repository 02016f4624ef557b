//! The report's who-is-like-whom sections: a map of the models (classical MDS of the calibrated
//! similarity, coloured by family, declared parents drawn as lines) beside the family tree
//! ([`super::tree`]), the `lineage` table's verdicts (with the signal that carried each), and
//! one card per model (its rates against the ecosystem's, its self-similarity, its relatives at
//! each level of the tree, nearest relatives, what it declares and what it claims to be
//! ([`super::identity`]), and its rates over past runs).
//! Inline SVG, no script; every string through [`esc`].

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use super::data::{CARD_RATES, Night};
use super::esc;
use super::svg::fmt;
use super::tree::{self, TreeView};
use crate::collect::responses::{self, Declared};
use crate::identity::summary::IdentityRow;
use crate::identity::table::IdentityTable;
use crate::lineage::table::LineageTable;
use crate::lineage::{self, LineageRow, Verdict};
use crate::metrics::aggregate::PairSimilarity;
use crate::metrics::relatedness::{self, classical_mds};
use crate::metrics::tables::pair_similarity::PairSimilarityTable;
use crate::metrics::tables::run_metrics::RunMetricsTable;
use crate::store::table::{self, RunRef};
use crate::store::{Output, StoreError};
use crate::vocab::Scope;
use crate::vocab::metric;

/// Lineage rows shown in the report's table, at most (the table holds all).
const SHOWN_ROWS: usize = 200;

/// One model's card.
#[derive(Debug, Clone)]
pub struct ModelCard {
    pub name: String,
    pub declared: Declared,
    /// Its calibrated family (None: the run has no families).
    pub family: Option<String>,
    /// Tonight's rates, by [`CARD_RATES`].
    pub rates: Vec<Option<f64>>,
    pub self_similarity: Option<f64>,
    /// Its rates over the charted nights, oldest first (NaN where a night has none).
    pub history: Vec<Vec<f64>>,
    /// Its `lineage` rows: nearest first, then declared relatives.
    pub relatives: Vec<LineageRow>,
}

/// A model on the map.
#[derive(Debug, Clone, PartialEq)]
pub struct MapPoint {
    pub name: String,
    pub x: f64,
    pub y: f64,
    /// Index into the palette (None: alone in its family, or no families).
    pub colour: Option<usize>,
}

/// Everything the sections show.
#[derive(Debug, Clone, Default)]
pub struct LineageView {
    pub rows: Vec<LineageRow>,
    /// Whether the run had a null (12 models or more): q-values, families, verdicts.
    pub has_null: bool,
    pub map: Vec<MapPoint>,
    /// Declared (child, parent) pairs among the run's models.
    pub parents: Vec<(String, String)>,
    /// The ecosystem's rates tonight, by [`CARD_RATES`].
    pub ecosystem: Vec<Option<f64>>,
    pub cards: Vec<ModelCard>,
    /// The family tree and each model's relatives at each level.
    pub tree: TreeView,
    /// What each model says made it (table `identity`).
    pub identity: Vec<IdentityRow>,
    /// At many models ([`super::many`]), the models of the families labelled on the map and the
    /// tree, with their family's label; None: every model is labelled.
    pub family_labels: Option<HashMap<String, String>>,
}

/// Reads what the sections show for `run`: its `pair_similarity`, `lineage`, `run_metrics` and
/// what its `responses` declare; `families` and `nights` as the rest of the page has them.
pub fn gather(
    output: &Output,
    run: &RunRef,
    families: &BTreeMap<String, Vec<String>>,
    nights: &[Night],
) -> Result<LineageView, StoreError> {
    let pairs: Vec<_> = table::read_if_any::<PairSimilarityTable>(output, run)?
        .into_iter()
        .filter(|(c, _)| c.is_none())
        .map(|(_, p)| p)
        .collect();
    let rows = table::read_if_any::<LineageTable>(output, run)?;
    let responses_path = table::path::<responses::ResponsesTable>(output, run);
    let declared = if responses_path.exists() { responses::declared(&responses_path)? } else { BTreeMap::new() };
    let metrics = table::read::<RunMetricsTable>(output, run)?;

    let mut names: Vec<String> = pairs.iter().flat_map(|p| [p.model_a.clone(), p.model_b.clone()]).collect();
    names.sort();
    names.dedup();
    let has_null = pairs.iter().any(|p| p.calibrated.is_some_and(|c| c.q.is_some()));

    let family_of: HashMap<&str, &str> =
        families.iter().flat_map(|(f, ms)| ms.iter().map(move |m| (m.as_str(), f.as_str()))).collect();
    let map = map_points(&names, &pairs, has_null, families, &family_of);
    let parents = names
        .iter()
        .flat_map(|child| {
            names
                .iter()
                .filter(|p| lineage::relation(child, p, &declared) == Some(lineage::Relation::Parent))
                .map(move |p| (child.clone(), p.clone()))
        })
        .collect();

    let value =
        |scope: &Scope, metric: &str| metrics.iter().find(|m| m.scope == *scope && m.metric == metric).map(|m| m.value);
    let ecosystem = CARD_RATES.iter().map(|(m, _)| value(&Scope::Overall, m)).collect();
    let cards = names
        .iter()
        .map(|name| {
            let scope = Scope::Model(name.clone());
            ModelCard {
                name: name.clone(),
                declared: declared.get(name).cloned().unwrap_or_default(),
                family: family_of.get(name.as_str()).map(|f| (*f).to_owned()),
                rates: CARD_RATES.iter().map(|(m, _)| value(&scope, m)).collect(),
                self_similarity: value(&scope, metric::SELF_SIMILARITY),
                history: CARD_RATES
                    .iter()
                    .map(|(m, _)| {
                        nights
                            .iter()
                            .map(|night| {
                                night.models.get(&(name.clone(), (*m).to_owned())).copied().unwrap_or(f64::NAN)
                            })
                            .collect()
                    })
                    .collect(),
                relatives: rows.iter().filter(|r| r.model == *name).cloned().collect(),
            }
        })
        .collect();
    let tree = tree::gather(output, run)?;
    let identity = table::read_if_any::<IdentityTable>(output, run)?;
    let family_labels = super::many::is_many(names.len()).then(|| super::many::labelled_families(families));
    Ok(LineageView { rows, has_null, map, parents, ecosystem, cards, tree, identity, family_labels })
}

/// The model map's points: classical MDS of `top - s`, with s the pair's z where the run has a null (0,
/// the null's centre, where a pair has none), else its calibrated similarity; models coloured
/// by their family when it has more than one member.
fn map_points(
    names: &[String],
    pairs: &[PairSimilarity],
    has_null: bool,
    families: &BTreeMap<String, Vec<String>>,
    family_of: &HashMap<&str, &str>,
) -> Vec<MapPoint> {
    let n = names.len();
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, m)| (m.as_str(), i)).collect();
    let mut s = vec![0.0; n * n];
    for p in pairs {
        let v = p.calibrated.and_then(|c| if has_null { c.z } else { Some(c.value) }).unwrap_or(0.0);
        let (a, b) = (index[p.model_a.as_str()], index[p.model_b.as_str()]);
        s[a * n + b] = v;
        s[b * n + a] = v;
    }
    let top = s.iter().copied().fold(0.0, f64::max);
    let d: Vec<f64> = (0..n * n).map(|k| if k / n == k % n { 0.0 } else { top - s[k] }).collect();
    let coloured: Vec<&str> = families.iter().filter(|(_, ms)| ms.len() > 1).map(|(f, _)| f.as_str()).collect();
    classical_mds(&d, n)
        .into_iter()
        .zip(names)
        .map(|((x, y), name)| MapPoint {
            name: name.clone(),
            x,
            y,
            colour: family_of.get(name.as_str()).and_then(|f| coloured.iter().position(|c| c == f)),
        })
        .collect()
}

/// Family colours (a family of one is grey).
const PALETTE: &[&str] =
    &["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#393b79"];

/// The map, the lineage table and the claimed identities (the cards follow: [`super::cards`]).
pub fn sections(page: &mut String, view: &LineageView) {
    page.push_str(STYLE);
    map_section(page, view);
    table_section(page, view);
    super::identity::section(page, &view.identity, &view.rows);
}

const STYLE: &str = "<style>\n.map-and-tree { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }\n.model-map .pt { stroke: #fff; stroke-width: 1; } .model-map .lbl { font-size: 10px; fill: #333; paint-order: stroke; stroke: #fafafa; stroke-width: 3px; } .model-map .parent { stroke: #555; stroke-dasharray: 3 2; stroke-width: 1.2; fill: none; }\n.cards { display: flex; flex-wrap: wrap; gap: 10px; } .model-card { border: 1px solid #ddd; border-radius: 4px; padding: 4px 8px; width: 360px; overflow-x: auto; } .model-card td { overflow-wrap: break-word; } table.models { font-size: 12.5px; } table.models td:first-child { white-space: nowrap; } .model-card summary { font-weight: 600; cursor: pointer; } .model-card table { font-size: 12px; } .spark { vertical-align: middle; } .spark polyline { fill: none; stroke: #08519c; stroke-width: 1.2; }\n.verdict-undeclared { color: #b00; font-weight: 600; } .verdict-declared_not_evident { color: #b36200; } .verdict-declared_and_evident { color: #2b7a2b; }\n</style>\n";

fn map_section(page: &mut String, view: &LineageView) {
    page.push_str("<h2>Model map and family tree</h2>\n<p>Left: models placed by their calibrated similarity (classical MDS: near is alike, after each probe's difficulty and each model's closeness to everyone are taken out); colour: calibrated family (grey: a family of one); dashed lines: declared parents. Right: the family tree, content and style fused: two branches join at the mean z between them, and each dashed line is a level's cut (near copies, close family, vendor line): the families of a level are the branches joined left of its line.</p>\n<div class=\"map-and-tree\">");
    if let Some(labels) = &view.family_labels {
        let _ = write!(
            page,
            "<p>{} models: more than {}, so the map names only the {} largest families (at the point nearest each one's centre) and the tree only its families; hover a point or a leaf for its model.</p>",
            view.map.len(),
            super::many::MANY_MODELS,
            labels.values().collect::<std::collections::HashSet<_>>().len()
        );
    }
    page.push_str(&labelled_map(&view.map, &view.parents, view.family_labels.as_ref()));
    let colours: HashMap<&str, Option<usize>> = view.map.iter().map(|p| (p.name.as_str(), p.colour)).collect();
    let colour = |name: &str| {
        let c = colours.get(name).copied().flatten();
        c.map_or("#999999", |c| PALETTE[c % PALETTE.len()])
    };
    page.push_str(&tree::dendrogram(&view.tree, &colour, view.family_labels.as_ref()));
    page.push_str("</div>\n<style>\n");
    page.push_str(tree::STYLE);
    page.push_str("</style>\n");
}

/// The map as inline SVG, every point labelled.
pub fn model_map(points: &[MapPoint], parents: &[(String, String)]) -> String {
    labelled_map(points, parents, None)
}

/// Which points carry a label, and its text: every point its name, or with `families` (model ->
/// its family's label) one point per labelled family, the member nearest the family's centre.
fn map_labels(points: &[MapPoint], families: Option<&HashMap<String, String>>) -> Vec<Option<String>> {
    let Some(families) = families else { return points.iter().map(|p| Some(p.name.clone())).collect() };
    let mut centres: HashMap<&str, (f64, f64, usize)> = HashMap::new();
    for p in points {
        if let Some(f) = families.get(&p.name) {
            let c = centres.entry(f.as_str()).or_default();
            *c = (c.0 + p.x, c.1 + p.y, c.2 + 1);
        }
    }
    let mut nearest: HashMap<&str, (usize, f64)> = HashMap::new();
    for (i, p) in points.iter().enumerate() {
        let Some(f) = families.get(&p.name) else { continue };
        let (sx, sy, n) = centres[f.as_str()];
        let d = (p.x - sx / n as f64).powi(2) + (p.y - sy / n as f64).powi(2);
        let best = nearest.entry(f.as_str()).or_insert((i, d));
        if d < best.1 {
            *best = (i, d);
        }
    }
    let mut out = vec![None; points.len()];
    for (f, (i, _)) in nearest {
        out[i] = Some(f.to_owned());
    }
    out
}

/// The map as inline SVG; `families`: see [`map_labels`].
fn labelled_map(
    points: &[MapPoint],
    parents: &[(String, String)],
    families: Option<&HashMap<String, String>>,
) -> String {
    let (w, h, pad) = (760.0, 520.0, 40.0);
    let mut svg = format!(
        r##"<svg class="model-map" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="model map"><rect x="0" y="0" width="{w}" height="{h}" fill="#fafafa" stroke="#ddd"/>"##
    );
    if points.is_empty() {
        svg.push_str(r#"<text x="40" y="60">no model pairs</text></svg>"#);
        return svg;
    }
    let range = |f: fn(&MapPoint) -> f64| {
        let (lo, hi) = points.iter().map(f).fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
        if hi - lo < 1e-12 { (lo - 1.0, hi + 1.0) } else { (lo, hi) }
    };
    let ((x0, x1), (y0, y1)) = (range(|p| p.x), range(|p| p.y));
    // One scale for both axes, so distances read alike in every direction.
    let scale = ((w - 2.0 * pad - 120.0) / (x1 - x0)).min((h - 2.0 * pad) / (y1 - y0));
    // Centred: the room one axis does not need is shared on both sides of it.
    let ox = ((w - 2.0 * pad - 120.0) - (x1 - x0) * scale) / 2.0;
    let oy = ((h - 2.0 * pad) - (y1 - y0) * scale) / 2.0;
    let at = |p: &MapPoint| (pad + ox + (p.x - x0) * scale, h - pad - oy - (p.y - y0) * scale);
    let by_name: HashMap<&str, &MapPoint> = points.iter().map(|p| (p.name.as_str(), p)).collect();
    for (child, parent) in parents {
        if let (Some(c), Some(p)) = (by_name.get(child.as_str()), by_name.get(parent.as_str())) {
            let ((cx, cy), (px, py)) = (at(c), at(p));
            let _ = write!(
                svg,
                r#"<line class="parent" x1="{cx:.1}" y1="{cy:.1}" x2="{px:.1}" y2="{py:.1}"><title>{} declares {} as a parent</title></line>"#,
                esc(child),
                esc(parent)
            );
        }
    }
    let spots: Vec<(f64, f64)> = points.iter().map(at).collect();
    let texts = map_labels(points, families);
    let radius = if families.is_some() { 3.5 } else { 5.0 };
    for (p, (x, y)) in points.iter().zip(&spots) {
        let fill = p.colour.map_or("#999999", |c| PALETTE[c % PALETTE.len()]);
        let family = families.and_then(|f| f.get(&p.name)).map_or(String::new(), |f| format!(", family {}", esc(f)));
        let _ = write!(
            svg,
            r#"<circle class="pt" cx="{x:.1}" cy="{y:.1}" r="{radius}" fill="{fill}"><title>{}{family}</title></circle>"#,
            esc(&p.name)
        );
    }
    // The labels last, over every point, each where it overlaps no other.
    let (named, named_spots): (Vec<MapPoint>, Vec<(f64, f64)>) = points
        .iter()
        .zip(&spots)
        .zip(&texts)
        .filter_map(|((p, s), t)| t.as_ref().map(|t| (MapPoint { name: t.clone(), ..p.clone() }, *s)))
        .unzip();
    for (p, (lx, ly, anchor)) in named.iter().zip(place_labels(&named, &named_spots, w)) {
        let _ =
            write!(svg, r#"<text class="lbl" x="{lx:.1}" y="{ly:.1}" text-anchor="{anchor}">{}</text>"#, esc(&p.name));
    }
    svg.push_str("</svg>");
    svg
}

/// Width of one character of a map label (10 px text), for placing labels apart.
const LABEL_CHAR_W: f64 = 5.6;

/// The box (x0, y0, x1, y1) of a label of width `w` written at (x, y) with `anchor`.
fn label_box(x: f64, y: f64, anchor: &str, w: f64) -> (f64, f64, f64, f64) {
    let x0 = match anchor {
        "start" => x,
        "end" => x - w,
        _ => x - w / 2.0,
    };
    (x0, y - 9.0, x0 + w, y + 2.0)
}

/// Where each point's label goes: beside its point, on the first side (right, left, above,
/// below, then diagonally) where it overlaps no label placed before it and stays on the map;
/// on the right when no side is free. Close relatives sit close, so without this their names
/// print over each other. Returns (x, y, text-anchor) per point.
fn place_labels(points: &[MapPoint], spots: &[(f64, f64)], width: f64) -> Vec<(f64, f64, &'static str)> {
    let mut placed: Vec<(f64, f64, f64, f64)> = Vec::new(); // boxes: x0, y0, x1, y1
    let mut out = Vec::with_capacity(points.len());
    for (p, &(x, y)) in points.iter().zip(spots) {
        let w = p.name.chars().count() as f64 * LABEL_CHAR_W;
        let candidates = [
            (x + 7.0, y + 3.5, "start"),
            (x - 7.0, y + 3.5, "end"),
            (x, y - 8.0, "middle"),
            (x, y + 15.0, "middle"),
            (x + 6.0, y - 6.0, "start"),
            (x + 6.0, y + 13.0, "start"),
            (x - 6.0, y - 6.0, "end"),
            (x - 6.0, y + 13.0, "end"),
        ];
        let bounds = |&(lx, ly, anchor): &(f64, f64, &str)| label_box(lx, ly, anchor, w);
        let free = |b: &(f64, f64, f64, f64)| {
            b.0 >= 0.0 && b.2 <= width && !placed.iter().any(|o| b.0 < o.2 && o.0 < b.2 && b.1 < o.3 && o.1 < b.3)
        };
        let chosen = candidates.iter().find(|c| free(&bounds(c))).copied().unwrap_or(candidates[0]);
        placed.push(bounds(&chosen));
        out.push(chosen);
    }
    out
}

pub(super) fn verdict_cell(v: Option<Verdict>) -> String {
    match v {
        Some(v) => {
            format!(r#"<span class="verdict-{}">{}</span>"#, esc(v.as_str()), esc(&v.as_str().replace('_', " ")))
        }
        None => String::new(),
    }
}

pub(super) fn opt(v: Option<f64>) -> String {
    v.map_or("-".into(), fmt)
}

pub(super) fn q_text(q: Option<f64>) -> String {
    match q {
        Some(q) if q < 1e-3 => format!("{q:.1e}"),
        Some(q) => format!("{q:.3}"),
        None => "-".into(),
    }
}

/// The fused z and each signal's own: "6.32 (content 6.76, style 5.25)".
pub(super) fn z_text(r: &LineageRow) -> String {
    match (r.z_content, r.z_style) {
        (Some(c), Some(s)) => format!("{} (content {}, style {})", opt(r.z), fmt(c), fmt(s)),
        _ => opt(r.z),
    }
}

/// Which signal carried a verdict: "; carried by style, 57%".
pub(super) fn carried_text(r: &LineageRow) -> String {
    match (r.carried, r.verdict) {
        (Some((signal, share)), Some(Verdict::Undeclared | Verdict::DeclaredAndEvident)) => {
            format!(" (carried by {}, {:.0}%)", signal.as_str(), 100.0 * share)
        }
        _ => String::new(),
    }
}

fn table_section(page: &mut String, view: &LineageView) {
    page.push_str("<h2>Lineage: declared and measured</h2>\n");
    if !view.has_null {
        let _ = writeln!(
            page,
            "<p class=\"info\">Fewer than {} models with {} common probes: relatives are ranked by calibrated similarity, but there is no background to test them against, so no verdicts.</p>",
            relatedness::MIN_MODELS,
            relatedness::MIN_COMMON_PROBES
        );
    }
    let mut shown: Vec<&LineageRow> = view
        .rows
        .iter()
        .filter(|r| {
            matches!(r.verdict, Some(Verdict::Undeclared | Verdict::DeclaredNotEvident | Verdict::DeclaredAndEvident))
        })
        .collect();
    shown.sort_by(|a, b| a.verdict.cmp(&b.verdict).then(a.q.unwrap_or(1.0).total_cmp(&b.q.unwrap_or(1.0))));
    let short = |v: Verdict| view.rows.iter().filter(|r| r.verdict == Some(v)).count();
    let _ = writeln!(
        page,
        "<p>Each model's {} nearest relatives by calibrated similarity, and every relative its configuration declares (a parent, or the same family): {} undeclared, {} declared but not evident, {} declared and evident; {} rows with too few common probes.</p>",
        lineage::NEAREST,
        short(Verdict::Undeclared),
        short(Verdict::DeclaredNotEvident),
        short(Verdict::DeclaredAndEvident),
        short(Verdict::InsufficientCoverage),
    );
    page.push_str("<table class=\"lineage\"><tr><th>model</th><th>relative</th><th>rank</th><th>calibrated similarity (95% interval)</th><th>z (fused, and each signal's)</th><th>q</th><th>probes</th><th>declared</th><th>verdict</th></tr>\n");
    for r in shown.iter().take(SHOWN_ROWS) {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
            esc(&r.model),
            esc(&r.relative),
            r.rank.map_or("-".into(), |k| k.to_string()),
            r.calibrated.map_or("-".into(), |(v, lo, hi)| format!("{} ({} to {})", fmt(v), fmt(lo), fmt(hi))),
            z_text(r),
            q_text(r.q),
            r.n_probes,
            esc(r.declared.map_or("", |d| d.as_str())),
            verdict_cell(r.verdict),
            carried_text(r)
        );
    }
    page.push_str("</table>\n");
    if shown.len() > SHOWN_ROWS {
        let _ = writeln!(
            page,
            "<p class=\"info\">{} more rows in the <code>lineage</code> table.</p>",
            shown.len() - SHOWN_ROWS
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_of_close_points_do_not_overlap() {
        let pt = |name: &str, x: f64| MapPoint { name: name.into(), x, y: 0.0, colour: None };
        // Three models almost on one spot, one far off (so the scale spreads the map).
        let points = [pt("model-alpha", 0.0), pt("model-beta", 0.001), pt("model-gamma", 0.002), pt("far", 10.0)];
        let spots: Vec<(f64, f64)> = points.iter().map(|p| (40.0 + p.x * 50.0, 200.0)).collect();
        let labels = place_labels(&points, &spots, 760.0);
        let boxes: Vec<(f64, f64, f64, f64)> = labels
            .iter()
            .zip(&points)
            .map(|((x, y, anchor), p)| label_box(*x, *y, anchor, p.name.len() as f64 * LABEL_CHAR_W))
            .collect();
        for (i, a) in boxes.iter().enumerate() {
            assert!(a.0 >= 0.0 && a.2 <= 760.0, "label {i} stays on the map: {a:?}");
            for b in &boxes[i + 1..] {
                assert!(!(a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3), "{a:?} overlaps {b:?}");
            }
        }
    }

    #[test]
    fn the_map_escapes_model_names() {
        let pts = vec![
            MapPoint { name: "<b>x".into(), x: 0.0, y: 0.0, colour: Some(0) },
            MapPoint { name: "y\"".into(), x: 1.0, y: 2.0, colour: None },
        ];
        let svg = model_map(&pts, &[("<b>x".into(), "y\"".into())]);
        assert!(!svg.contains("<b>") && svg.contains("&lt;b&gt;x") && svg.contains("y&quot;"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 2);
        assert_eq!(svg.matches("class=\"parent\"").count(), 1);
    }
}
