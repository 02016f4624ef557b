//! One card per model (its rates against the ecosystem's, its self-similarity, its relatives at
//! each level of the tree, nearest relatives, what it declares and what it claims to be
//! ([`super::identity`]), and its rates over past runs); above [`many::MANY_MODELS`] models, the
//! [`CARDS_SHOWN`] models whose lineage is most in question get a card and every model a row of
//! a compact table. Inline SVG, no script; every string through [`esc`].

use std::fmt::Write;

use super::data::CARD_RATES;
use super::esc;
use super::lineage::{LineageView, ModelCard, carried_text, opt, q_text, verdict_cell, z_text};
use super::many;
use super::svg::fmt;
use super::tree;
use crate::lineage::Verdict;

/// Cards open by default up to this many models.
const OPEN_CARDS: usize = 30;
/// Cards drawn at many models (the rest are rows of the compact table).
pub const CARDS_SHOWN: usize = 12;
/// Relatives named per level on a card at many models.
const RELATIVES_NAMED: usize = 12;
/// Rows of the compact table at most.
const TABLE_ROWS: usize = 1_000;

/// The models section: every card, or at many models the cards of the models most in question
/// and a compact table of all.
pub fn section(page: &mut String, view: &LineageView) {
    page.push_str("<h2>Models</h2>\n<p>One card per model: its rates against the ecosystem's (the mean over models), with the rate over past comparable runs; its self-similarity (how alike its own samples are); its relatives at each level of the family tree; its nearest relatives (hover a z for each signal's, a verdict for the signal that carried it) and what it declares.</p>\n");
    if !many::is_many(view.cards.len()) {
        let open = if view.cards.len() <= OPEN_CARDS { " open" } else { "" };
        cards(page, &view.cards.iter().collect::<Vec<_>>(), open, view);
        return;
    }
    let ordered = in_question(view);
    let _ = writeln!(
        page,
        "<p>{} models: the cards of the {CARDS_SHOWN} whose lineage is most in question (most relatives measured but not declared, then most declared but not evident, then claiming another vendor's identity, then by name); every model is a row of the table below them.</p>",
        view.cards.len()
    );
    cards(page, &ordered[..CARDS_SHOWN.min(ordered.len())], " open", view);
    table(page, &ordered);
}

/// The cards, most in question first.
fn in_question(view: &LineageView) -> Vec<&ModelCard> {
    let count = |c: &ModelCard, v: Verdict| c.relatives.iter().filter(|r| r.verdict == Some(v)).count();
    let claims_other = |c: &ModelCard| {
        view.identity.iter().any(|r| {
            r.model == c.name
                && !r.persona
                && r.verdict == Some(crate::identity::summary::IdentityVerdict::ClaimsOtherIdentity)
        })
    };
    let mut out: Vec<&ModelCard> = view.cards.iter().collect();
    out.sort_by_cached_key(|c| {
        (
            std::cmp::Reverse(count(c, Verdict::Undeclared)),
            std::cmp::Reverse(count(c, Verdict::DeclaredNotEvident)),
            !claims_other(c),
            c.name.clone(),
        )
    });
    out
}

/// One row per model: family, rates, self-similarity, nearest relative, verdicts.
fn table(page: &mut String, ordered: &[&ModelCard]) {
    page.push_str(
        "<div class=\"wide\"><table class=\"models\"><tr><th>model</th><th>family (measured)</th><th>vendor</th>",
    );
    for (_, label) in CARD_RATES {
        let _ = write!(page, "<th>{label}</th>");
    }
    page.push_str("<th>self-similarity</th><th>nearest relative (z)</th><th>relatives by verdict</th></tr>\n");
    for card in ordered.iter().take(TABLE_ROWS) {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td>",
            esc(&card.name),
            esc(card.family.as_deref().unwrap_or("-")),
            esc(card.declared.vendor.as_deref().unwrap_or("-"))
        );
        for rate in &card.rates {
            let _ = write!(page, "<td>{}</td>", opt(*rate));
        }
        let nearest = card.relatives.iter().filter(|r| r.rank.is_some()).min_by_key(|r| r.rank);
        let verdicts: Vec<String> = [Verdict::Undeclared, Verdict::DeclaredNotEvident, Verdict::DeclaredAndEvident]
            .into_iter()
            .filter_map(|v| {
                let k = card.relatives.iter().filter(|r| r.verdict == Some(v)).count();
                (k > 0).then(|| format!("{k} {}", verdict_cell(Some(v))))
            })
            .collect();
        let _ = writeln!(
            page,
            "<td>{}</td><td>{}</td><td>{}</td></tr>",
            card.self_similarity.map_or("-".into(), fmt),
            nearest.map_or("-".into(), |r| format!("{} ({})", esc(&r.relative), opt(r.z))),
            verdicts.join("; ")
        );
    }
    page.push_str("</table></div>\n");
    if ordered.len() > TABLE_ROWS {
        let _ = writeln!(
            page,
            "<p class=\"info\">The first {TABLE_ROWS} of {} models; the rest are in table <code>lineage</code>.</p>",
            ordered.len()
        );
    }
}

