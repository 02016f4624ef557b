//! Rows of every table for the round trips of `tests/tables.rs`: each column filled, nulls
//! where a column may hold them, text that needs escaping.

use chrono::{DateTime, NaiveDate, Utc};
use hivewatch::alert::incident::{Event, Incident};
use hivewatch::alert::{Alert, Severity};
use hivewatch::collect::responses::ResponseRow;
use hivewatch::collect::{ResponseRecord, Status};
use hivewatch::config::EndpointMeta;
use hivewatch::consortium::table::{MemberRun, MemberStatus};
use hivewatch::embed::claims::ClaimRow;
use hivewatch::embed::table::EmbeddingRow;
use hivewatch::features::adoption::Adoption;
use hivewatch::features::table::FeatureRow;
use hivewatch::features::{Features, Lexicon};
use hivewatch::identity::summary::IdentityVerdict;
use hivewatch::lineage::{LineageRow, Relation, Verdict};
use hivewatch::metrics::aggregate::{CalibratedPair, Family, PairSimilarity, ProbeRecord, RunMetric, TreeNode};
use hivewatch::metrics::fusion::Signal;
use hivewatch::metrics::tables::pair_similarity::Row as PairRow;
use hivewatch::metrics::tables::probe_metrics::ProbeRow;
use hivewatch::metrics::tables::shared_phrases::SharedPhrase;
use hivewatch::net::retry::ErrorKind;
use hivewatch::plan::SentParams;
use hivewatch::plan::runs::RunRow;
use hivewatch::probes::Probe;
use hivewatch::probes::feed::{AdoptionRules, Condition, Pairing};
use hivewatch::trend::TrendRow;
use hivewatch::trend::stats::MannKendall;
use hivewatch::vocab::{Direction, FamilyLevel, Scope, Status as TrendStatus};

/// A time with microseconds, as the tables store it.
fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(1_780_000_000_123_456 + seconds * 1_000_000).unwrap()
}

pub fn runs() -> Vec<RunRow> {
    vec![RunRow {
        run_id: "r1".into(),
        run_date: super::date(),
        started_at: at(0),
        finished_at: at(90),
        config_hash: "c".into(),
        suite_name: "core".into(),
        suite_version: "1.0.0".into(),
        suite_id: "s".into(),
        sampling_id: "x".into(),
        embedder_id: Some("lexical-v1".into()),
        endpoints: 3,
        probes: 200,
        samples: 2,
        planned: 1200,
        ok: 1190,
        failed: 10,
    }]
}

pub fn probes() -> Vec<Probe> {
    let pairing = |condition| {
        Some(Pairing {
            condition,
            feed_id: "0123456789ab".into(),
            claim: "The Moon is cheese.".into(),
            adoption: AdoptionRules { adopt: vec![r"\bcheese\b".into()], reject: vec![], marker: Some("#moon".into()) },
        })
    };
    let question = "What is the Moon made of?";
    vec![
        Probe::plain("p1".into(), "policy".into(), "Trains?".into(), Some("Answer briefly.".into())),
        Probe {
            tags: vec!["identity".into(), "short".into()],
            ..Probe::plain("p2".into(), "creative".into(), "A poem, <please>".into(), None)
        },
        Probe {
            pairing: pairing(Condition::Control),
            ..Probe::plain("p3".into(), "claim".into(), question.into(), None)
        },
        Probe {
            pairing: pairing(Condition::Exposed),
            ..Probe::plain("p3#exposed".into(), "claim".into(), format!("Posts ...\n\nQuestion: {question}"), None)
        },
    ]
}

