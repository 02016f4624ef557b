//! The measure stage at scale: 100 models x 1,000 probes x 5 samples of 384-d vectors.
//!
//!     cargo bench --bench measures -- generate DIR [MODELS PROBES SAMPLES DIM]
//!     cargo bench --bench measures -- measure DIR
//!     cargo bench --bench measures -- vendi DIR
//!
//! `generate` writes a synthetic run into DIR/reports (the `responses` columns the stage reads,
//! `features` and `embeddings`) and the raw vectors to DIR/vectors.f32 (probe-major, f32 LE)
//! with DIR/shape.json, for the Python reference. Models come in families of five: a probe's
//! answer is the family's direction plus the model's own offset plus sampling noise.
//! With `HIVEWATCH_BENCH_TEXTS=FILE.jsonl` the answers' texts are real ones instead (each line's
//! `response`, taken in turn), so the style features vary as on real data (the 60 random words
//! keep all but a few of them constant); the vectors stay the same.
//! `measure` runs the whole measure stage on the stored tables (what `hivewatch run` and
//! `analyze` call) and prints its wall time (`HIVEWATCH_BENCH_PAIR_CATEGORIES`: `auto`, the
//! default, `always` or `never`, as `[output] pair_categories`). `vendi` times only the Vendi scores (q = 1, 2, inf)
//! of every probe's matrix, the part the Python reference (`vendi-score`) can do too.
//! benches/measures_scale.sh runs all of it with GNU time and the reference side by side.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::NaiveDate;
use hivewatch::collect::responses::{OkText, ResponsesTable};
use hivewatch::config::PairCategories;
use hivewatch::embed::Embedder;
use hivewatch::embed::table::{EmbeddingRow, EmbeddingsTable};
use hivewatch::features::table::{FeatureRow, FeaturesTable};
use hivewatch::features::{Features, Lexicon, Refusal};
use hivewatch::store::table::{self, RunRef};
use hivewatch::store::{self, Output};
use rand::{Rng, SeedableRng};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RUN_ID: &str = "bench-run";

fn run_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
}

struct Shape {
    models: usize,
    probes: usize,
    samples: usize,
    dim: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let (Some(mode), Some(dir)) = (args.first(), args.get(1)) else {
        eprintln!("usage: cargo bench --bench measures -- generate|measure|vendi DIR [MODELS PROBES SAMPLES DIM]");
        std::process::exit(2);
    };
    let dir = PathBuf::from(dir);
    let num = |i: usize, default: usize| args.get(i).map_or(default, |a| a.parse().expect("a number"));
    match mode.as_str() {
        "generate" => {
            generate(&dir, &Shape { models: num(2, 100), probes: num(3, 1000), samples: num(4, 5), dim: num(5, 384) })
        }
        "measure" => {
            let start = Instant::now();
            let run = RunRef::new(run_date(), RUN_ID, Embedder::Lexical.tag());
            let stats =
                hivewatch::metrics::stage::measure_run(&Output::local(dir.join("reports")), &run, pair_categories())
                    .expect("measure stage");
            println!(
                "measure stage: {} probes, {} pair rows, {} run_metrics rows in {:.2} s",
                stats.probes,
                stats.pairs,
                stats.metrics,
                start.elapsed().as_secs_f64()
            );
        }
        "vendi" => vendi(&dir),
        other => panic!("unknown mode {other}"),
    }
}

/// `[output] pair_categories` for `measure`: `HIVEWATCH_BENCH_PAIR_CATEGORIES` = `auto` (the
/// default, as a night), `always` or `never`.
fn pair_categories() -> PairCategories {
    match std::env::var("HIVEWATCH_BENCH_PAIR_CATEGORIES").as_deref() {
        Ok("always") => PairCategories::Always,
        Ok("never") => PairCategories::Never,
        Ok("auto") | Err(_) => PairCategories::Auto,
        Ok(other) => panic!("HIVEWATCH_BENCH_PAIR_CATEGORIES is auto, always or never, not {other:?}"),
    }
}

