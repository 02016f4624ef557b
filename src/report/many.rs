//! The page at many models: above [`MANY_MODELS`] a model x model heatmap, a labelled map and one
//! open card per model stop being readable (500 models made a 500 x 500 heatmap of 31.6 MB whose
//! labels overprinted). The pair heatmap is then drawn per behaviour family (family x family mean
//! similarity, the largest [`FAMILY_ROWS`] families, the rest pooled in one row), with a collapsed
//! drill-down per family (its own heatmap while it is small, else its closest pairs); the map
//! labels only a few families ([`labelled_families`]); every per-model list is cut to
//! [`ROWS_SHOWN`] rows, saying how many more the tables hold. At or below the threshold the page
//! is drawn per model as it always was.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use super::data::ReportData;
use super::esc;
use super::svg::{self, fmt};

/// Above this many models the page aggregates. Why 40: the heatmap has 720 pixels for its cells,
/// so at 40 models a cell is 18 pixels, the least that still takes an 11-pixel label per row and
/// column; the map's labels, placed apart, stop finding free room at about as many; and 40 open
/// cards are already a long scroll.
pub const MANY_MODELS: usize = 40;
/// Families drawn in their own row of the family heatmap, the largest first; the smaller ones
/// share one row (so the heatmap is at most 41 x 41 whatever the night).
pub const FAMILY_ROWS: usize = 40;
/// A family's drill-down is its own heatmap up to this many members (18-pixel cells, as above)...
const DRILL_HEATMAP: usize = MANY_MODELS;
/// ... while the drill-downs' cells together stay under this (about 190 bytes a cell: 0.8 MB);
/// past it a family's drill-down is its closest pairs.
const DRILL_CELLS: usize = 4_000;
/// Closest pairs listed for a family drawn without its heatmap.
const TOP_PAIRS: usize = 15;
/// Families labelled on the model map and the family tree, the largest first.
pub const LABELLED_FAMILIES: usize = 16;
/// Rows of a per-model list (cards' table, identity, contagion, alerts, incidents) shown at most.
pub const ROWS_SHOWN: usize = 150;

/// Whether a night of `models` models gets the aggregated page.
pub fn is_many(models: usize) -> bool {
    models > MANY_MODELS
}

/// A group of the family heatmap: its label and members.
struct Group {
    label: String,
    members: Vec<String>,
}

/// The families, largest first (then by name); "name (size)" as their label.
pub fn by_size(families: &BTreeMap<String, Vec<String>>) -> Vec<(&String, &Vec<String>)> {
    let mut out: Vec<_> = families.iter().collect();
    out.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    out
}

fn groups(families: &BTreeMap<String, Vec<String>>) -> Vec<Group> {
    let sorted = by_size(families);
    let mut out: Vec<Group> = sorted
        .iter()
        .take(FAMILY_ROWS)
        .map(|(f, ms)| Group { label: format!("{f} ({})", ms.len()), members: (*ms).clone() })
        .collect();
    let rest = &sorted[sorted.len().min(FAMILY_ROWS)..];
    if !rest.is_empty() {
        let members: Vec<String> = rest.iter().flat_map(|(_, ms)| ms.iter().cloned()).collect();
        out.push(Group { label: format!("{} smaller families ({} models)", rest.len(), members.len()), members });
    }
    out
}

/// Mean similarity between (and within) groups over the pairs that met: (sum, count) per cell.
fn group_means(groups: &[Group], pairs: &HashMap<(String, String), f64>) -> Vec<Vec<Option<f64>>> {
    let of: HashMap<&str, usize> =
        groups.iter().enumerate().flat_map(|(g, gr)| gr.members.iter().map(move |m| (m.as_str(), g))).collect();
    let n = groups.len();
    let mut acc = vec![(0.0, 0usize); n * n];
    for ((a, b), v) in pairs {
        let (Some(&ga), Some(&gb)) = (of.get(a.as_str()), of.get(b.as_str())) else { continue };
        for (x, y) in [(ga, gb), (gb, ga)] {
            acc[x * n + y].0 += v;
            acc[x * n + y].1 += 1;
            if ga == gb {
                break;
            }
        }
    }
    (0..n).map(|a| (0..n).map(|b| acc[a * n + b]).map(|(s, c)| (c > 0).then(|| s / c as f64)).collect()).collect()
}

