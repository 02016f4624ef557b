//! Every table read back as written. Each declared table (`hivewatch::tables::TABLES`) makes
//! a round trip through its declaration: rows written, the file's schema the declaration's, the
//! rows read back the same; a table declared without a case here fails
//! `every_declared_table_has_a_round_trip`. Then the readers the later stages use on their own
//! (ok texts, flags, adoption, vectors, the carried trend state) on rows written by the stages'
//! writers. A column renamed on one side only, or a type changed, fails here rather than in a
//! night's run.

#[path = "tables/rows.rs"]
mod rows;

use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;

use chrono::{NaiveDate, Utc};
use hivewatch::collect::responses::{self, ImportedResponse, OkTexts};
use hivewatch::collect::{ResponseRecord, Status};
use hivewatch::features::{Flags, Refusal};
use hivewatch::plan::{Plan, SentParams};
use hivewatch::store::table::{self, RunRef, Table};
use hivewatch::store::{EmbedderTag, Output};
use hivewatch::tables::TABLES;

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 4).unwrap()
}

fn tag() -> EmbedderTag {
    EmbedderTag { name: "lexical".into(), id: "lexical-v1".into() }
}

fn run() -> RunRef {
    RunRef::new(date(), "r1", tag())
}

/// Writes `rows` of table `T` for [`run`], checks the file's schema is the declaration's and
/// reads them back. Compared printed, so that what is not stored reads back as NaN on both
/// sides (a trend's Var(S)). Returns the table's name.
fn round_trip<T: Table>(output: &Output, rows: &[T::Row]) -> &'static str
where
    T::Row: Debug,
{
    let path = table::write::<T>(output, &run(), rows).unwrap();
    assert_eq!(path, T::DECL.path(output, &run()));
    let stored = hivewatch::store::read_batches(&path).unwrap();
    assert_eq!(stored[0].schema(), table::schema::<T>(), "{}: the file's schema", T::DECL.name);
    let back = table::read::<T>(output, &run()).unwrap();
    assert_eq!(format!("{back:#?}"), format!("{rows:#?}"), "{} read back", T::DECL.name);
    T::DECL.name
}

/// One round trip per declared table, with rows that fill every column (nulls included).
fn round_trips(output: &Output) -> Vec<&'static str> {
    use hivewatch::alert::incident_table::IncidentsTable;
    use hivewatch::alert::table::AlertsTable;
    use hivewatch::collect::responses::ResponsesTable;
    use hivewatch::consortium::table::MemberRunsTable;
    use hivewatch::embed::claims::ClaimEmbeddingsTable;
    use hivewatch::embed::table::EmbeddingsTable;
    use hivewatch::features::table::FeaturesTable;
    use hivewatch::identity::table::IdentityTable;
    use hivewatch::lineage::table::LineageTable;
    use hivewatch::metrics::tables::families::FamiliesTable;
    use hivewatch::metrics::tables::lineage_tree::LineageTreeTable;
    use hivewatch::metrics::tables::pair_similarity::PairSimilarityTable;
    use hivewatch::metrics::tables::probe_metrics::ProbeMetricsTable;
    use hivewatch::metrics::tables::run_metrics::RunMetricsTable;
    use hivewatch::metrics::tables::shared_phrases::SharedPhrasesTable;
    use hivewatch::plan::probe_table::ProbesTable;
    use hivewatch::plan::runs::RunsTable;
    use hivewatch::trend::table::TrendsTable;
    vec![
        round_trip::<RunsTable>(output, &rows::runs()),
        round_trip::<ProbesTable>(output, &rows::probes()),
        round_trip::<ResponsesTable>(output, &rows::responses()),
        round_trip::<EmbeddingsTable>(output, &rows::embeddings()),
        round_trip::<ClaimEmbeddingsTable>(output, &rows::claims()),
        round_trip::<FeaturesTable>(output, &rows::features()),
        round_trip::<IdentityTable>(output, &rows::identity()),
        round_trip::<ProbeMetricsTable>(output, &rows::probe_metrics()),
        round_trip::<PairSimilarityTable>(output, &rows::pairs()),
        round_trip::<RunMetricsTable>(output, &rows::run_metrics()),
        round_trip::<FamiliesTable>(output, &rows::families()),
        round_trip::<LineageTreeTable>(output, &rows::lineage_tree()),
        round_trip::<SharedPhrasesTable>(output, &rows::shared_phrases()),
        round_trip::<LineageTable>(output, &rows::lineage()),
        round_trip::<TrendsTable>(output, &rows::trends()),
        round_trip::<AlertsTable>(output, &rows::alerts()),
        round_trip::<IncidentsTable>(output, &rows::incidents()),
        round_trip::<MemberRunsTable>(output, &rows::member_runs()),
    ]
}

#[test]
fn every_declared_table_reads_back_as_written() {
    let dir = tempfile::tempdir().unwrap();
    round_trips(&Output::local(dir.path()));
}

/// The table names a source file declares (`TableDecl::per_run("x")`, `per_embedder("x")`),
/// its unit tests left out.
fn declared_in(text: &str) -> Vec<String> {
    let code = text.split("\n#[cfg(test)]").next().unwrap_or(text);
    let mut out = Vec::new();
    for call in ["TableDecl::per_run(\"", "TableDecl::per_embedder(\""] {
        for (at, _) in code.match_indices(call) {
            let rest = &code[at + call.len()..];
            out.push(rest[..rest.find('"').unwrap()].to_owned());
        }
    }
    out
}

#[test]
fn every_declared_table_has_a_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let tested: BTreeSet<&str> = round_trips(&Output::local(dir.path())).into_iter().collect();
    let listed: BTreeSet<&str> = TABLES.iter().map(|t| t.name).collect();
    assert_eq!(tested, listed, "every table in hivewatch::tables::TABLES has a round trip in round_trips()");
    // And every table declared in the source is in that list.
    let mut files = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut declared = BTreeSet::new();
    for file in files {
        for name in declared_in(&std::fs::read_to_string(&file).unwrap()) {
            assert!(listed.contains(name.as_str()), "{}: table `{name}` is not in tables::TABLES", file.display());
            declared.insert(name);
        }
    }
    assert_eq!(declared.len(), listed.len(), "the source scan found every listed declaration");
}

#[test]
fn the_trends_state_carries_and_a_missing_table_has_no_rows() {
    use hivewatch::plan::probe_table::ProbesTable;
    use hivewatch::trend::table::{TrendsTable, read_carried};
    let dir = tempfile::tempdir().unwrap();
    let output = Output::local(dir.path());
    let trends = rows::trends();
    table::write::<TrendsTable>(&output, &run(), &trends).unwrap();
    let carried = read_carried(&output, &run()).unwrap();
    let row = &trends[0];
    assert_eq!(carried[&(row.scope.clone(), row.metric.clone())].cusum_high, 7.5);
    assert_eq!(carried[&(row.scope.clone(), row.metric.clone())].panel_id.as_deref(), Some("0123456789ab"));
    // A run written before a table existed has none of its rows.
    let older = RunRef::new(date(), "r0", tag());
    assert!(read_carried(&output, &older).unwrap().is_empty());
    assert!(table::read_if_any::<ProbesTable>(&output, &older).unwrap().is_empty());
    assert!(table::read::<ProbesTable>(&output, &older).is_err());
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
