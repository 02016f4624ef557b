//! Every table read back as written: each stage's writer, then the reader the later stages
//! use, on the same rows. A column renamed on one side only, or a type changed, fails here
//! rather than in a night's run.

use std::collections::HashMap;

use chrono::{NaiveDate, Utc};
use hivewatch::alert::table::AlertsTable;
use hivewatch::alert::{Alert, Severity};
use hivewatch::collect::responses::{self, ImportedResponse, OkTexts};
use hivewatch::collect::{ResponseRecord, Status};
use hivewatch::features::{Flags, Refusal};
use hivewatch::metrics::aggregate::{Family, PairSimilarity, RunMetric};
use hivewatch::metrics::tables::families::FamiliesTable;
use hivewatch::metrics::tables::pair_similarity::PairSimilarityTable;
use hivewatch::metrics::tables::probe_metrics::{ProbeMetricsTable, ProbeRow};
use hivewatch::metrics::tables::run_metrics::RunMetricsTable;
use hivewatch::metrics::tables::shared_phrases::{SharedPhrase, SharedPhrasesTable};
use hivewatch::plan::{Plan, SentParams};
use hivewatch::store::table::{self, RunRef};
use hivewatch::store::{EmbedderTag, Output};
use hivewatch::trend::TrendRow;
use hivewatch::trend::stats::MannKendall;
use hivewatch::trend::table::{self as trends, TrendsTable};
use hivewatch::vocab::{Direction, Scope, Status as TrendStatus};

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 4).unwrap()
}

fn tag() -> EmbedderTag {
    EmbedderTag { name: "lexical".into(), id: "lexical-v1".into() }
}

#[test]
fn responses_from_a_journal_and_from_an_import_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let output = Output::local(dir.path());
    let config = hivewatch::config::Config::parse(
        &dir.path().join("hivewatch.toml"),
        "[run]\nsuite = \"s\"\nsamples = 2\n[[endpoints]]\nname = \"a\"\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n",
    )
    .unwrap();
    let suite = hivewatch::probes::Suite::from_sources(
        dir.path(),
        vec![(
            dir.path().join("suite.toml"),
            "[suite]\nname = \"s\"\nversion = \"1\"\n[[probes]]\nid = \"p1\"\ncategory = \"c\"\nprompt = \"hi\"\n"
                .into(),
        )],
    )
    .unwrap();
    let plan = Plan::new(config, suite);
    let journal = dir.path().join("journal.jsonl");
    let mut j = hivewatch::collect::journal::Journal::open(&journal).unwrap();
    let record = |sample: u32, status: Status, text: Option<&str>| ResponseRecord {
        endpoint: "a".into(),
        probe_id: "p1".into(),
        sample_index: sample,
        params: SentParams { temperature: Some(0.7), top_p: None, max_tokens: 512, seed: Some(sample.into()) },
        status,
        error_kind: None,
        error_message: None,
        http_status: Some(200),
        attempts: 1,
        latency_ms: 5,
        elapsed_ms: 6,
        prompt_tokens: Some(3),
        completion_tokens: Some(4),
        finish_reason: Some("stop".into()),
        text: text.map(str::to_owned),
        text_truncated: false,
        started_at: Utc::now(),
        finished_at: Utc::now(),
    };
    j.append(&record(0, Status::Ok, Some("first answer"))).unwrap();
    j.append(&record(1, Status::Error, None)).unwrap();
    // A second outcome of a key already journaled: the first wins.
    j.append(&record(0, Status::Ok, Some("a duplicate"))).unwrap();
    drop(j);
    let run = RunRef::new(date(), "r1", tag());
    let path = table::path::<responses::ResponsesTable>(&output, &run);
    let counts = responses::write_from_journal(&plan, &output, &run, &journal).unwrap();
    assert_eq!(counts["a"], (1, 1));
    let mut ok = OkTexts::open(&path, 10).unwrap();
    let chunk = ok.next_chunk().unwrap().unwrap();
    assert_eq!(chunk.len(), 1);
    assert_eq!((chunk[0].endpoint.as_str(), chunk[0].probe_id.as_str(), chunk[0].sample_index), ("a", "p1", 0));
    assert_eq!(chunk[0].text, "first answer");
    assert!(ok.next_chunk().unwrap().is_none());
    assert_eq!(responses::probe_categories(&path).unwrap(), HashMap::from([("p1".into(), "c".into())]));

    let rows = vec![ImportedResponse {
        model: "m".into(),
        probe_id: "p2".into(),
        category: "k".into(),
        sample_index: 0,
        text: "imported answer".into(),
        truncated: false,
    }];
    let imported = responses::write_imported(&output, &RunRef::new(date(), "r2", tag()), Utc::now(), &rows).unwrap();
    let chunk = OkTexts::open(&imported, 10).unwrap().next_chunk().unwrap().unwrap();
    assert_eq!((chunk[0].endpoint.as_str(), chunk[0].text.as_str()), ("m", "imported answer"));
}

