//! A simulated ecosystem that drifts over nights, with a known truth: a scenario file (TOML)
//! names the models (with families, voices and lineages) and the events that move them, night
//! by night. The simulator answers as each model's profile on the current night.
//!
//! Events (each ramps linearly from its `start` night to full `strength` at its `end` night,
//! and stays there):
//! - `influence`: `model` is fine-tuned toward `toward`'s outputs and drifts to it (sequential
//!   influence; a suspected lineage to the measures);
//! - `transmission`: one part of `from` (`openers`, `refusals`, `stock`, `closers`,
//!   `self_reference`, `tone`, `format`: lists, headings and length, how an answer is laid
//!   out and not what it says, or `identity`: who it says it is, from half way on) spreads to
//!   the models in `to` (cultural transmission; with `format`, a model copying another's style;
//!   with `identity`, a model tuned on another's outputs taking up its self-description, which
//!   `influence` from half way on carries too);
//! - `swap`: from night `start` on, the endpoint `model` answers as `to` does, self-description
//!   included (its backend swapped behind an unchanged name);
//! - `narrowing`: the models in `models` (`["*"]` for all) converge on confident, technocratic
//!   answers, or with `toward = "humble"` on hedged, humble ones (epistemic narrowing);
//! - `susceptibility`: the models in `models` come to take up what a feed broadcasts, in up to
//!   `strength` of their answers to exposed prompts (contagion; `[[models]] susceptibility` sets
//!   where a model starts, 0.02 when not given). Paired probes join the night's suite with
//!   `[scenario] contagion = N` (that many of the built-in contagion suite's probes).
//!
//! Nights without events are stable stretches: only sampling noise moves. The seed goes into
//! every request's sampling seed (`[scenario] seed`; a request that carries none, as Anthropic's
//! never do, draws from a stream the seed fixes), so a scenario replays exactly.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::models::{Part, Profile, VoiceMix};
use crate::input::{InputError, line_of};

/// The demo's scenario, built in.
pub const DEMO: &str = include_str!("scenarios/demo.toml");

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    scenario: Meta,
    models: Vec<ModelSpec>,
    #[serde(default)]
    events: Vec<Event>,
}

/// `[scenario]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub name: String,
    pub seed: u64,
    pub nights: u32,
    /// Probes of the core suite to use, spread over it (all 205 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes: Option<usize>,
    /// Paired probes of the contagion suite to ask as well, spread over it (none when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contagion: Option<usize>,
}

/// `[[models]]`: a model's name (its family is the part before the first `-`), optionally its
/// voice bank (0 to 5) and its parent (it starts as `parent_weight` of the parent).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub name: String,
    pub voice: Option<usize>,
    pub parent: Option<String>,
    #[serde(default = "default_parent_weight")]
    pub parent_weight: f64,
    /// How readily it takes up a feed (0 to 1; see [`Profile::susceptibility`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub susceptibility: Option<f64>,
    /// Its typographic habits (0 to 1; see [`Profile::typography`]; none when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typography: Option<f64>,
    /// The vendor it says made it when asked who it is, and the one its endpoint declares
    /// (`hivewatch demo`); absent, it says nothing of the kind and declares a made-up vendor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maker: Option<String>,
}

fn default_parent_weight() -> f64 {
    0.7
}

/// `[[events]]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Event {
    Influence { model: String, toward: String, start: u32, end: u32, strength: f64 },
    Transmission { from: String, to: Vec<String>, part: String, start: u32, end: u32, strength: f64 },
    Narrowing { models: Vec<String>, toward: String, start: u32, end: u32, strength: f64 },
    Susceptibility { models: Vec<String>, start: u32, end: u32, strength: f64 },
    Swap { model: String, to: String, start: u32 },
}

impl Event {
    fn window(&self) -> (u32, u32, f64) {
        match self {
            Event::Influence { start, end, strength, .. }
            | Event::Transmission { start, end, strength, .. }
            | Event::Narrowing { start, end, strength, .. }
            | Event::Susceptibility { start, end, strength, .. } => (*start, *end, *strength),
            Event::Swap { start, .. } => (*start, *start, 1.0),
        }
    }