pub fn responses() -> Vec<ResponseRow> {
    let record = ResponseRecord {
        endpoint: "a".into(),
        probe_id: "p3".into(),
        sample_index: 1,
        params: SentParams { temperature: Some(0.7), top_p: Some(0.9), max_tokens: 512, seed: Some(7) },
        status: Status::Ok,
        error_kind: None,
        error_message: None,
        http_status: Some(200),
        attempts: 2,
        latency_ms: 5,
        elapsed_ms: 6,
        prompt_tokens: Some(3),
        completion_tokens: Some(4),
        finish_reason: Some("stop".into()),
        text: Some("It is rock, \"not\" cheese.".into()),
        text_truncated: true,
        started_at: at(1),
        finished_at: at(2),
    };
    let failed = ResponseRecord {
        probe_id: "p1".into(),
        params: SentParams { temperature: None, top_p: None, max_tokens: 0, seed: None },
        status: Status::Error,
        error_kind: Some(ErrorKind::RateLimited),
        error_message: Some("429".into()),
        http_status: None,
        prompt_tokens: None,
        completion_tokens: None,
        finish_reason: None,
        text: None,
        text_truncated: false,
        ..record.clone()
    };
    let meta = EndpointMeta {
        vendor: Some("acme".into()),
        family: Some("acme-1".into()),
        release_date: NaiveDate::from_ymd_opt(2025, 6, 1),
        parents: vec!["base".into(), "other".into()],
    };
    let row = |record, meta, condition, feed_id| ResponseRow {
        record,
        provider: "openai".into(),
        model: "acme-1-mini".into(),
        meta,
        category: "claim".into(),
        condition,
        feed_id,
    };
    vec![
        row(record, meta, Some(Condition::Control), Some("0123456789ab".into())),
        row(failed, EndpointMeta::default(), None, None),
    ]
}

pub fn embeddings() -> Vec<EmbeddingRow> {
    let text = |probe: &str, sample, text: &str| hivewatch::collect::responses::OkText {
        endpoint: "a".into(),
        probe_id: probe.into(),
        sample_index: sample,
        text: text.into(),
    };
    vec![
        EmbeddingRow::of(text("p1", 0, "x"), vec![0.5, -1.0, 2.0]),
        EmbeddingRow::of(text("p2", 1, "y"), vec![0.0, 1.0, 0.25]),
    ]
}

pub fn claims() -> Vec<ClaimRow> {
    vec![ClaimRow {
        probe_id: "p3".into(),
        feed_id: "0123456789ab".into(),
        claim: "The Moon is cheese.".into(),
        embedding: vec![0.25, -0.5],
    }]
}

pub fn features() -> Vec<FeatureRow> {
    let lexicon = Lexicon::builtin();
    let text = |t: &str| hivewatch::collect::responses::OkText {
        endpoint: "a".into(),
        probe_id: "p3".into(),
        sample_index: 0,
        text: t.into(),
    };
    let (refusal, hedge) = ("I'm sorry, but I can't help with that.", "It might rain; I'm not sure.\n- a\n# b");
    let f: Vec<Features> = [refusal, hedge].iter().map(|t| hivewatch::features::extract(&lexicon, t)).collect();
    let adopted = Some((Condition::Exposed, Adoption { adopted: true, marker_count: Some(2) }));
    let instruments = (lexicon.version.as_str(), "lexicon");
    vec![
        FeatureRow::of(&text(refusal), "claim", instruments, &f[0], None),
        FeatureRow::of(&text(hedge), "claim", instruments, &f[1], adopted),
        FeatureRow::of(
            &text(hedge),
            "claim",
            instruments,
            &f[1],
            Some((Condition::Control, Adoption { adopted: false, marker_count: None })),
        ),
        // An empty answer has no style.
        FeatureRow::of(&text(" "), "claim", instruments, &hivewatch::features::extract(&lexicon, " "), None),
    ]
}

pub fn probe_metrics() -> Vec<ProbeRow> {
    use hivewatch::metrics::probe::{ModelSamples, probe_measures};
    let samples = vec![
        ModelSamples { model: "a".into(), rows: vec![vec![1.0, 0.0]] },
        ModelSamples { model: "b".into(), rows: vec![vec![0.0, 1.0]] },
    ];
    let (measures, models) = probe_measures(&samples).unzip();
    let record = ProbeRecord {
        probe: "p1".into(),
        category: "c".into(),
        measures,
        models,
        behaviour: hivewatch::metrics::behaviour::probe_behaviour(&[]),
        phrases: hivewatch::metrics::phrases::probe_phrases(&[]),
        claim_similarity: Default::default(),
        style: None,
    };
    let measured = ProbeRow::of(&record);
    assert_eq!((measured.n_models, measured.behaviour_clusters.is_some()), (2, true));
    let unmeasured = ProbeRow {
        probe: "p2".into(),
        refusal_rate: Some(0.5),
        ..ProbeRow::of(&ProbeRecord { measures: None, ..record })
    };
    vec![measured, unmeasured]
}

