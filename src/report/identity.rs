//! What each model says made it (table `identity`), for the lineage section and the cards:
//! its main claimed maker and model lines, how consistent the claim is, the vendor it declares
//! and the verdict, and for a model that claims another vendor's identity, where that vendor's
//! nearest model stands among its measured relatives (the `lineage` table's claimed row).
//! Answers under a persona-setting system prompt are left out here (the table keeps them
//! apart). Every string through [`esc`].

use std::fmt::Write;

use super::esc;
use crate::identity::summary::{IdentityRow, IdentityVerdict};
use crate::lineage::LineageRow;

/// A model's own rows (no persona): the claims of its answers, the model's figures on each.
fn own<'a>(rows: &'a [IdentityRow], model: &str) -> Vec<&'a IdentityRow> {
    rows.iter().filter(|r| r.model == model && !r.persona).collect()
}

fn verdict_html(v: Option<IdentityVerdict>, declared: Option<&str>) -> String {
    match v {
        Some(IdentityVerdict::ClaimsOtherIdentity) => format!(
            "<span class=\"verdict-undeclared\">claims another vendor's identity</span> (declares {})",
            esc(declared.unwrap_or("-"))
        ),
        Some(IdentityVerdict::ClaimsOwnIdentity) => {
            "<span class=\"verdict-declared_and_evident\">claims its own</span>".to_owned()
        }
        None => String::new(),
    }
}

/// What a model's answers claim, in words (empty when the run asked it nothing about itself).
pub fn claim_text(rows: &[IdentityRow], model: &str) -> String {
    let own = own(rows, model);
    let Some(first) = own.first() else { return String::new() };
    let Some(main) = &first.main_claim else {
        let declines = own.iter().find(|r| r.claimed.as_deref() == Some("declines")).map_or(0, |r| r.claiming);
        return format!(
            "names no maker in its {} answers about itself{}",
            first.answers,
            if declines > 0 { format!(" ({declines} decline to say)") } else { String::new() }
        );
    };
    let lines =
        own.iter().find(|r| r.claimed.as_ref() == Some(main)).map(|r| r.model_lines.join(", ")).unwrap_or_default();
    let probes = own.iter().find(|r| r.claimed.as_ref() == Some(main)).map_or(0, |r| r.probes);
    format!(
        "claims to be made by {}{}: {:.0}% of its answers naming a maker, on {probes} probes",
        esc(main),
        if lines.is_empty() { String::new() } else { format!(" ({})", esc(&lines)) },
        first.consistency.unwrap_or(0.0) * 100.0
    )
}

/// For a model that claims another vendor's identity, how near the claimed vendor's nearest
/// model is: "nearest OpenAI model: teacher, rank 5 of its relatives, z 2.1" (empty otherwise).
pub fn claimed_relative_text(lineage: &[LineageRow], model: &str) -> String {
    let mine = lineage.iter().filter(|r| r.model == model);
    let Some(r) = mine
        .filter(|r| r.claims_relative_vendor && r.identity == Some(IdentityVerdict::ClaimsOtherIdentity))
        .min_by_key(|r| r.rank.unwrap_or(usize::MAX))
    else {
        return String::new();
    };
    format!(
        "nearest {} model: {}, {}{}",
        esc(r.claimed_maker.as_deref().unwrap_or("-")),
        esc(&r.relative),
        r.rank.map_or("not ranked".to_owned(), |k| format!("rank {k} of its relatives")),
        r.z.map_or(String::new(), |z| format!(", z {z:.1}"))
    )
}

/// The card's line: the claim, the verdict, and where the claimed vendor's nearest model stands.
pub fn card_html(rows: &[IdentityRow], lineage: &[LineageRow], model: &str) -> String {
    let text = claim_text(rows, model);
    if text.is_empty() {
        return String::new();
    }
    let first = own(rows, model)[0];
    let verdict = verdict_html(first.verdict, first.declared_vendor.as_deref());
    let relative = claimed_relative_text(lineage, model);
    format!(
        "<p class=\"identity\">Identity: {text}{}{}.</p>\n",
        if verdict.is_empty() { verdict } else { format!("; {verdict}") },
        if relative.is_empty() { relative } else { format!("; {relative}") }
    )
}