fn pair(pairs: &HashMap<(String, String), f64>, a: &str, b: &str) -> Option<f64> {
    let key = if a < b { (a.to_owned(), b.to_owned()) } else { (b.to_owned(), a.to_owned()) };
    pairs.get(&key).copied()
}

/// The pairs section at many models: the family heatmap and a drill-down per family.
pub fn pairs_section(page: &mut String, data: &ReportData) {
    let models: usize = data.families.values().map(Vec::len).sum();
    let groups = groups(&data.families);
    let means = group_means(&groups, &data.pairs);
    let (lo, hi) = svg::HEATMAP_SCALE;
    let _ = writeln!(
        page,
        "<h2>Model pairs</h2>\n<p>{models} models: more than {MANY_MODELS}, so the pairs are drawn per behaviour family (the families of the section below; its size beside each name): each cell is the mean cosine similarity of two families' models' answers to the same probes, the diagonal the mean within a family (grey: a family of one), largest family first{}. The colours run from {lo} to {hi} on every night's page; hover a cell for its value. Each family's own pairs are under the heatmap; every pair is in table <code>pair_similarity</code>.</p>",
        if groups.len() > FAMILY_ROWS {
            format!("; the largest {FAMILY_ROWS} have a row each, the others share the last one")
        } else {
            String::new()
        }
    );
    let labels: Vec<String> = groups.iter().map(|g| g.label.clone()).collect();
    // A family of one has no pair within it: its diagonal cell stays grey.
    page.push_str(&svg::heatmap_of(&labels, |a, b| means[a][b], true));
    page.push('\n');
    drill_downs(page, data, &groups, &means);
}

/// One collapsed section per family of two or more: its heatmap while small, else its closest
/// pairs.
fn drill_downs(page: &mut String, data: &ReportData, groups: &[Group], means: &[Vec<Option<f64>>]) {
    page.push_str("<h3>Within each family</h3>\n<div class=\"drill\">\n");
    let mut cells = 0;
    for (g, group) in groups.iter().enumerate().filter(|(_, g)| g.members.len() > 1) {
        let m = &group.members;
        let _ = writeln!(
            page,
            "<details class=\"family-pairs\"><summary>{}: mean similarity within {}</summary>",
            esc(&group.label),
            means[g][g].map_or("-".into(), fmt)
        );
        if m.len() <= DRILL_HEATMAP && cells + m.len() * m.len() <= DRILL_CELLS {
            cells += m.len() * m.len();
            page.push_str(&svg::heatmap(m, |a, b| pair(&data.pairs, &m[a], &m[b])));
        } else {
            top_pairs(page, data, m);
        }
        page.push_str("</details>\n");
    }
    page.push_str("</div>\n");
}

/// The family's closest pairs, as a table.
fn top_pairs(page: &mut String, data: &ReportData, members: &[String]) {
    let mut within: Vec<(&str, &str, f64)> = Vec::new();
    for (i, a) in members.iter().enumerate() {
        for b in &members[i + 1..] {
            if let Some(v) = pair(&data.pairs, a, b) {
                within.push((a, b, v));
            }
        }
    }
    within.sort_by(|x, y| y.2.total_cmp(&x.2));
    let _ = writeln!(
        page,
        "<p class=\"info\">{} models: the {} closest of its {} pairs.</p><table><tr><th>model</th><th>model</th><th>mean similarity</th></tr>",
        members.len(),
        within.len().min(TOP_PAIRS),
        within.len()
    );
    for (a, b, v) in within.iter().take(TOP_PAIRS) {
        let _ = writeln!(page, "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", esc(a), esc(b), fmt(*v));
    }
    page.push_str("</table>\n");
}

/// The families labelled on the map and the tree: model -> "family (size)" for the members of the
/// [`LABELLED_FAMILIES`] largest families of two or more.
pub fn labelled_families(families: &BTreeMap<String, Vec<String>>) -> HashMap<String, String> {
    by_size(families)
        .into_iter()
        .filter(|(_, ms)| ms.len() > 1)
        .take(LABELLED_FAMILIES)
        .flat_map(|(f, ms)| ms.iter().map(move |m| (m.clone(), format!("{f} ({})", ms.len()))))
        .collect()
}