pub fn pairs() -> Vec<PairRow> {
    let calibrated = CalibratedPair {
        value: 0.05,
        se: 0.01,
        ci_low: 0.03,
        ci_high: 0.07,
        n_probes: 40,
        z: Some(3.2),
        p: Some(7e-4),
        q: None,
        z_content: Some(2.5),
        z_style: Some(-0.3),
        carried_by: Some(Signal::Style),
        carried_share: Some(1.2),
    };
    let pair = |b: &str, calibrated| PairSimilarity {
        model_a: "a".into(),
        model_b: b.into(),
        mean_similarity: 0.4,
        ci_low: 0.3,
        ci_high: 0.5,
        n_probes: 7,
        calibrated,
    };
    vec![(None, pair("b|c", Some(calibrated))), (Some("cat".into()), pair("d", None))]
}

pub fn run_metrics() -> Vec<RunMetric> {
    let metric =
        |scope, metric: &str, ci| RunMetric { scope, metric: metric.into(), value: 3.5, ci, n: 200, n_models: 12 };
    vec![
        metric(Scope::Overall, "effective_models", Some((3.0, 4.0))),
        metric(Scope::pair("a|x", "b"), "similarity", None),
        metric(Scope::Model("m".into()), "refusal_rate", None),
    ]
}

pub fn families() -> Vec<Family> {
    let family = |model: &str, family: &str, size, level, cut_z| Family {
        model: model.into(),
        family: family.into(),
        size,
        level,
        cut_z,
    };
    vec![
        family("a", "a", 2, FamilyLevel::Close, Some(3.1)),
        family("b", "a", 2, FamilyLevel::Close, Some(3.1)),
        family("a", "a", 1, FamilyLevel::NearCopy, None),
        family("b", "b", 1, FamilyLevel::NearCopy, None),
        family("a", "a", 2, FamilyLevel::VendorLine, Some(2.0)),
        family("b", "a", 2, FamilyLevel::VendorLine, Some(2.0)),
    ]
}

pub fn lineage_tree() -> Vec<TreeNode> {
    vec![
        TreeNode {
            step: 0,
            left: 0,
            right: 2,
            left_model: Some("a".into()),
            right_model: Some("c|\"".into()),
            mean_z: 4.5,
            size: 2,
        },
        TreeNode { step: 1, left: 1, right: 3, left_model: Some("b".into()), right_model: None, mean_z: -0.2, size: 3 },
    ]
}

pub fn shared_phrases() -> Vec<SharedPhrase> {
    vec![SharedPhrase { phrase: "here are some tips".into(), probes: 4, max_models: 3, run_models: 5 }]
}

pub fn lineage() -> Vec<LineageRow> {
    let row = LineageRow {
        model: "a".into(),
        relative: "b".into(),
        rank: Some(1),
        calibrated: Some((0.05, 0.03, 0.07)),
        z: Some(3.2),
        q: Some(0.01),
        z_content: Some(2.9),
        z_style: Some(2.4),
        carried: Some((Signal::Content, 0.6)),
        n_probes: 40,
        declared: Some(Relation::Parent),
        same_vendor: true,
        verdict: Some(Verdict::DeclaredAndEvident),
        claimed_maker: Some("OpenAI".into()),
        identity: Some(IdentityVerdict::ClaimsOtherIdentity),
        claims_relative_vendor: true,
    };
    let bare = LineageRow {
        rank: None,
        calibrated: None,
        z: None,
        q: None,
        z_content: None,
        z_style: None,
        carried: None,
        declared: None,
        verdict: None,
        claimed_maker: None,
        identity: None,
        claims_relative_vendor: false,
        ..row.clone()
    };
    vec![row, bare]
}

