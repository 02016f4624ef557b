//! Measures the claim extraction against labelled answers: what a later
//! `hivewatch identity eval FILE.jsonl --vendor NAME` prints.
//!
//! Input: JSON lines, one answer each: `response` (required), `prompt`, `system`, `model`,
//! `id`, `lang` (optional), and a label, either
//! - `label`: a boolean, true when the answer claims to be made by the vendor under test or to
//!   be one of its models (the form of a set labelled for one vendor), or
//! - `claims`: the list of vendor names the answer claims, `["declines"]`, or `[]` (the form
//!   of `datasets/identity/`, labelled for every vendor at once).
//!
//! [`evaluate`] gives precision, recall and accuracy of "claims this vendor" overall and per
//! `model`, language and persona; [`overview`] scores every vendor of a `claims` set at once,
//! with the share of answers whose whole claim is right.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::{Rules, extract, read_mentions};
use crate::input::InputError;

/// One labelled answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based line in its file.
    pub line: usize,
    pub id: String,
    pub lang: String,
    pub model: String,
    pub prompt: Option<String>,
    pub system: Option<String>,
    pub response: String,
    pub label: Label,
}

/// What a row says the answer claims.
#[derive(Debug, Clone, PartialEq)]
pub enum Label {
    /// Claims the vendor under test (a set labelled for one vendor).
    Is(bool),
    /// The vendors claimed, by canonical name, or `["declines"]`.
    Claims(Vec<String>),
}

impl Row {
    /// The row's label for one vendor (canonical name, or `declines`).
    pub fn claims(&self, vendor: &str) -> bool {
        match &self.label {
            Label::Is(b) => *b,
            Label::Claims(list) => list.iter().any(|c| c.eq_ignore_ascii_case(vendor)),
        }
    }
}

/// Errors of an evaluation.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("the identity rules ({version}) know no vendor `{name}`")]
    UnknownVendor { name: String, version: String },
}

/// Reads labelled JSON lines; a line that is not a JSON object, lacks a `response` or a label,
/// or names a vendor the rules do not know in `claims`, is refused with its line.
pub fn read_labelled(rules: &Rules, path: &Path) -> Result<Vec<Row>, InputError> {
    let source = std::fs::read_to_string(path).map_err(|e| {
        InputError::new(path, None, format!("cannot read the labelled answers: {e}"))
            .hint("pass a JSON-lines file with `response` and `label` (or `claims`) on each line")
    })?;
    parse_labelled(rules, path, &source)
}

/// [`read_labelled`] on text; `path` names it in errors.
pub fn parse_labelled(rules: &Rules, path: &Path, source: &str) -> Result<Vec<Row>, InputError> {
    let mut rows = Vec::new();
    for (i, text) in source.lines().enumerate() {
        let line = i + 1;
        if text.trim().is_empty() {
            continue;
        }
        let bad = |message: String| InputError::new(path, Some(line), message);
        let value: Value = serde_json::from_str(text).map_err(|e| bad(format!("malformed JSON: {e}")))?;
        let Value::Object(obj) = value else { return Err(bad("a line must be a JSON object".to_owned())) };
        let string = |key: &str| -> Result<Option<String>, InputError> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(bad(format!("`{key}` must be a string"))),
            }
        };
        let response = string("response")?
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| bad("no `response`".to_owned()).hint("every line needs the answer as `response`"))?;
        let label = match (obj.get("label"), obj.get("claims")) {
            (Some(Value::Bool(b)), _) => Label::Is(*b),
            (Some(_), _) => return Err(bad("`label` must be true or false".to_owned())),
            (None, Some(Value::Array(list))) => Label::Claims(claims_of(rules, list).map_err(bad)?),
            (None, Some(_)) => return Err(bad("`claims` must be a list of vendor names".to_owned())),
            (None, None) => {
                return Err(bad("no `label` or `claims`".to_owned()).hint(
                    "label each answer: \"label\": true/false, or \"claims\": [\"OpenAI\"] / [] / [\"declines\"]",
                ));
            }
        };
        rows.push(Row {
            line,
            id: string("id")?.unwrap_or_else(|| format!("line {line}")),
            lang: string("lang")?.unwrap_or_default(),
            model: string("model")?.unwrap_or_default(),
            prompt: string("prompt")?,
            system: string("system")?,
            response,
            label,
        });
    }
    Ok(rows)
}

