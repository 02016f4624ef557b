//! The family tree on the report: the `lineage_tree` dendrogram as inline SVG (models down the
//! left, merges to the right at the mean fused z of what they join, a dashed line at each
//! level's cut), and each model's relatives at each level, from `families`. No script; every
//! string through [`esc`].

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use super::esc;
use super::svg::fmt;
use crate::metrics::aggregate::TreeNode;
use crate::metrics::tables::families::FamiliesTable;
use crate::metrics::tables::lineage_tree::LineageTreeTable;
use crate::store::table::{self, RunRef};
use crate::store::{Output, StoreError};
use crate::vocab::FamilyLevel;

/// What the tree shows.
#[derive(Debug, Clone, Default)]
pub struct TreeView {
    /// The leaves: the run's models in name order.
    pub names: Vec<String>,
    pub nodes: Vec<TreeNode>,
    /// Each level's cut on z (None: no pair qualifies; every model alone there).
    pub cuts: Vec<(FamilyLevel, Option<f64>)>,
    /// Model -> per level, the other members of its family.
    pub relatives: BTreeMap<String, Vec<(FamilyLevel, Vec<String>)>>,
}

/// Reads the run's `lineage_tree` and `families`.
pub fn gather(output: &Output, run: &RunRef) -> Result<TreeView, StoreError> {
    let nodes = table::read_if_any::<LineageTreeTable>(output, run)?;
    let families = table::read_if_any::<FamiliesTable>(output, run)?;
    let mut names: Vec<String> = families.iter().map(|f| f.model.clone()).collect();
    names.sort();
    names.dedup();
    let mut cuts = Vec::new();
    let mut relatives: BTreeMap<String, Vec<(FamilyLevel, Vec<String>)>> = BTreeMap::new();
    for level in FamilyLevel::ALL {
        let at: Vec<_> = families.iter().filter(|f| f.level == level).collect();
        let Some(first) = at.first() else { continue };
        cuts.push((level, first.cut_z));
        let mut members: HashMap<&str, Vec<&str>> = HashMap::new();
        for f in &at {
            members.entry(f.family.as_str()).or_default().push(f.model.as_str());
        }
        for f in &at {
            let others = members[f.family.as_str()].iter().filter(|m| **m != f.model).map(|m| (*m).to_owned());
            relatives.entry(f.model.clone()).or_default().push((level, others.collect()));
        }
    }
    Ok(TreeView { names, nodes, cuts, relatives })
}

/// A model's relatives at each level, as a line of the card; with `limit`, at most that many
/// named per level (a family of many models would fill the card).
pub fn relatives_html(view: &TreeView, model: &str, limit: Option<usize>) -> String {
    let Some(levels) = view.relatives.get(model) else { return String::new() };
    let parts: Vec<String> = levels
        .iter()
        .map(|(level, others)| {
            let shown = limit.unwrap_or(usize::MAX).min(others.len());
            let who = if others.is_empty() {
                "alone".to_owned()
            } else {
                let names = others[..shown].iter().map(|o| esc(o)).collect::<Vec<_>>().join(", ");
                if shown < others.len() { format!("{names} and {} more", others.len() - shown) } else { names }
            };
            format!("<b>{}</b>: {who}", level.label())
        })
        .collect();
    format!("<p class=\"levels\">Relatives by level: {}.</p>\n", parts.join("; "))
}

/// The dendrogram's size: it sits beside the 760-pixel model map on a 1,180-pixel page, as tall
/// as the map until the models need more (at least [`MIN_ROW`] a model).
const WIDTH: f64 = 380.0;
const MAP_HEIGHT: f64 = 520.0;
const MIN_ROW: f64 = 12.0;
/// At many models the leaves are unlabelled: 500 of them in 800 pixels.
const MIN_ROW_MANY: f64 = 1.6;
/// Room for the model names, and above the models for the cuts' names.
const LABELS: f64 = 150.0;
const TOP: f64 = 40.0;

/// The leaves in the dendrogram's order (so no branch crosses another).
fn leaf_order(nodes: &[TreeNode], n: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(n);
    let mut stack = vec![n + nodes.len() - 1];
    while let Some(c) = stack.pop() {
        if c < n {
            out.push(c);
        } else {
            let node = &nodes[c - n];
            stack.push(node.right);
            stack.push(node.left);
        }
    }
    out
}

/// The levels' cuts that fall within the drawn range, levels with one cut named together
/// ("close family = vendor line").
fn cut_marks(cuts: &[(FamilyLevel, Option<f64>)], lo: f64, hi: f64) -> Vec<(f64, Vec<FamilyLevel>)> {
    let mut marks: Vec<(f64, Vec<FamilyLevel>)> = Vec::new();
    for &(level, cut) in cuts {
        let Some(cut) = cut.filter(|c| (lo..=hi).contains(c)) else { continue };
        match marks.iter_mut().find(|(z, _)| (z - cut).abs() < 1e-9) {
            Some((_, levels)) => levels.push(level),
            None => marks.push((cut, vec![level])),
        }
    }
    marks
}