/// The lineage section's table of claimed identities: one line per model.
pub fn section(page: &mut String, rows: &[IdentityRow], lineage: &[LineageRow]) {
    let mut models: Vec<&str> = rows.iter().filter(|r| !r.persona).map(|r| r.model.as_str()).collect();
    models.dedup();
    if models.is_empty() {
        return;
    }
    let other = rows.iter().filter(|r| !r.persona && r.verdict == Some(IdentityVerdict::ClaimsOtherIdentity));
    let mut others: Vec<&str> = other.map(|r| r.model.as_str()).collect();
    others.dedup();
    let _ = writeln!(
        page,
        "<h3>Claimed identity</h3>\n<p>What each model says made it, in its answers to the probes tagged <code>identity</code> (identity rules {}); {} of {} models consistently claim another vendor's identity than the one they declare (a model tuned on another's outputs often takes up its self-description).</p>",
        esc(&rows[0].rules_version),
        others.len(),
        models.len()
    );
    page.push_str("<table class=\"identity\"><tr><th>model</th><th>declared vendor</th><th>what it claims</th><th>verdict</th><th>the claimed vendor's nearest model</th></tr>\n");
    let total = models.len();
    if super::many::is_many(total) {
        // Those claiming another vendor's identity first, then the rest, cut.
        models.sort_by_key(|m| !others.contains(m));
        models.truncate(super::many::ROWS_SHOWN);
    }
    for model in models {
        let first = own(rows, model)[0];
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(model),
            esc(first.declared_vendor.as_deref().unwrap_or("-")),
            claim_text(rows, model),
            verdict_html(first.verdict, first.declared_vendor.as_deref()),
            claimed_relative_text(lineage, model)
        );
    }
    page.push_str("</table>\n");
    if super::many::is_many(total) {
        super::many::more_note(page, total, "identity");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str, claimed: Option<&str>, verdict: Option<IdentityVerdict>) -> IdentityRow {
        IdentityRow {
            model: model.into(),
            persona: false,
            declared_vendor: Some("<b>Acme</b>".into()),
            claimed: claimed.map(str::to_owned),
            model_lines: vec!["GPT".into()],
            answers: 8,
            claiming: 6,
            share: 0.75,
            probes: 3,
            main_claim: claimed.filter(|c| *c != "declines").map(str::to_owned),
            consistency: claimed.map(|_| 1.0),
            verdict,
            rules_version: "identity-v1".into(),
        }
    }

    #[test]
    fn the_claim_and_verdict_are_said_and_escaped() {
        let rows = vec![
            row("<script>x</script>", Some("OpenAI"), Some(IdentityVerdict::ClaimsOtherIdentity)),
            row("quiet", None, None),
        ];
        let card = card_html(&rows, &[], "<script>x</script>");
        assert!(card.contains("claims to be made by OpenAI (GPT): 100% of its answers naming a maker, on 3 probes"));
        assert!(card.contains("claims another vendor's identity") && card.contains("&lt;b&gt;Acme"), "{card}");
        assert!(card_html(&rows, &[], "quiet").contains("names no maker in its 8 answers"));
        assert_eq!(card_html(&rows, &[], "unasked"), "", "a model asked nothing about itself has no line");
        assert!(!card.contains("nearest OpenAI model"), "no lineage row, no claimed relative: {card}");
        let mut page = String::new();
        section(&mut page, &rows, &[]);
        assert!(!page.contains("<script>") && page.contains("&lt;script&gt;"), "{page}");
        assert!(page.contains("1 of 2 models"), "{page}");
    }

    #[test]
    fn a_model_claiming_another_vendor_shows_where_that_vendors_nearest_model_stands() {
        use crate::lineage::LineageRow;
        let rows = vec![row("student", Some("OpenAI"), Some(IdentityVerdict::ClaimsOtherIdentity))];
        let claimed = LineageRow {
            model: "student".into(),
            relative: "teacher".into(),
            rank: Some(2),
            calibrated: None,
            z: Some(4.25),
            q: None,
            z_content: None,
            z_style: None,
            carried: None,
            n_probes: 0,
            declared: None,
            same_vendor: false,
            verdict: None,
            claimed_maker: Some("OpenAI".into()),
            identity: Some(IdentityVerdict::ClaimsOtherIdentity),
            claims_relative_vendor: true,
        };
        let other =
            LineageRow { relative: "cousin".into(), rank: Some(1), claims_relative_vendor: false, ..claimed.clone() };
        let lineage = [other, claimed];
        let card = card_html(&rows, &lineage, "student");
        assert!(card.contains("nearest OpenAI model: teacher, rank 2 of its relatives, z 4.2"), "{card}");
        let mut page = String::new();
        section(&mut page, &rows, &lineage);
        assert!(page.contains("<td>nearest OpenAI model: teacher"), "{page}");
    }
}