/// A `claims` list as canonical vendor names.
fn claims_of(rules: &Rules, list: &[Value]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for item in list {
        let Value::String(name) = item else { return Err("`claims` must be a list of vendor names".to_owned()) };
        if name.eq_ignore_ascii_case("declines") {
            out.push("declines".to_owned());
            continue;
        }
        match rules.vendor(name) {
            Some(v) => out.push(v.name.clone()),
            None => {
                return Err(format!(
                    "`claims` names `{name}`, which the identity rules ({}) do not know",
                    rules.version
                ));
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Counts of a binary reading against labels.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Confusion {
    pub tp: u32,
    pub fp: u32,
    pub tn: u32,
    pub fn_: u32,
}

impl Confusion {
    pub fn add(&mut self, predicted: bool, actual: bool) {
        match (predicted, actual) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, false) => self.tn += 1,
            (false, true) => self.fn_ += 1,
        }
    }
    pub fn n(&self) -> u32 {
        self.tp + self.fp + self.tn + self.fn_
    }
    /// 1 when nothing was predicted positive (no false claim was made).
    pub fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 { 1.0 } else { f64::from(self.tp) / f64::from(self.tp + self.fp) }
    }
    /// 1 when no row is positive.
    pub fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0 { 1.0 } else { f64::from(self.tp) / f64::from(self.tp + self.fn_) }
    }
    pub fn accuracy(&self) -> f64 {
        f64::from(self.tp + self.tn) / f64::from(self.n().max(1))
    }
}

/// A row the extraction got wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Miss {
    pub line: usize,
    pub id: String,
    /// What the extraction read: the vendors claimed, or `declines`, or nothing.
    pub predicted: Vec<String>,
    /// What the row's label says (for one vendor: that vendor or nothing).
    pub labelled: Vec<String>,
    /// How each vendor name was read ("OpenAI: negated").
    pub readings: Vec<String>,
    pub response: String,
}

fn miss(rules: &Rules, row: &Row, predicted: Vec<String>, labelled: Vec<String>) -> Miss {
    let readings = read_mentions(rules, &row.response)
        .iter()
        .map(|m| format!("{} `{}`: {}", m.vendor, m.text, m.reading.as_str()))
        .collect();
    Miss { line: row.line, id: row.id.clone(), predicted, labelled, readings, response: row.response.clone() }
}

/// The extraction against labels for one vendor.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub vendor: String,
    pub version: String,
    /// `all`, then `model:<m>`, `lang:<l>`, `persona` / `no persona` where the rows have them.
    pub groups: Vec<(String, Confusion)>,
    pub misses: Vec<Miss>,
}

impl Evaluation {
    pub fn group(&self, name: &str) -> Option<&Confusion> {
        self.groups.iter().find(|(g, _)| g == name).map(|(_, c)| c)
    }
}

/// Precision, recall and accuracy of "the answer claims `vendor`" (a name the rules know, or
/// `declines`) on labelled rows, overall and per model, language and persona.
pub fn evaluate(rules: &Rules, rows: &[Row], vendor: &str) -> Result<Evaluation, EvalError> {
    let name = if vendor.eq_ignore_ascii_case("declines") {
        "declines".to_owned()
    } else {
        rules
            .vendor(vendor)
            .ok_or_else(|| EvalError::UnknownVendor { name: vendor.to_owned(), version: rules.version.clone() })?
            .name
            .clone()
    };
    let mut groups: BTreeMap<(u8, String), Confusion> = BTreeMap::new();
    let mut misses = Vec::new();
    for row in rows {
        let claim = extract(rules, &row.response, row.system.as_deref());
        let (predicted, actual) = (claim.claims(&name), row.claims(&name));
        let mut keys = vec![(0, "all".to_owned())];
        if !row.model.is_empty() {
            keys.push((1, format!("model:{}", row.model)));
        }
        if !row.lang.is_empty() {
            keys.push((2, format!("lang:{}", row.lang)));
        }
        keys.push((3, if claim.persona { "persona" } else { "no persona" }.to_owned()));
        for key in keys {
            groups.entry(key).or_default().add(predicted, actual);
        }
        if predicted != actual {
            let one = |b: bool| if b { vec![name.clone()] } else { Vec::new() };
            misses.push(miss(rules, row, one(predicted), one(actual)));
        }
    }
    Ok(Evaluation {
        vendor: name,
        version: rules.version.clone(),
        groups: groups.into_iter().map(|((_, g), c)| (g, c)).collect(),
        misses,
    })
}

