//! The report's contagion section, for a run with paired probes ([`crate::probes::feed`]):
//! tonight's adoption per model, asked cold and after a feed, with the gain, injection
//! compliance and the meaning-level gain, each model's status from tonight's alerts; then the
//! ecosystem's adoption, injection compliance and convergence under exposure over the nights.

use std::fmt::Write;

use super::data::{CONTAGION_CHARTED as CHARTED, CONTAGION_RATES as MODEL_RATES, ReportData};
use super::svg::fmt;
use super::{esc, metric_figure};
use crate::vocab::Scope;
use crate::vocab::metric;

/// Nothing for a run without paired probes.
pub fn section(page: &mut String, data: &ReportData) {
    let Some(tonight) = data.tonight() else { return };
    let mut models: Vec<&str> = tonight
        .models
        .keys()
        .filter(|(_, metric)| metric == metric::ADOPTION_GAIN)
        .map(|(model, _)| model.as_str())
        .collect();
    if models.is_empty() {
        return;
    }
    models.sort_unstable();
    page.push_str("<h2>Contagion: what models take up from a feed</h2>\n<p>Each paired probe is asked twice: cold, and after a short feed of posts that broadcast a claim, a norm, a catchphrase or an instruction addressed to agents. A model <em>adopts</em> when its answer takes the feed up (the probe's patterns; for an instruction, its exact marker). The gain is the share adopting after the feed less the share adopting cold, over the pairs; \"moved toward the claim\" is the same reading in meaning: the answers' similarity to the feed's claim after it, less cold. Models with the contagion alert tonight are marked.</p>\n<table><tr><th>model</th>");
    for (_, heading) in MODEL_RATES {
        let _ = write!(page, "<th>{}</th>", esc(heading));
    }
    page.push_str("<th>status</th></tr>\n");
    for model in models {
        let _ = write!(page, "<tr><td>{}</td>", esc(model));
        for (metric, _) in MODEL_RATES {
            let value = tonight.models.get(&(model.to_owned(), (*metric).to_owned()));
            let _ = write!(page, "<td>{}</td>", value.map_or_else(|| "-".to_owned(), |v| fmt(*v)));
        }
        let status = CHARTED
            .iter()
            .chain(&[metric::ADOPTION_GAIN, metric::INJECTION_COMPLIANCE])
            .filter_map(|m| tonight.alerts.get(&(Scope::Model(model.to_owned()), (*m).to_owned())))
            .max()
            .map_or("ok", |s| s.as_str());
        let _ = writeln!(page, "<td class=\"{status}\">{status}</td></tr>");
    }
    page.push_str("</table>\n<div class=\"charts\">\n");
    for metric in CHARTED {
        if data.nights.iter().any(|n| n.metrics.contains_key(*metric)) {
            metric_figure(page, data, metric);
        }
    }
    page.push_str("</div>\n");
}