/// The dendrogram as inline SVG; `colour` gives a model's palette colour (the map's). With
/// `families` (many models: model -> its family's label), the leaves are unlabelled dots a few
/// pixels apart and each labelled family is named once, beside its leaves.
pub fn dendrogram(
    view: &TreeView,
    colour: &dyn Fn(&str) -> &'static str,
    families: Option<&HashMap<String, String>>,
) -> String {
    let n = view.names.len();
    if view.nodes.is_empty() || view.nodes.len() + 1 != n {
        return "<p class=\"info\">No family tree: it needs a null to cut against (12 models or more with 30 common probes).</p>\n".to_owned();
    }
    let least = if families.is_some() { MIN_ROW_MANY } else { MIN_ROW };
    let row = ((MAP_HEIGHT - TOP - 30.0) / n as f64).clamp(least, 28.0);
    let h = TOP + row * n as f64 + 30.0;
    let (hi, lo) =
        view.nodes.iter().fold((f64::NEG_INFINITY, f64::INFINITY), |(h, l), m| (h.max(m.mean_z), l.min(m.mean_z)));
    let (hi, lo) = (hi + 0.5, if hi - lo < 1e-9 { lo - 1.0 } else { lo });
    // z runs right to left: the closest merges sit next to the models.
    let x0 = LABELS + 8.0;
    let x = |z: f64| x0 + (hi - z) / (hi - lo) * (WIDTH - x0 - 16.0);
    let mut at: Vec<(f64, f64)> = vec![(0.0, 0.0); n + view.nodes.len()];
    let mut svg = format!(
        r##"<svg class="family-tree" viewBox="0 0 {WIDTH} {h}" width="{WIDTH}" height="{h}" role="img" aria-label="family tree"><rect x="0" y="0" width="{WIDTH}" height="{h}" fill="#fafafa" stroke="#ddd"/>"##
    );
    leaves(&mut svg, view, (row, x0), &mut at, colour, families);
    for (k, node) in view.nodes.iter().enumerate() {
        let ((lx, ly), (rx, ry)) = (at[node.left], at[node.right]);
        let mx = x(node.mean_z).max(lx.max(rx));
        let _ = write!(
            svg,
            r#"<path class="branch" d="M{lx:.1},{ly:.1} H{mx:.1} V{ry:.1} H{rx:.1}"><title>mean z {} between {} models</title></path>"#,
            fmt(node.mean_z),
            node.size
        );
        at[n + k] = (mx, (ly + ry) / 2.0);
    }
    // Each cut's label on the first of three rows where it clears the labels before it.
    let mut marks = cut_marks(&view.cuts, lo, hi);
    marks.sort_by(|a, b| x(a.0).total_cmp(&x(b.0)));
    let mut row_end = [f64::NEG_INFINITY; 3];
    for (cut, levels) in &marks {
        let cx = x(*cut);
        let names: Vec<&str> = levels.iter().map(|l| l.label()).collect();
        let text = format!("{} (z {})", names.join(" = "), fmt(*cut));
        let half = 2.5 * text.len() as f64;
        let tx = cx.clamp(half + 2.0, WIDTH - half - 2.0);
        let r = row_end.iter().position(|end| *end < tx - half).unwrap_or(2);
        row_end[r] = tx + half + 4.0;
        let y = 11.0 + 10.0 * r as f64;
        let _ = write!(
            svg,
            r#"<line class="cut cut-{}" x1="{cx:.1}" y1="{:.1}" x2="{cx:.1}" y2="{:.1}"><title>{}: families merge while their mean z is at least {}</title></line><text class="cutlbl" x="{tx:.1}" y="{y:.1}" text-anchor="middle">{}</text>"#,
            levels[0].as_str(),
            y + 2.0,
            h - 26.0,
            esc(&names.join(" = ")),
            fmt(*cut),
            esc(&text)
        );
    }
    let _ = write!(
        svg,
        r#"<text class="axis" x="8" y="{:.1}">mean z of a merge: {} (left) to {} (right)</text></svg>"#,
        h - 8.0,
        fmt(hi - 0.5),
        fmt(lo)
    );
    svg
}