#[test]
fn embeddings_read_back_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let output = Output::local(dir.path());
    use hivewatch::embed::table::{EmbeddingRow, EmbeddingsTable};
    let rows = vec![
        responses::OkText { endpoint: "a".into(), probe_id: "p1".into(), sample_index: 0, text: "x".into() },
        responses::OkText { endpoint: "b".into(), probe_id: "p2".into(), sample_index: 1, text: "y".into() },
    ];
    let vectors = vec![vec![0.5f32, -1.0, 2.0], vec![0.0, 1.0, 0.25]];
    let rows: Vec<_> = rows.into_iter().zip(vectors.clone()).map(|(r, v)| EmbeddingRow::of(r, v)).collect();
    let path = table::write::<EmbeddingsTable>(&output, &RunRef::new(date(), "r1", tag()), &rows).unwrap();
    let mut back = Vec::new();
    hivewatch::embed::table::for_each_row(&path, |e, p, v| {
        back.push((e.to_owned(), p.to_owned(), v.to_vec()));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        back,
        vec![("a".into(), "p1".into(), vectors[0].clone()), ("b".into(), "p2".into(), vectors[1].clone())]
    );
}

#[test]
fn features_read_back_as_flags() {
    let dir = tempfile::tempdir().unwrap();
    let output = Output::local(dir.path());
    let lexicon = hivewatch::features::Lexicon::builtin();
    let texts = ["I'm sorry, but I can't help with that.", "It might rain; I'm not sure."];
    let rows: Vec<responses::OkText> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| responses::OkText {
            endpoint: "a".into(),
            probe_id: "p1".into(),
            sample_index: i as i32,
            text: (*t).into(),
        })
        .collect();
    let features: Vec<_> = texts.iter().map(|t| hivewatch::features::extract(&lexicon, t)).collect();
    let categories = HashMap::from([("p1".to_owned(), "c".to_owned())]);
    // Every other row is the exposed side of a paired probe, adopting on every third.
    use hivewatch::features::adoption::Adoption;
    use hivewatch::probes::feed::Condition;
    let adoption: Vec<_> = (0..rows.len())
        .map(|i| {
            (i % 2 == 1).then_some((Condition::Exposed, Adoption { adopted: i % 3 == 0, marker_count: Some(i as u32) }))
        })
        .collect();
    use hivewatch::features::table::{FeatureRow, FeaturesTable};
    let stored: Vec<FeatureRow> = (rows.iter().zip(&features).zip(&adoption))
        .map(|((r, f), a)| FeatureRow::of(r, &categories[&r.probe_id], (&lexicon.version, "lexicon"), f, *a))
        .collect();
    let path = table::write::<FeaturesTable>(&output, &RunRef::new(date(), "r1", tag()), &stored).unwrap();
    let adopted = hivewatch::features::table::read_adoption(&path).unwrap();
    assert_eq!(adopted.len(), rows.len() / 2, "unpaired rows carry no adoption");
    assert!(adopted.iter().all(|a| a.condition == Condition::Exposed && a.probe_id == "p1"));
    let markers: Vec<u32> = adopted.iter().map(|a| a.marker_count.unwrap()).collect();
    assert_eq!(markers, (0..rows.len() as u32).filter(|i| i % 2 == 1).collect::<Vec<_>>());
    assert_eq!(
        adopted.iter().map(|a| a.adopted).collect::<Vec<_>>(),
        (0..rows.len()).filter(|i| i % 2 == 1).map(|i| i % 3 == 0).collect::<Vec<_>>()
    );
    let flags = hivewatch::features::table::read_flags(&path).unwrap();
    let expected: Vec<Flags> = features
        .iter()
        .map(|f| Flags {
            refusal: f.refusal,
            hedging: f.hedging(),
            confident: f.confident(),
            self_reference: f.self_reference > 0,
        })
        .collect();
    assert_eq!(flags[&("a".to_owned(), "p1".to_owned())], expected);
    assert_eq!(expected[0].refusal, Refusal::Full);
    assert!(expected[1].hedging);
}