    /// How far the event has gone on `night` (0 before its start, `strength` from its end on).
    pub fn progress(&self, night: u32) -> f64 {
        let (start, end, strength) = self.window();
        if night < start {
            return 0.0;
        }
        let span = f64::from(end.saturating_sub(start) + 1);
        strength * (f64::from(night - start + 1) / span).min(1.0)
    }
}

/// A parsed, checked scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub meta: Meta,
    pub models: Vec<ModelSpec>,
    pub events: Vec<Event>,
    /// Night-independent profiles (family, voice, lineage applied).
    base: HashMap<String, Profile>,
}

/// The part of a model's behaviour a `transmission` event's `part` names.
pub fn part(name: &str) -> Option<Part> {
    Some(match name {
        "openers" => Part::Openers,
        "refusals" => Part::Refusals,
        "stock" => Part::Stock,
        "closers" => Part::Closers,
        "self_reference" => Part::SelfReference,
        "tone" => Part::Tone,
        "format" => Part::Format,
        "identity" => Part::Identity,
        _ => return None,
    })
}

/// A listed model's own profile (its family's, with the voice, susceptibility, typography and
/// maker the scenario gives it), before any parent is blended in.
fn base_profile(path: &Path, m: &ModelSpec, line: Option<usize>) -> Result<Profile, InputError> {
    let mut p = Profile::for_model(&m.name);
    if let Some(v) = m.voice {
        p.voice = VoiceMix::one(v);
    }
    let unit = |what: &str, v: f64| {
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            Err(InputError::new(path, line, format!("{}: {what} {v} is not in [0, 1]", m.name)))
        }
    };
    if let Some(s) = m.susceptibility {
        p.susceptibility = unit("susceptibility", s)?;
    }
    if let Some(t) = m.typography {
        p.typography = unit("typography", t)?;
    }
    p.maker.clone_from(&m.maker);
    Ok(p)
}