/// The leaves, down the left at `x0`, a `row` apart, in the tree's order (their spots into `at`):
/// each named, or at many models unlabelled dots with the labelled families named once.
fn leaves(
    svg: &mut String,
    view: &TreeView,
    (row, x0): (f64, f64),
    at: &mut [(f64, f64)],
    colour: &dyn Fn(&str) -> &'static str,
    families: Option<&HashMap<String, String>>,
) {
    let n = view.names.len();
    let order = leaf_order(&view.nodes, n);
    if let Some(families) = families {
        for (k, &leaf) in order.iter().enumerate() {
            let y = TOP + row * (k as f64 + 0.5);
            at[leaf] = (x0, y);
            let name = &view.names[leaf];
            let _ = write!(
                svg,
                r#"<circle cx="{x0:.1}" cy="{y:.1}" r="1.5" fill="{}"><title>{}</title></circle>"#,
                colour(name),
                esc(name)
            );
        }
        family_names(svg, view, &order, row, families);
    }
    for (k, &leaf) in order.iter().enumerate().filter(|_| families.is_none()) {
        let y = TOP + row * (k as f64 + 0.5);
        at[leaf] = (x0, y);
        let name = &view.names[leaf];
        let _ = write!(
            svg,
            r#"<circle cx="{x0:.1}" cy="{y:.1}" r="3" fill="{}"/><text class="leaf" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            colour(name),
            LABELS + 2.0,
            y + 3.5,
            esc(name)
        );
    }
}

/// Each labelled family's name once, at the middle of its run of leaves (a family is a branch
/// of the tree, so its leaves are together), where it clears the name above it.
fn family_names(svg: &mut String, view: &TreeView, order: &[usize], row: f64, families: &HashMap<String, String>) {
    let mut last_y = f64::NEG_INFINITY;
    let mut k = 0;
    while k < order.len() {
        let label = families.get(&view.names[order[k]]);
        let mut end = k + 1;
        while end < order.len() && families.get(&view.names[order[end]]) == label {
            end += 1;
        }
        let y = TOP + row * ((k + end) as f64 / 2.0) + 3.5;
        if let Some(label) = label.filter(|_| y >= last_y + 11.0) {
            last_y = y;
            let _ = write!(
                svg,
                r#"<text class="leaf" x="{:.1}" y="{y:.1}" text-anchor="end">{}</text>"#,
                LABELS + 2.0,
                esc(label)
            );
        }
        k = end;
    }
}

/// The tree's style rules.
pub const STYLE: &str = ".family-tree .leaf { font-size: 10px; fill: #333; } .family-tree .branch { fill: none; stroke: #555; stroke-width: 1.2; } .family-tree .cut { stroke-dasharray: 4 3; stroke-width: 1; } .family-tree .cut-near_copy { stroke: #d62728; } .family-tree .cut-close { stroke: #1f77b4; } .family-tree .cut-vendor_line { stroke: #2ca02c; } .family-tree .cutlbl, .family-tree .axis { font-size: 9px; fill: #555; } .levels { font-size: 12px; }\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> TreeView {
        let node = |step, left, right, l: Option<&str>, r: Option<&str>, mean_z, size| TreeNode {
            step,
            left,
            right,
            left_model: l.map(str::to_owned),
            right_model: r.map(str::to_owned),
            mean_z,
            size,
        };
        TreeView {
            names: vec!["<a>".into(), "b".into(), "c\"".into()],
            nodes: vec![node(0, 0, 2, Some("<a>"), Some("c\""), 6.0, 2), node(1, 1, 3, Some("b"), None, 0.5, 3)],
            cuts: vec![
                (FamilyLevel::NearCopy, Some(6.0)),
                (FamilyLevel::Close, Some(3.0)),
                (FamilyLevel::VendorLine, None),
            ],
            relatives: BTreeMap::from([(
                "<a>".to_owned(),
                vec![(FamilyLevel::Close, vec!["c\"".to_owned()]), (FamilyLevel::VendorLine, Vec::new())],
            )]),
        }
    }

    #[test]
    fn the_dendrogram_draws_every_merge_and_cut_and_escapes_names() {
        let svg = dendrogram(&view(), &|_| "#999999", None);
        assert_eq!(svg.matches("class=\"branch\"").count(), 2);
        assert_eq!(svg.matches("class=\"leaf\"").count(), 3);
        assert_eq!(svg.matches("<line class=\"cut").count(), 2, "no line for a level without a cut");
        // Levels with one cut share a line, named together.
        let same =
            TreeView { cuts: vec![(FamilyLevel::Close, Some(3.0)), (FamilyLevel::VendorLine, Some(3.0))], ..view() };
        let svg_same = dendrogram(&same, &|_| "#999999", None);
        assert_eq!(svg_same.matches("<line class=\"cut").count(), 1);
        assert!(svg_same.contains("close family = vendor line"), "{svg_same}");
        assert!(!svg.contains("<a>") && svg.contains("&lt;a&gt;") && svg.contains("c&quot;"), "{svg}");
        // The leaves follow the tree: the pair merged first sits together.
        assert_eq!(leaf_order(&view().nodes, 3), vec![1, 0, 2]);
        let lonely = TreeView { nodes: Vec::new(), ..view() };
        assert!(dendrogram(&lonely, &|_| "#999999", None).contains("No family tree"));
    }

    #[test]
    fn a_card_lists_relatives_at_each_level() {
        let line = relatives_html(&view(), "<a>", None);
        assert!(line.contains("<b>close family</b>: c&quot;") && line.contains("<b>vendor line</b>: alone"), "{line}");
        assert_eq!(relatives_html(&view(), "zzz", None), "");
    }
}