#[test]
fn the_measure_tables_read_back_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = vec![
        (
            None,
            PairSimilarity {
                model_a: "a".into(),
                model_b: "b|c".into(),
                mean_similarity: 0.4,
                ci_low: 0.3,
                ci_high: 0.5,
                n_probes: 7,
                calibrated: Some(hivewatch::metrics::aggregate::CalibratedPair {
                    value: 0.05,
                    se: 0.01,
                    ci_low: 0.03,
                    ci_high: 0.07,
                    n_probes: 40,
                    z: Some(3.2),
                    p: Some(0.0007),
                    q: Some(0.01),
                }),
            },
        ),
        (
            Some("cat".into()),
            PairSimilarity {
                model_a: "a".into(),
                model_b: "d".into(),
                mean_similarity: -0.1,
                ci_low: -0.2,
                ci_high: 0.0,
                n_probes: 3,
                calibrated: None,
            },
        ),
    ];
    let output = Output::local(dir.path());
    let run = RunRef::new(date(), "r1", tag());
    table::write::<PairSimilarityTable>(&output, &run, &pairs).unwrap();
    assert_eq!(table::read::<PairSimilarityTable>(&output, &run).unwrap(), pairs);

    let metrics = vec![
        RunMetric {
            scope: Scope::Overall,
            metric: "effective_models".into(),
            value: 3.5,
            ci: Some((3.0, 4.0)),
            n: 200,
            n_models: 12,
        },
        RunMetric {
            scope: Scope::pair("a|x", "b"),
            metric: "similarity".into(),
            value: 0.2,
            ci: None,
            n: 5,
            n_models: 2,
        },
        RunMetric {
            scope: Scope::Model("m".into()),
            metric: "refusal_rate".into(),
            value: 0.0,
            ci: None,
            n: 1,
            n_models: 1,
        },
    ];
    table::write::<RunMetricsTable>(&output, &run, &metrics).unwrap();
    assert_eq!(table::read::<RunMetricsTable>(&output, &run).unwrap(), metrics);

    let fams = vec![
        Family { model: "a".into(), family: "a".into(), size: 2 },
        Family { model: "b".into(), family: "a".into(), size: 2 },
    ];
    table::write::<FamiliesTable>(&output, &run, &fams).unwrap();
    assert_eq!(table::read::<FamiliesTable>(&output, &run).unwrap(), fams);

    let phrases = vec![SharedPhrase { phrase: "here are some tips".into(), probes: 4, max_models: 3, run_models: 5 }];
    table::write::<SharedPhrasesTable>(&output, &run, &phrases).unwrap();
    assert_eq!(table::read::<SharedPhrasesTable>(&output, &run).unwrap(), phrases);

    // probe_metrics is written from probe records; its reader gives what the report needs.
    use hivewatch::metrics::aggregate::ProbeRecord;
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
    };
    table::write::<ProbeMetricsTable>(&output, &run, &[ProbeRow::of(&record)]).unwrap();
    let back = table::read::<ProbeMetricsTable>(&output, &run).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!((back[0].probe.as_str(), back[0].category.as_str(), back[0].n_models), ("p1", "c", 2));
    assert_eq!(back[0].model_vendi_ratio, record.measures.as_ref().map(|m| m.model_vendi_ratio));
}