fn generate(dir: &Path, s: &Shape) {
    let start = Instant::now();
    let out = Output::local(dir.join("reports"));
    std::fs::create_dir_all(out.root()).unwrap();
    std::fs::write(
        dir.join("shape.json"),
        format!(r#"{{"models": {}, "probes": {}, "samples": {}, "dim": {}}}"#, s.models, s.probes, s.samples, s.dim),
    )
    .unwrap();
    let mut raw = std::io::BufWriter::new(std::fs::File::create(dir.join("vectors.f32")).unwrap());
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let gauss = |rng: &mut rand::rngs::StdRng| -> f32 {
        // Sum of uniforms: near-normal, cheap, reproducible.
        (0..4).map(|_| rng.random_range(-1.0f32..1.0)).sum::<f32>() * 0.5
    };
    let words =
        ["the", "model", "answer", "policy", "risk", "should", "consider", "people", "city", "water", "I", "think"];
    let mut rows: Vec<OkText> = Vec::new();
    let mut vectors: Vec<Vec<f32>> = Vec::new();
    let mut features: Vec<Features> = Vec::new();
    let lexicon = Lexicon::builtin();
    let mut categories = std::collections::HashMap::new();
    let run = RunRef::new(run_date(), RUN_ID, Embedder::Lexical.tag());
    let mut pending_batches: Vec<arrow_array::RecordBatch> = Vec::new();
    let mut all_rows: Vec<OkText> = Vec::new();
    let mut all_features: Vec<Features> = Vec::new();
    let real: Vec<String> = std::env::var_os("HIVEWATCH_BENCH_TEXTS")
        .map(|file| {
            let text = std::fs::read_to_string(file).expect("HIVEWATCH_BENCH_TEXTS is readable");
            text.lines()
                .filter_map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).ok()?["response"].as_str().map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    for p in 0..s.probes {
        let probe = format!("p{p:05}");
        categories.insert(probe.clone(), format!("c{}", p % 10));
        let families: Vec<Vec<f32>> =
            (0..s.models.div_ceil(5)).map(|_| (0..s.dim).map(|_| gauss(&mut rng)).collect()).collect();
        for m in 0..s.models {
            let offset: Vec<f32> = (0..s.dim).map(|_| 0.6 * gauss(&mut rng)).collect();
            for k in 0..s.samples {
                let v: Vec<f32> = (0..s.dim).map(|j| families[m / 5][j] + offset[j] + 0.5 * gauss(&mut rng)).collect();
                for x in &v {
                    raw.write_all(&x.to_le_bytes()).unwrap();
                }
                let text: Vec<&str> = (0..60).map(|_| words[rng.random_range(0..words.len())]).collect();
                let mut text = text.join(" ");
                if !real.is_empty() {
                    text.clone_from(&real[((p * s.models + m) * s.samples + k) % real.len()]);
                }
                let mut f = hivewatch::features::extract(&lexicon, &text);
                if (m + p) % 17 == 0 {
                    f.refusal = Refusal::Full;
                }
                rows.push(OkText {
                    endpoint: format!("fam{:02}-m{m:03}", m / 5),
                    probe_id: probe.clone(),
                    sample_index: k as i32,
                    text,
                });
                vectors.push(v);
                features.push(f);
            }
        }
        if rows.len() >= 8192 || p + 1 == s.probes {
            let embedded: Vec<EmbeddingRow> =
                rows.iter().zip(vectors.drain(..)).map(|(r, v)| EmbeddingRow::of(r.clone(), v)).collect();
            pending_batches.push(table::batch::<EmbeddingsTable>(&run, &embedded).unwrap());
            all_rows.append(&mut rows);
            all_features.append(&mut features);
        }
    }
    raw.flush().unwrap();
    let mut writer = table::writer::<EmbeddingsTable>(&out, &run).unwrap();
    for batch in &pending_batches {
        writer.write(batch).unwrap();
    }
    writer.finish().unwrap();
    let detector = format!("lexicon-{}", lexicon.version);
    let stored: Vec<FeatureRow> = all_rows
        .iter()
        .zip(&all_features)
        .map(|(r, f)| FeatureRow::of(r, &categories[&r.probe_id], (&lexicon.version, &detector), f, None))
        .collect();
    table::write::<FeaturesTable>(&out, &run, &stored).unwrap();
    write_responses(&out, &categories, &all_rows);
    println!("generated {} responses in {:.1} s", all_rows.len(), start.elapsed().as_secs_f64());
}

/// The `responses` columns the measure stage reads (it selects columns by name).
fn write_responses(out: &Output, categories: &std::collections::HashMap<String, String>, rows: &[OkText]) {
    use arrow_array::{ArrayRef, Int32Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let s = |v: Vec<&str>| -> ArrayRef { Arc::new(StringArray::from(v)) };
    let batch = RecordBatch::try_from_iter(vec![
        ("endpoint", s(rows.iter().map(|r| r.endpoint.as_str()).collect())),
        ("probe_id", s(rows.iter().map(|r| r.probe_id.as_str()).collect())),
        ("category", s(rows.iter().map(|r| categories[&r.probe_id].as_str()).collect())),
        ("sample_index", Arc::new(rows.iter().map(|r| r.sample_index).collect::<Int32Array>()) as ArrayRef),
        ("status", s(vec!["ok"; rows.len()])),
        ("response_text", s(rows.iter().map(|r| r.text.as_str()).collect())),
    ])
    .unwrap();
    let run = RunRef::new(run_date(), RUN_ID, Embedder::Lexical.tag());
    store::write_batch(&table::path::<ResponsesTable>(out, &run), batch).unwrap();
}

fn vendi(dir: &Path) {
    use hivewatch::metrics::vendi::{Order, kernel_eigenvalues, vendi_from_eigenvalues};
    let shape: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("shape.json")).unwrap()).unwrap();
    let n = |k: &str| shape[k].as_u64().unwrap() as usize;
    let (rows_per_probe, dim) = (n("models") * n("samples"), n("dim"));
    let bytes = std::fs::read(dir.join("vectors.f32")).unwrap();
    let floats: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    let probes: Vec<Vec<Vec<f32>>> =
        floats.chunks_exact(rows_per_probe * dim).map(|p| p.chunks_exact(dim).map(<[f32]>::to_vec).collect()).collect();
    let start = Instant::now();
    let scores = hivewatch::util::parallel_map(&probes, |rows| {
        let eigen = kernel_eigenvalues(&hivewatch::metrics::unit_rows(rows));
        [Order::One, Order::Q(2.0), Order::Infinity].map(|o| vendi_from_eigenvalues(&eigen, o))
    });
    let wall = start.elapsed().as_secs_f64();
    let mean_q1 = scores.iter().map(|s| s[0]).sum::<f64>() / scores.len() as f64;
    println!(
        "vendi (q = 1, 2, inf) of {} probes of {rows_per_probe} x {dim}: {wall:.2} s (mean q1 {mean_q1:.6})",
        scores.len()
    );
}