fn write_table<'a>(
    f: &mut std::fmt::Formatter<'_>,
    head: &str,
    rows: impl Iterator<Item = (&'a str, &'a Confusion)>,
) -> std::fmt::Result {
    writeln!(
        f,
        "{head:<24} {:>5} {:>4} {:>4} {:>4}  {:>9} {:>7} {:>8}",
        "n", "tp", "fp", "fn", "precision", "recall", "accuracy"
    )?;
    for (name, c) in rows {
        writeln!(
            f,
            "{name:<24} {:>5} {:>4} {:>4} {:>4}  {:>9.3} {:>7.3} {:>8.3}",
            c.n(),
            c.tp,
            c.fp,
            c.fn_,
            c.precision(),
            c.recall(),
            c.accuracy()
        )?;
    }
    Ok(())
}

fn write_misses(f: &mut std::fmt::Formatter<'_>, misses: &[Miss]) -> std::fmt::Result {
    const SHOWN: usize = 25;
    if misses.is_empty() {
        return Ok(());
    }
    writeln!(
        f,
        "\nwrong ({}{}):",
        misses.len(),
        if misses.len() > SHOWN { format!(", first {SHOWN}") } else { String::new() }
    )?;
    for m in misses.iter().take(SHOWN) {
        let text: String = m.response.chars().take(160).collect::<String>().replace('\n', " ");
        let list = |l: &[String]| if l.is_empty() { "nothing".to_owned() } else { l.join(", ") };
        writeln!(f, "  line {} ({}): read {}, labelled {}", m.line, m.id, list(&m.predicted), list(&m.labelled))?;
        if !m.readings.is_empty() {
            writeln!(f, "    names: {}", m.readings.join("; "))?;
        }
        writeln!(f, "    {text}")?;
    }
    Ok(())
}

impl std::fmt::Display for Evaluation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "claims {} (identity rules {}): precision, recall, accuracy", self.vendor, self.version)?;
        write_table(f, "group", self.groups.iter().map(|(g, c)| (g.as_str(), c)))?;
        write_misses(f, &self.misses)
    }
}

/// Every vendor of a `claims`-labelled set scored at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    pub version: String,
    /// Rows with a `claims` label (rows labelled for one vendor are left out).
    pub rows: u32,
    /// Rows whose whole claim (the set of vendors, or declines, or nothing) is right.
    pub exact: u32,
    /// Every vendor claimed by a label or by the extraction, and `declines`.
    pub vendors: Vec<(String, Confusion)>,
    /// Vendor claims summed over vendors (not `declines`): each (row, vendor) pair counted once.
    pub pooled: Confusion,
    /// Rows and exact rows per language.
    pub by_lang: Vec<(String, u32, u32)>,
    pub misses: Vec<Miss>,
}

impl Overview {
    pub fn exact_share(&self) -> f64 {
        f64::from(self.exact) / f64::from(self.rows.max(1))
    }
    pub fn vendor(&self, name: &str) -> Option<&Confusion> {
        self.vendors.iter().find(|(v, _)| v.eq_ignore_ascii_case(name)).map(|(_, c)| c)
    }
}

/// Scores the extraction on every vendor of the `claims`-labelled rows.
pub fn overview(rules: &Rules, rows: &[Row]) -> Overview {
    let labelled: Vec<(&Row, &Vec<String>)> = rows
        .iter()
        .filter_map(|r| match &r.label {
            Label::Claims(c) => Some((r, c)),
            Label::Is(_) => None,
        })
        .collect();
    let predictions: Vec<Vec<String>> = labelled
        .iter()
        .map(|(r, _)| {
            let mut p = extract(rules, &r.response, r.system.as_deref()).labels();
            p.sort();
            p
        })
        .collect();
    let mut names: Vec<String> = labelled.iter().flat_map(|(_, c)| c.iter().cloned()).collect();
    names.extend(predictions.iter().flatten().cloned());
    names.push("declines".to_owned());
    names.sort();
    names.dedup();
    let mut vendors: Vec<(String, Confusion)> = names.into_iter().map(|n| (n, Confusion::default())).collect();
    let (mut pooled, mut exact, mut by_lang, mut misses) = (Confusion::default(), 0, BTreeMap::new(), Vec::new());
    for ((row, label), predicted) in labelled.iter().zip(predictions) {
        for (name, c) in &mut vendors {
            let (p, a) = (predicted.contains(name), label.contains(name));
            c.add(p, a);
            if name != "declines" {
                pooled.add(p, a);
            }
        }
        let right = predicted == **label;
        exact += u32::from(right);
        let entry = by_lang.entry(row.lang.clone()).or_insert((0, 0));
        entry.0 += 1;
        entry.1 += u32::from(right);
        if !right {
            misses.push(miss(rules, row, predicted, (*label).clone()));
        }
    }
    Overview {
        version: rules.version.clone(),
        rows: labelled.len() as u32,
        exact,
        vendors,
        pooled,
        by_lang: by_lang.into_iter().map(|(l, (n, e))| (l, n, e)).collect(),
        misses,
    }
}