/// A small line of a series (NaN: no value that night).
fn sparkline(values: &[f64]) -> String {
    let present: Vec<(usize, f64)> = values.iter().copied().enumerate().filter(|(_, v)| v.is_finite()).collect();
    if present.len() < 2 {
        return String::new();
    }
    let (lo, hi) = present.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), (_, v)| (l.min(*v), h.max(*v)));
    let span = if hi - lo < 1e-12 { 1.0 } else { hi - lo };
    let n = (values.len() - 1).max(1) as f64;
    let pts: Vec<String> = present
        .iter()
        .map(|(i, v)| format!("{:.1},{:.1}", 2.0 + 96.0 * *i as f64 / n, 20.0 - 16.0 * (v - lo) / span))
        .collect();
    format!(
        r#"<svg class="spark" viewBox="0 0 100 22" width="100" height="22" role="img" aria-label="over past runs"><polyline points="{}"/><title>{} to {} over {} runs</title></svg>"#,
        pts.join(" "),
        fmt(lo),
        fmt(hi),
        present.len()
    )
}

fn cards(page: &mut String, cards: &[&ModelCard], open: &str, view: &LineageView) {
    page.push_str("<div class=\"cards\">\n");
    for card in cards {
        let d = &card.declared;
        let _ = write!(
            page,
            "<details class=\"model-card\"{open}><summary>{}</summary>\n<p>vendor {}; family {} (declared), {} (measured); parents {}.</p>\n{}<table><tr><th>rate</th><th>model</th><th>ecosystem</th><th>past runs</th></tr>\n",
            esc(&card.name),
            esc(d.vendor.as_deref().unwrap_or("-")),
            esc(d.family.as_deref().unwrap_or("-")),
            esc(card.family.as_deref().unwrap_or("-")),
            if d.parents.is_empty() {
                "none".to_owned()
            } else {
                d.parents.iter().map(|p| esc(p)).collect::<Vec<_>>().join(", ")
            },
            super::identity::card_html(&view.identity, &card.relatives, &card.name)
        );
        for (i, (_, label)) in CARD_RATES.iter().enumerate() {
            let _ = writeln!(
                page,
                "<tr><td>{label}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                opt(card.rates[i]),
                opt(view.ecosystem[i]),
                sparkline(&card.history[i])
            );
        }
        let _ = writeln!(
            page,
            "</table>\n<p>self-similarity {}</p>",
            card.self_similarity.map_or("- (one sample)".into(), fmt)
        );
        page.push_str(&tree::relatives_html(
            &view.tree,
            &card.name,
            many::is_many(view.cards.len()).then_some(RELATIVES_NAMED),
        ));
        page.push_str(
            "<table><tr><th>relative</th><th>rank</th><th>z</th><th>q</th><th>declared</th><th>verdict</th></tr>\n",
        );
        for r in &card.relatives {
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td>{}</td><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td title=\"{}\">{}</td></tr>",
                esc(&r.relative),
                r.rank.map_or("-".into(), |k| k.to_string()),
                z_text(r),
                opt(r.z),
                q_text(r.q),
                esc(r.declared.map_or("", |d| d.as_str())),
                carried_text(r).trim().trim_matches(['(', ')']),
                verdict_cell(r.verdict)
            );
        }
        page.push_str("</table></details>\n");
    }
    page.push_str("</div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::responses::Declared;

    fn card(name: &str) -> ModelCard {
        ModelCard {
            name: name.into(),
            declared: Declared { parents: vec!["<script>".into()], ..Default::default() },
            family: None,
            rates: vec![Some(0.1); 4],
            self_similarity: None,
            history: vec![vec![0.1, f64::NAN, 0.2]; 4],
            relatives: Vec::new(),
        }
    }

    #[test]
    fn the_cards_escape_model_names() {
        let mut page = String::new();
        section(&mut page, &LineageView { cards: vec![card("<i>m")], ecosystem: vec![None; 4], ..Default::default() });
        assert!(!page.contains("<i>m") && page.contains("&lt;i&gt;m"), "{page}");
        assert!(!page.contains("<script>") && page.contains("&lt;script&gt;"), "{page}");
        assert_eq!(page.matches("class=\"model-card\"").count(), 1);
        assert_eq!(page.matches("class=\"spark\"").count(), 4);
    }

    #[test]
    fn at_many_models_a_few_cards_and_a_row_per_model() {
        let cards: Vec<ModelCard> = (0..many::MANY_MODELS + 10).map(|i| card(&format!("m{i:03}"))).collect();
        let mut page = String::new();
        section(&mut page, &LineageView { cards, ecosystem: vec![None; 4], ..Default::default() });
        assert_eq!(page.matches("class=\"model-card\"").count(), CARDS_SHOWN);
        assert_eq!(page.matches("<tr><td>m0").count(), many::MANY_MODELS + 10, "one row per model");
    }
}