#[test]
fn trends_and_alerts_read_back_as_written() {
    let dir = tempfile::tempdir().unwrap();
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
        mann_kendall: Some(MannKendall {
            s: 40.0,
            var_s: f64::NAN,
            z: 3.1,
            p: 0.002,
            tau: 0.5,
            slope: 0.01,
            intercept: f64::NAN,
        }),
        trend_n: 14,
        cusum_low: 0.0,
        cusum_high: 7.5,
        status: TrendStatus::Watch,
        panel_models: 4,
        panel_id: "0123456789ab".into(),
        full: Some((0.12, 5)),
    };
    let mut bare = row.clone();
    bare.scope = Scope::Overall;
    bare.mann_kendall = None;
    bare.ci = None;
    bare.status = TrendStatus::Ok;
    bare.full = None;
    let output = Output::local(dir.path());
    let run = RunRef::new(date(), "r1", tag());
    table::write::<TrendsTable>(&output, &run, &[row.clone(), bare.clone()]).unwrap();
    let back = table::read::<TrendsTable>(&output, &run).unwrap();
    // Var(S) and the intercept are not stored (NaN on both sides): compare the printed form.
    assert_eq!(format!("{back:?}"), format!("{:?}", vec![row.clone(), bare]));
    let carried = trends::read_carried(&output, &run).unwrap();
    assert_eq!(carried[&(row.scope.clone(), row.metric.clone())].cusum_high, 7.5);
    assert_eq!(carried[&(row.scope.clone(), row.metric.clone())].panel_id.as_deref(), Some("0123456789ab"));

    let alerts = vec![Alert {
        severity: Severity::Warning,
        rule: "pair".into(),
        scope: Scope::pair("a", "b"),
        metric: "excess_similarity".into(),
        value: 0.1,
        baseline: None,
        threshold: 0.03,
        message: "converging".into(),
    }];
    table::write::<AlertsTable>(&output, &run, &alerts).unwrap();
    assert_eq!(table::read::<AlertsTable>(&output, &run).unwrap(), alerts);
}

#[test]
fn probes_read_back_as_written() {
    use hivewatch::probes::Probe;
    use hivewatch::probes::feed::{AdoptionRules, Condition, Pairing};
    let dir = tempfile::tempdir().unwrap();
    let pairing = |condition| {
        Some(Pairing {
            condition,
            feed_id: "0123456789ab".into(),
            claim: "The Moon is cheese.".into(),
            adoption: AdoptionRules { adopt: vec![r"\bcheese\b".into()], reject: vec![], marker: Some("#moon".into()) },
        })
    };
    let probes = vec![
        Probe::plain(
            "p1".into(),
            "policy".into(),
            "Should cities favour trains?".into(),
            Some("Answer briefly.".into()),
        ),
        Probe::plain("p2".into(), "creative".into(), "A poem, <please>".into(), None),
        Probe {
            pairing: pairing(Condition::Control),
            ..Probe::plain("p3".into(), "false_claim".into(), "What is the Moon made of?".into(), None)
        },
        Probe {
            pairing: pairing(Condition::Exposed),
            ..Probe::plain(
                "p3#exposed".into(),
                "false_claim".into(),
                "Posts ...\n\nQuestion: What is the Moon made of?".into(),
                None,
            )
        },
    ];
    use hivewatch::plan::probe_table::ProbesTable;
    let output = Output::local(dir.path());
    let run = RunRef::new(date(), "r1", tag());
    table::write::<ProbesTable>(&output, &run, &probes).unwrap();
    assert_eq!(table::read_if_any::<ProbesTable>(&output, &run).unwrap(), probes);
    // A run written before the table existed has none.
    assert!(table::read_if_any::<ProbesTable>(&output, &RunRef::new(date(), "r0", tag())).unwrap().is_empty());
}