impl std::fmt::Display for Overview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "identity rules {}: {} answers, whole claim right in {} ({:.3})",
            self.version,
            self.rows,
            self.exact,
            self.exact_share()
        )?;
        let langs: Vec<String> =
            self.by_lang.iter().map(|(l, n, e)| format!("{} {e}/{n}", if l.is_empty() { "-" } else { l })).collect();
        writeln!(f, "by language: {}", langs.join(", "))?;
        let pooled = ("all vendors (pooled)", &self.pooled);
        write_table(f, "vendor", std::iter::once(pooled).chain(self.vendors.iter().map(|(v, c)| (v.as_str(), c))))?;
        write_misses(f, &self.misses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_rates() {
        let mut c = Confusion::default();
        for (p, a) in [(true, true), (true, false), (false, false), (false, true), (true, true)] {
            c.add(p, a);
        }
        assert_eq!((c.tp, c.fp, c.tn, c.fn_), (2, 1, 1, 1));
        assert!((c.precision() - 2.0 / 3.0).abs() < 1e-12);
        assert!((c.recall() - 2.0 / 3.0).abs() < 1e-12);
        assert!((c.accuracy() - 0.6).abs() < 1e-12);
        assert_eq!(Confusion::default().precision(), 1.0);
    }

    #[test]
    fn rows_are_read_and_bad_lines_name_their_line() {
        let rules = Rules::builtin();
        let path = Path::new("l.jsonl");
        let source = concat!(
            r#"{"response": "I'm ChatGPT, made by OpenAI.", "label": true, "model": "m1"}"#,
            "\n\n",
            r#"{"response": "I'm Claude, made by Anthropic.", "claims": ["anthropic"], "lang": "en"}"#,
            "\n",
            r#"{"response": "我不是ChatGPT。", "system": "You are a helpful assistant.", "label": false, "model": "m2"}"#,
            "\n"
        );
        let rows = parse_labelled(&rules, path, source).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].line, 3);
        assert_eq!(rows[1].label, Label::Claims(vec!["Anthropic".to_owned()]));
        let eval = evaluate(&rules, &rows, "gpt").unwrap();
        assert_eq!(eval.vendor, "OpenAI");
        assert_eq!(eval.group("all"), Some(&Confusion { tp: 1, fp: 0, tn: 2, fn_: 0 }));
        assert_eq!(eval.group("model:m2").map(Confusion::n), Some(1));
        assert!(eval.to_string().contains("model:m1"), "{eval}");
        assert!(matches!(evaluate(&rules, &rows, "Acme"), Err(EvalError::UnknownVendor { .. })));
        let view = overview(&rules, &rows);
        assert_eq!((view.rows, view.exact), (1, 1));

        for (bad, message) in [
            ("{\"response\": \"x\", \"label\": true}\n{not json\n", "malformed JSON"),
            ("{\"response\": \"x\", \"label\": true}\n{\"response\": \"x\"}\n", "no `label` or `claims`"),
            ("{\"response\": \"x\", \"label\": true}\n{\"label\": true}\n", "no `response`"),
            ("{\"response\": \"x\", \"label\": true}\n{\"response\": \"x\", \"claims\": [\"Acme\"]}\n", "Acme"),
            ("{\"response\": \"x\", \"label\": true}\n{\"response\": \"x\", \"label\": \"yes\"}\n", "true or false"),
        ] {
            let err = parse_labelled(&rules, path, bad).unwrap_err();
            assert_eq!(err.line, Some(2), "{err}");
            assert!(err.to_string().contains(message), "{err}");
        }
    }
}