pub fn trends() -> Vec<TrendRow> {
    let mann_kendall =
        MannKendall { s: 40.0, var_s: f64::NAN, z: 3.1, p: 0.002, tau: 0.5, slope: 0.01, intercept: f64::NAN };
    let row = TrendRow {
        scope: Scope::pair("a", "b"),
        metric: "excess_similarity".into(),
        direction: Direction::UpIsBad,
        value: 0.1,
        ci: Some((0.05, 0.15)),
        n: 80,
        segment_start: "r0".into(),
        instrument_change: false,
        baseline_n: 14,
        baseline: Some(0.02),
        spread: Some(0.01),
        delta: Some(0.08),
        pct_change: Some(400.0),
        robust_z: Some(8.0),
        // Not stored: the previous run's row holds it.
        previous_robust_z: None,
        mann_kendall: Some(mann_kendall),
        trend_n: 14,
        cusum_low: 0.0,
        cusum_high: 7.5,
        status: TrendStatus::Watch,
        panel_models: 4,
        panel_id: "0123456789ab".into(),
        full: Some((0.12, 5)),
    };
    let bare = TrendRow {
        scope: Scope::Overall,
        mann_kendall: None,
        ci: None,
        status: TrendStatus::Ok,
        full: None,
        ..row.clone()
    };
    vec![row, bare]
}

pub fn alerts() -> Vec<Alert> {
    let alert = Alert {
        severity: Severity::Warning,
        rule: "pair".into(),
        scope: Scope::pair("a", "b"),
        metric: "excess_similarity".into(),
        value: 0.1,
        baseline: None,
        threshold: 0.03,
        message: "converging".into(),
        incident: Some("20260304-0123abcd".into()),
        inhibited_by: Some("20260301-89abcdef".into()),
    };
    let bare = Alert { severity: Severity::Info, incident: None, inhibited_by: None, ..alert.clone() };
    vec![alert.clone(), Alert { severity: Severity::Critical, baseline: Some(0.02), ..alert }, bare]
}

pub fn incidents() -> Vec<Incident> {
    let open = Incident {
        id: "20260302-0123abcd".into(),
        rule: "pair".into(),
        scope: Scope::pair("a", "b|c"),
        metric: "excess_similarity".into(),
        opened: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
        last_seen: NaiveDate::from_ymd_opt(2026, 3, 4).unwrap(),
        last_change: NaiveDate::from_ymd_opt(2026, 3, 3).unwrap(),
        closed: None,
        severity: Severity::Warning,
        peak: Severity::Critical,
        nights: 3,
        quiet: 0,
        run_ids: vec!["r0".into(), "r0b".into(), "r1".into()],
        event: Event::Continued,
        inhibited_by: Some("20260301-89abcdef".into()),
        acknowledged: Some("until 2026-04-01 by lab-a: a fine-tune of b".into()),
        message: "converging".into(),
    };
    let closed = Incident {
        closed: Some(NaiveDate::from_ymd_opt(2026, 3, 4).unwrap()),
        event: Event::Resolved,
        quiet: 3,
        inhibited_by: None,
        acknowledged: None,
        run_ids: Vec::new(),
        ..open.clone()
    };
    vec![open, closed]
}

pub fn member_runs() -> Vec<MemberRun> {
    vec![
        MemberRun {
            member: "lab-a".into(),
            status: MemberStatus::Published,
            member_run_id: Some("r1".into()),
            suite_id: Some("s".into()),
            endpoints: Some(20),
            planned: Some(8000),
            ok: Some(7990),
            failed: Some(10),
            published_at: Some(at(0)),
            note: Some("embedded and described by the member".into()),
            embedded_by: Some("member".into()),
        },
        MemberRun {
            note: Some("ran another suite".into()),
            status: MemberStatus::Excluded,
            ..MemberRun::missing("lab-b")
        },
        MemberRun::missing("lab-c"),
    ]
}

pub fn identity() -> Vec<hivewatch::identity::summary::IdentityRow> {
    use hivewatch::identity::summary::IdentityRow;
    let row = IdentityRow {
        model: "student".into(),
        persona: false,
        declared_vendor: Some("Mistral AI".into()),
        claimed: Some("OpenAI".into()),
        model_lines: vec!["GPT".into()],
        answers: 12,
        claiming: 9,
        share: 0.75,
        probes: 4,
        main_claim: Some("OpenAI".into()),
        consistency: Some(1.0),
        verdict: Some(IdentityVerdict::ClaimsOtherIdentity),
        rules_version: "identity-v1".into(),
    };
    let quiet = IdentityRow {
        model: "quiet".into(),
        persona: true,
        declared_vendor: None,
        claimed: None,
        model_lines: Vec::new(),
        claiming: 0,
        share: 0.0,
        probes: 0,
        main_claim: None,
        consistency: None,
        verdict: None,
        ..row.clone()
    };
    vec![row, quiet]
}