/// Checks one event: its nights and strength, the models it names, its part or direction.
fn check_event(
    path: &Path,
    e: &Event,
    nights: u32,
    events: &[Event],
    known: &dyn Fn(&str) -> bool,
    unknown: &dyn Fn(&str) -> InputError,
    line: &dyn Fn(&str) -> Option<usize>,
) -> Result<(), InputError> {
    let (start, end, strength) = e.window();
    if start == 0 || end < start || start > nights || !(0.0..=1.0).contains(&strength) {
        return Err(InputError::new(
            path,
            None,
            format!(
                "event {e:?}: nights must satisfy 1 <= start <= end, start within the scenario, strength in [0, 1]"
            ),
        ));
    }
    let listed = |names: &[&String]| {
        names.iter().filter(|n| n.as_str() != "*").try_for_each(|n| if known(n) { Ok(()) } else { Err(unknown(n)) })
    };
    match e {
        Event::Influence { model, toward, .. } => listed(&[model, toward]),
        Event::Transmission { from, to, part: p, .. } => {
            listed(&[from])?;
            listed(&to.iter().collect::<Vec<_>>())?;
            if part(p).is_none() {
                return Err(InputError::new(path, line(p), format!("unknown part `{p}`"))
                    .hint("use openers, refusals, stock, closers, self_reference, tone, format or identity"));
            }
            Ok(())
        }
        Event::Susceptibility { models, .. } => listed(&models.iter().collect::<Vec<_>>()),
        Event::Narrowing { models, toward, .. } => {
            listed(&models.iter().collect::<Vec<_>>())?;
            if toward != "confident" && toward != "humble" {
                return Err(InputError::new(path, line(toward), format!("unknown narrowing `{toward}`"))
                    .hint("use toward = \"confident\" or \"humble\""));
            }
            Ok(())
        }
        Event::Swap { model, to, .. } => {
            listed(&[model, to])?;
            // One step only: the model swapped in answers as itself, never as a third.
            if model == to || events.iter().any(|o| matches!(o, Event::Swap { model: m, .. } if m == to)) {
                return Err(InputError::new(
                    path,
                    line(to),
                    format!("swap of `{model}` to `{to}`: `{to}` is itself swapped"),
                )
                .hint("swap an endpoint to a model that keeps its own answers"));
            }
            Ok(())
        }
    }
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, InputError> {
        let source = crate::input::read_text_capped(path, crate::input::cap::CONFIG, "a scenario", |e| {
            InputError::new(path, None, format!("cannot read the scenario: {e}"))
        })?;
        Scenario::parse(path, &source)
    }

    pub fn demo() -> Scenario {
        Scenario::parse(Path::new("src/sim/scenarios/demo.toml"), DEMO).expect("the demo scenario is valid (tested)")
    }

    pub fn parse(path: &Path, source: &str) -> Result<Scenario, InputError> {
        let raw: RawScenario = toml::from_str(source).map_err(|e| InputError::from_toml(path, source, &e))?;
        let line = |needle: &str| source.find(needle).map(|at| line_of(source, at));
        let known: HashMap<&str, &ModelSpec> = raw.models.iter().map(|m| (m.name.as_str(), m)).collect();
        let unknown = |name: &str| {
            InputError::new(path, line(name), format!("`{name}` is not one of the scenario's [[models]]"))
                .hint("every model an event or a parent names must be listed under [[models]]")
        };
        if known.len() != raw.models.len() {
            return Err(InputError::new(path, None, "a model is listed twice under [[models]]"));
        }
        let mut base = HashMap::new();
        for m in &raw.models {
            base.insert(m.name.clone(), base_profile(path, m, line(&m.name))?);
        }
        for m in &raw.models {
            if let Some(parent) = &m.parent {
                let parent = base.get(parent).cloned().ok_or_else(|| unknown(parent))?;
                let mut child = base[&m.name].blend(&parent, m.parent_weight, Part::All);
                // A model given its own maker keeps it; one given none may say its parent's.
                if m.maker.is_some() {
                    child.maker.clone_from(&m.maker);
                }
                base.insert(m.name.clone(), child);
            }
        }
        for e in &raw.events {
            check_event(path, e, raw.scenario.nights, &raw.events, &|n| known.contains_key(n), &unknown, &line)?;
        }
        Ok(Scenario { meta: raw.scenario, models: raw.models, events: raw.events, base })
    }

    /// The profile of `model` on `night` (None for a model the scenario does not name).
    pub fn profile(&self, model: &str, night: u32) -> Option<Profile> {
        let swapped = self.events.iter().find_map(|e| match e {
            Event::Swap { model: m, to, start } if m == model && night >= *start => Some(to),
            _ => None,
        });
        if let Some(to) = swapped {
            return self.profile(to, night);
        }
        let mut p = self.base.get(model)?.clone();
        for e in &self.events {
            let t = e.progress(night);
            if t <= 0.0 {
                continue;
            }
            match e {
                Event::Influence { model: m, toward, .. } if m == model => {
                    p = p.blend(&self.base[toward], t, Part::All);
                }
                Event::Transmission { from, to, part: name, .. } if to.iter().any(|n| n == model) => {
                    p = p.blend(&self.base[from], t, part(name).expect("checked"));
                }
                Event::Narrowing { models, toward, .. } if models.iter().any(|n| n == "*" || n == model) => {
                    p = p.blend(&Profile::pole(toward == "humble"), t, Part::Tone);
                }
                Event::Susceptibility { models, .. } if models.iter().any(|n| n == "*" || n == model) => {
                    p.susceptibility = p.susceptibility.max(t);
                }
                _ => {}
            }
        }
        Some(p)
    }

    /// The truth written beside a demo's outputs: the models, their lineages and every event
    /// with its nights, in words and as data.
    pub fn truth(&self) -> serde_json::Value {
        let events: Vec<serde_json::Value> = self
            .events
            .iter()
            .map(|e| {
                let (start, end, strength) = e.window();
                let what = match e {
                    Event::Influence { model, toward, .. } => {
                        format!("{model} drifts toward {toward} (sequential influence)")
                    }
                    Event::Transmission { from, to, part, .. } => {
                        format!("the {part} of {from} spread to {} (cultural transmission)", to.join(", "))
                    }
                    Event::Susceptibility { models, .. } => format!(
                        "{} take up what feeds broadcast, up to {strength} of exposed answers (contagion)",
                        if models.iter().any(|m| m == "*") { "all models".to_owned() } else { models.join(", ") }
                    ),
                    Event::Swap { model, to, .. } => {
                        format!("{model}'s endpoint answers as {to} (its backend swapped behind the same name)")
                    }
                    Event::Narrowing { models, toward, .. } => format!(
                        "{} converge on {toward} answers (epistemic narrowing)",
                        if models.iter().any(|m| m == "*") { "all models".to_owned() } else { models.join(", ") }
                    ),
                };
                serde_json::json!({"event": e, "start": start, "end": end, "strength": strength, "what": what})
            })
            .collect();
        serde_json::json!({"scenario": self.meta, "models": self.models, "events": events})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_scenario_parses_and_its_events_move_profiles() {
        let s = Scenario::demo();
        assert!(s.meta.nights >= 20);
        let Some(Event::Influence { model, toward, start, end, .. }) =
            s.events.iter().find(|e| matches!(e, Event::Influence { .. })).cloned()
        else {
            panic!("the demo has an influence event")
        };
        let before = s.profile(&model, start - 1).unwrap();
        let after = s.profile(&model, end).unwrap();
        let target = s.profile(&toward, end).unwrap();
        let gap = |p: &Profile| (p.verbosity - target.verbosity).abs() + (p.caution - target.caution).abs();
        assert!(gap(&after) < gap(&before), "{before:?} -> {after:?}");
        assert_eq!(s.profile("nobody", 1), None);
    }

    #[test]
    fn progress_ramps_then_holds() {
        let e =
            Event::Narrowing { models: vec!["*".into()], toward: "confident".into(), start: 5, end: 8, strength: 0.8 };
        assert_eq!(e.progress(4), 0.0);
        assert!((e.progress(5) - 0.2).abs() < 1e-12);
        assert!((e.progress(8) - 0.8).abs() < 1e-12);
        assert!((e.progress(30) - 0.8).abs() < 1e-12);
    }

    #[test]
    fn a_swap_answers_as_the_model_swapped_in_and_a_student_takes_up_its_teachers_maker() {
        let src = "[scenario]\nname = \"x\"\nseed = 1\nnights = 4\n[[models]]\nname = \"a-1\"\nmaker = \"Anthropic\"\n[[models]]\nname = \"b-1\"\nmaker = \"Google\"\n[[models]]\nname = \"c-1\"\nmaker = \"Meta\"\n[[events]]\nkind = \"swap\"\nmodel = \"a-1\"\nto = \"b-1\"\nstart = 3\n[[events]]\nkind = \"transmission\"\nfrom = \"b-1\"\nto = [\"c-1\"]\npart = \"identity\"\nstart = 1\nend = 3\nstrength = 1.0\n";
        let s = Scenario::parse(Path::new("s.toml"), src).unwrap();
        let maker = |m: &str, night: u32| s.profile(m, night).unwrap().maker;
        assert_eq!(maker("a-1", 2).as_deref(), Some("Anthropic"));
        assert_eq!(s.profile("a-1", 3), s.profile("b-1", 3), "swapped: b-1's profile, maker included");
        assert_eq!(maker("c-1", 1).as_deref(), Some("Meta"), "not yet half way");
        assert_eq!(maker("c-1", 2).as_deref(), Some("Google"), "the teacher's self-description taken up");
        let chained = format!("{src}[[events]]\nkind = \"swap\"\nmodel = \"b-1\"\nto = \"c-1\"\nstart = 2\n");
        let err = Scenario::parse(Path::new("s.toml"), &chained).unwrap_err();
        assert!(err.to_string().contains("is itself swapped"), "{err}");
    }

    #[test]
    fn bad_scenarios_name_the_problem() {
        let src = "[scenario]\nname = \"x\"\nseed = 1\nnights = 5\n[[models]]\nname = \"a-1\"\n[[events]]\nkind = \"influence\"\nmodel = \"a-1\"\ntoward = \"b-2\"\nstart = 1\nend = 2\nstrength = 0.5\n";
        let err = Scenario::parse(Path::new("s.toml"), src).unwrap_err();
        assert!(err.to_string().contains("`b-2` is not one of the scenario's"), "{err}");
        let err = Scenario::parse(Path::new("s.toml"), &src.replace("kind = \"influence\"", "kind = \"merger\""))
            .unwrap_err();
        assert!(err.line.is_some(), "{err}");
    }
}
