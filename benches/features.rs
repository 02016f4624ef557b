//! The features stage at scale, with each refusal detector.
//!
//!     cargo bench --bench features -- [CSV] [ROWS]
//!
//! Writes a run of ROWS ok responses (default 100,000) into a temporary output: the texts cycle
//! through the `completion` column of CSV (default ../shared/data/xstest_dev/labelled_completions.csv:
//! real model answers, 1,350 of them, mean about 1,000 characters), 50 endpoints x probes x 2
//! samples. Beside it, an `embeddings` table of random unit 384-d vectors under the id of the
//! MiniLM the shipped weights were fitted for, standing for a run embedded with that MiniLM.
//! Then it times the whole features stage (read `responses`, extract, label, write Parquet) three
//! times, once per detector: the lexicon's rule; the learned detector's lexical variant (what
//! every run not embedded with that MiniLM uses: a lexical embedding of each opening); and its
//! MiniLM variant (the run's vectors read back from `embeddings`). Both learned variants also
//! embed each answer's first five sentences lexically (the sentence channel). The texts repeat, but nothing
//! in the stage caches by text. benches/features.sh runs it with GNU time.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use hivewatch::collect::responses::{OkText, ResponsesTable};
use hivewatch::config::RefusalMethod;
use hivewatch::embed::table::{EmbeddingRow, EmbeddingsTable};
use hivewatch::features::detector::{LearnedWeights, RefusalDetector};
use hivewatch::features::{Lexicon, stage};
use hivewatch::store::table::{self, RunRef};
use hivewatch::store::{self, EmbedderTag, Output};
use rand::{Rng, SeedableRng};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RUN_ID: &str = "bench-run";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let csv = args.first().map_or("../shared/data/xstest_dev/labelled_completions.csv", String::as_str);
    let rows: usize = args.get(1).map_or(100_000, |n| n.parse().expect("ROWS is a number"));
    let texts = completions(Path::new(csv));
    let date = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Output::local(dir.path().join("reports"));
    let minilm = LearnedWeights::builtin().minilm.expect("the shipped weights have a MiniLM variant");
    let tag = EmbedderTag { name: "minilm".into(), id: minilm.embedder.clone() };

    let start = Instant::now();
    let ok: Vec<OkText> = (0..rows)
        .map(|i| OkText {
            endpoint: format!("model-{:02}", i % 50),
            probe_id: format!("p{:05}", i / 100),
            sample_index: ((i / 50) % 2) as i32,
            text: texts[i % texts.len()].clone(),
        })
        .collect();
    write_run(&out, date, &ok, &tag);
    let chars: usize = ok.iter().map(|r| r.text.chars().count()).sum();
    println!(
        "{rows} responses ({:.0} characters on average, from {} texts of {csv}) written in {:.1} s; {} threads",
        chars as f64 / rows as f64,
        texts.len(),
        start.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    drop(ok);

    let lexicon = Lexicon::builtin();
    let lexical = EmbedderTag { name: "lexical".into(), id: hivewatch::embed::lexical::ID.into() };
    for (what, method, embedder) in [
        ("lexicon rule", RefusalMethod::Lexicon, &lexical),
        ("learned, lexical variant", RefusalMethod::Learned, &lexical),
        ("learned, MiniLM variant (the run's vectors)", RefusalMethod::Learned, &tag),
    ] {
        let detector = RefusalDetector::build(Some(method), &lexicon).unwrap();
        let start = Instant::now();
        let run = RunRef::new(date, RUN_ID, embedder.clone());
        let stats = stage::write_features(&out, &run, &lexicon, &detector).unwrap();
        let wall = start.elapsed().as_secs_f64();
        println!(
            "{what:<44} {}: {} rows in {wall:.2} s, {:.0} ms per 1,000 responses",
            stats.detector,
            stats.rows,
            1000.0 * 1000.0 * wall / stats.rows as f64
        );
    }
}

/// The `completion` column of a CSV.
fn completions(path: &Path) -> Vec<String> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let column = reader.headers().unwrap().iter().position(|h| h == "completion").expect("a `completion` column");
    reader.records().map(|r| r.unwrap()[column].to_owned()).filter(|t| !t.trim().is_empty()).collect()
}

/// The `responses` columns the features stage reads, and an `embeddings` table of random unit
/// vectors in the same order.
fn write_run(out: &Output, date: NaiveDate, rows: &[OkText], tag: &EmbedderTag) {
    use arrow_array::{ArrayRef, Int32Array, RecordBatch, StringArray};
    let s = |v: Vec<&str>| -> ArrayRef { Arc::new(StringArray::from(v)) };
    let batch = RecordBatch::try_from_iter(vec![
        ("endpoint", s(rows.iter().map(|r| r.endpoint.as_str()).collect())),
        ("probe_id", s(rows.iter().map(|r| r.probe_id.as_str()).collect())),
        ("category", s(vec!["bench"; rows.len()])),
        ("sample_index", Arc::new(rows.iter().map(|r| r.sample_index).collect::<Int32Array>()) as ArrayRef),
        ("status", s(vec!["ok"; rows.len()])),
        ("response_text", s(rows.iter().map(|r| r.text.as_str()).collect())),
    ])
    .unwrap();
    let run = RunRef::new(date, RUN_ID, tag.clone());
    store::write_batch(&table::path::<ResponsesTable>(out, &run), batch).unwrap();

    let mut rng = rand::rngs::StdRng::seed_from_u64(19);
    let mut writer = table::writer::<EmbeddingsTable>(out, &run).unwrap();
    for chunk in rows.chunks(8192) {
        let vectors: Vec<Vec<f32>> = chunk
            .iter()
            .map(|_| {
                let mut v: Vec<f32> = (0..hivewatch::embed::minilm::DIM).map(|_| rng.random_range(-1.0..1.0)).collect();
                hivewatch::embed::l2_normalise(&mut v);
                v
            })
            .collect();
        let rows: Vec<EmbeddingRow> = chunk.iter().cloned().zip(vectors).map(|(r, v)| EmbeddingRow::of(r, v)).collect();
        writer.write(&table::batch::<EmbeddingsTable>(&run, &rows).unwrap()).unwrap();
    }
    writer.finish().unwrap();
}
