//! The alert rules' registry: every rule's name, what it watches and what it means, once. The
//! judge (`crate::alert`), the command line's rule line, the configuration's checks
//! ([`super::alerts`]) and the README's rule table (a unit test there) all read it.

/// What an alert rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleScope {
    /// The night as a whole: whether it can be judged, and what changed in the instrument.
    Night,
    /// The ecosystem's diversity as a whole.
    Ecosystem,
    /// One model pair.
    Pair,
    /// One model (or, for contagion, the ecosystem under exposure too).
    Model,
}

/// One alert rule, as people meet it: its name in `[alerts]`, in the `alerts` table and in
/// messages, what it watches and from which night it can judge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuleInfo {
    pub name: &'static str,
    pub scope: RuleScope,
    /// Whether `[alerts.<name>]` configures it (the night rules are always on).
    pub configurable: bool,
    /// One line for the README and the report.
    pub meaning: &'static str,
}

/// Every rule's name, as a constant: code names a rule through these.
pub mod rule {
    pub const COVERAGE: &str = "coverage";
    pub const MEMBERS: &str = "members";
    pub const INSTRUMENT_CHANGE: &str = "instrument_change";
    pub const PANEL_CHANGE: &str = "panel_change";
    pub const DROP: &str = "drop";
    pub const TREND: &str = "trend";
    pub const FLOOR: &str = "floor";
    pub const SHIFT: &str = "shift";
    pub const PAIR: &str = "pair";
    pub const CONCENTRATION: &str = "concentration";
    pub const REFUSAL: &str = "refusal";
    pub const UNDECLARED: &str = "undeclared";
    pub const CONTAGION: &str = "contagion";
    pub const IDENTITY: &str = "identity";
}

const fn rule_info(name: &'static str, scope: RuleScope, configurable: bool, meaning: &'static str) -> RuleInfo {
    RuleInfo { name, scope, configurable, meaning }
}

/// Every alert rule, once: the judge, the command line's rule line, the configuration's checks
/// and the README's table (checked by a test) all read this list.
pub const RULES: &[RuleInfo] = &[
    rule_info(rule::COVERAGE, RuleScope::Night, false, "too few requests succeeded: diversity is not judged tonight"),
    rule_info(
        rule::MEMBERS,
        RuleScope::Night,
        false,
        "a consortium member did not publish: diversity is not judged tonight",
    ),
    rule_info(
        rule::INSTRUMENT_CHANGE,
        RuleScope::Night,
        false,
        "suite, sampling or embedder changed: a new baseline starts (info)",
    ),
    rule_info(rule::PANEL_CHANGE, RuleScope::Night, false, "the set of models changed, said in words (info)"),
    rule_info(
        rule::DROP,
        RuleScope::Ecosystem,
        true,
        "a diversity metric fell against its baseline, beyond tonight's interval",
    ),
    rule_info(
        rule::TREND,
        RuleScope::Ecosystem,
        true,
        "a significant monotonic trend toward convergence (Mann-Kendall)",
    ),
    rule_info(rule::FLOOR, RuleScope::Ecosystem, true, "a diversity metric under an absolute floor"),
    rule_info(rule::SHIFT, RuleScope::Ecosystem, true, "a sudden sustained shift toward convergence (CUSUM)"),
    rule_info(rule::PAIR, RuleScope::Pair, true, "a model pair converging apart from the rest"),
    rule_info(rule::CONCENTRATION, RuleScope::Ecosystem, true, "one behaviour family taking over (family HHI up)"),
    rule_info(
        rule::REFUSAL,
        RuleScope::Ecosystem,
        true,
        "models agreeing more on what they refuse while their refusal rates draw together",
    ),
    rule_info(
        rule::UNDECLARED,
        RuleScope::Pair,
        true,
        "two models far more alike than the background, with no declared relation",
    ),
    rule_info(
        rule::CONTAGION,
        RuleScope::Model,
        true,
        "a model taking up what a feed broadcasts, or the models converging under exposure",
    ),
    rule_info(
        rule::IDENTITY,
        RuleScope::Model,
        true,
        "a model's claimed maker changed since the last night: another model behind the same endpoint?",
    ),
];

/// The incident the ecosystem-wide rules share (`crate::alert::incident::CONVERGENCE`).
pub const CONVERGENCE_GROUP: &str = "convergence";

/// The registry's entry of a rule name.
pub fn rule_info_of(name: &str) -> Option<&'static RuleInfo> {
    RULES.iter().find(|r| r.name == name)
}