/// "and 350 more in table `x`" under a list cut to [`ROWS_SHOWN`].
pub fn more_note(page: &mut String, total: usize, table: &str) {
    if total > ROWS_SHOWN {
        let _ = writeln!(
            page,
            "<p class=\"info\">The first {ROWS_SHOWN} of {total} rows; the rest are in table <code>{}</code>.</p>",
            esc(table)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn families(sizes: &[usize]) -> BTreeMap<String, Vec<String>> {
        let mut k = 0;
        sizes
            .iter()
            .enumerate()
            .map(|(f, &n)| {
                let members = (0..n)
                    .map(|_| {
                        k += 1;
                        format!("m{k:03}")
                    })
                    .collect();
                (format!("f{f:02}"), members)
            })
            .collect()
    }

    #[test]
    fn small_families_are_pooled_and_means_are_per_group() {
        let mut sizes = vec![3, 2];
        sizes.extend(std::iter::repeat_n(1, FAMILY_ROWS + 5));
        let fam = families(&sizes);
        let groups = groups(&fam);
        assert_eq!(groups.len(), FAMILY_ROWS + 1);
        assert_eq!(groups[0].label, "f00 (3)");
        assert_eq!(groups[1].label, "f01 (2)");
        assert_eq!(groups[FAMILY_ROWS].label, "7 smaller families (7 models)");
        let pairs = HashMap::from([
            (("m001".to_owned(), "m002".to_owned()), 0.8),
            (("m001".to_owned(), "m003".to_owned()), 0.6),
            (("m001".to_owned(), "m004".to_owned()), 0.2),
            (("m002".to_owned(), "m005".to_owned()), 0.4),
        ]);
        let means = group_means(&groups, &pairs);
        assert!((means[0][0].unwrap() - 0.7).abs() < 1e-12);
        assert!((means[0][1].unwrap() - 0.3).abs() < 1e-12);
        assert_eq!(means[0][1], means[1][0]);
        assert_eq!(means[1][1], None, "no pair within f01 met");
        let labelled = labelled_families(&fam);
        assert_eq!(labelled.len(), 5, "only families of two or more: {labelled:?}");
        assert_eq!(labelled["m004"], "f01 (2)");
    }

    /// A night of 500 models in 25 families of 20, every pair measured, rendered whole: the page
    /// stays small, its heatmap is per family, the map and tree name families, not models.
    #[test]
    fn a_night_of_500_models_renders_aggregated_and_small() {
        use super::super::lineage::{LineageView, MapPoint, ModelCard};
        use super::super::tree::TreeView;
        use crate::lineage::{LineageRow, Verdict};
        let (fams, size) = (25, 20);
        let name = |f: usize, i: usize| format!("fam{f:02}-model-{i:03}");
        let families: BTreeMap<String, Vec<String>> =
            (0..fams).map(|f| (name(f, 0), (0..size).map(|i| name(f, i)).collect())).collect();
        let names: Vec<String> = families.values().flatten().cloned().collect();
        let n = names.len();
        let mut pairs = HashMap::new();
        for a in 0..n {
            for b in a + 1..n {
                let v = if a / size == b / size { 0.8 } else { 0.3 + 0.01 * ((a + b) % 7) as f64 };
                pairs.insert((names[a].clone(), names[b].clone()), v);
            }
        }
        let relatives = |a: usize| -> Vec<LineageRow> {
            (1..4)
                .map(|k| LineageRow {
                    model: names[a].clone(),
                    relative: names[(a + k) % n].clone(),
                    rank: Some(k),
                    calibrated: Some((0.5, 0.4, 0.6)),
                    z: Some(5.0),
                    q: Some(1e-4),
                    z_content: None,
                    z_style: None,
                    carried: None,
                    n_probes: 30,
                    declared: None,
                    same_vendor: false,
                    verdict: Some(if a.is_multiple_of(50) {
                        Verdict::Undeclared
                    } else {
                        Verdict::InsufficientCoverage
                    }),
                    claimed_maker: None,
                    identity: None,
                    claims_relative_vendor: false,
                })
                .collect()
        };
        let cards: Vec<ModelCard> = (0..n)
            .map(|a| ModelCard {
                name: names[a].clone(),
                declared: Default::default(),
                family: Some(names[a / size * size].clone()),
                rates: vec![Some(0.1); 4],
                self_similarity: Some(0.9),
                history: vec![vec![0.1, 0.2]; 4],
                relatives: relatives(a),
            })
            .collect();
        let nodes = chained_tree(fams, size);
        let view = LineageView {
            rows: (0..n).flat_map(relatives).collect(),
            has_null: true,
            map: (0..n)
                .map(|a| MapPoint {
                    name: names[a].clone(),
                    x: (a / size) as f64 + 0.01 * (a % size) as f64,
                    y: ((a / size) % 5) as f64,
                    colour: Some(a / size),
                })
                .collect(),
            ecosystem: vec![None; 4],
            cards,
            tree: TreeView { names: names.clone(), nodes, ..Default::default() },
            family_labels: Some(labelled_families(&families)),
            ..Default::default()
        };
        let data = synthetic_data(pairs, families);
        let nav = super::super::pages::Nav { base: String::new(), prev: None, next: None, same_date: Vec::new() };
        let page = super::super::render(&data, &view, &nav, &[]);
        check_500(&page, n, fams);
    }

    /// The tree: each family's models chained together, then the families.
    fn chained_tree(fams: usize, size: usize) -> Vec<crate::metrics::aggregate::TreeNode> {
        use crate::metrics::aggregate::TreeNode;
        let n = fams * size;
        let mut nodes = Vec::new();
        let mut node = |left, right, mean_z, size| {
            nodes.push(TreeNode { step: nodes.len(), left, right, left_model: None, right_model: None, mean_z, size });
            n + nodes.len() - 1
        };
        let heads: Vec<usize> =
            (0..fams).map(|f| (1..size).fold(f * size, |c, i| node(c, f * size + i, 6.0, i + 1))).collect();
        heads.into_iter().reduce(|a, b| node(a, b, 1.0, 0));
        nodes
    }

    fn synthetic_data(pairs: HashMap<(String, String), f64>, families: BTreeMap<String, Vec<String>>) -> ReportData {
        ReportData {
            run: crate::plan::runs::RunInfo {
                run_id: "r500".into(),
                run_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
                suite_id: "s".into(),
                sampling_id: "x".into(),
                coverage: 1.0,
            },
            embedder_id: "lexical-v1".into(),
            embedder_name: "lexical".into(),
            nights: Vec::new(),
            alerts: Vec::new(),
            incidents: Vec::new(),
            episodes: Vec::new(),
            pairs,
            families,
            family_level: crate::vocab::FamilyLevel::Close,
            has_previous: false,
            moved: Vec::new(),
            samples: BTreeMap::new(),
            prompts: BTreeMap::new(),
            phrases: Vec::new(),
            repanel: Default::default(),
            members: Vec::new(),
        }
    }

    /// What the page of the synthetic night must hold.
    fn check_500(page: &str, n: usize, fams: usize) {
        assert!(page.len() < 3_000_000, "the page of 500 models is {} bytes", page.len());
        let heatmap = &page[page.find("<svg class=\"heatmap\"").unwrap()..];
        let heatmap = &heatmap[..heatmap.find("</svg>").unwrap()];
        assert_eq!(heatmap.matches("<rect").count() - 24, fams * fams, "25 x 25 cells and the colour key");
        assert!(heatmap.contains(">fam00-model-000 (20)</text>"), "families named with their size");
        assert_eq!(page.matches("class=\"family-pairs\"").count(), fams, "a drill-down per family");
        let map = &page[page.find("<svg class=\"model-map\"").unwrap()..];
        let map = &map[..map.find("</svg>").unwrap()];
        assert_eq!(map.matches("<circle").count(), n, "every model a point");
        assert_eq!(map.matches("<text class=\"lbl\"").count(), LABELLED_FAMILIES, "the largest families named");
        let tree = &page[page.find("<svg class=\"family-tree\"").unwrap()..];
        let tree = &tree[..tree.find("</svg>").unwrap()];
        assert!(tree.matches("class=\"leaf\"").count() <= LABELLED_FAMILIES, "no model names on the tree");
        assert_eq!(page.matches("class=\"model-card\"").count(), super::super::cards::CARDS_SHOWN);
        assert!(page.contains("<td>fam00-model-000</td>"), "every model has its row");
    }
}
