//! Embedding throughput, in-process (no JSON, no I/O in the timed part).
//!
//!     cargo bench --bench embed -- TEXTS.jsonl [MODEL_DIR] [VECTORS_OUT.jsonl]
//!
//! TEXTS.jsonl holds {"text": ...} lines. Prints texts/s for `lexical` (over at least 50,000
//! texts, the file repeated) and, given MODEL_DIR, for `minilm` over the file once (on AMX tiles
//! where the CPU has them, then again on gemm's f32 kernels alone), whose first vectors
//! go to VECTORS_OUT.jsonl for comparison with sentence-transformers. benches/embed_throughput.sh
//! runs it side by side with sentence-transformers.

use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Instant;

use hivewatch::embed::minilm::{MatmulBackend, MiniLm};
use hivewatch::embed::{Embedder, lexical};

// The allocator the hivewatch binary uses (see src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let Some(path) = args.first() else {
        eprintln!("usage: cargo bench --bench embed -- TEXTS.jsonl [MODEL_DIR] [VECTORS_OUT.jsonl]");
        std::process::exit(2);
    };
    let texts: Vec<String> = std::io::BufReader::new(std::fs::File::open(path).expect("texts file"))
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(&l.unwrap()).unwrap()["text"].as_str().unwrap().to_owned())
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let chars: usize = texts.iter().map(|t| t.len()).sum();
    println!("texts: {} (mean {} bytes)", texts.len(), chars / texts.len().max(1));

    if std::env::var_os("HIVEWATCH_BENCH_SKIP_LEXICAL").is_none() {
        lexical_throughput(&texts, &refs);
    }

    if let Some(dir) = args.get(1).filter(|_| std::env::var_os("HIVEWATCH_BENCH_SKIP_MINILM").is_none()) {
        // As a run uses it (AMX tiles where the CPU has them), then gemm's f32 kernels alone.
        let mut vectors = None;
        for backend in [MatmulBackend::Auto, MatmulBackend::Gemm] {
            let t0 = Instant::now();
            let model = MiniLm::load_with(Path::new(dir), backend).expect("model");
            let load = t0.elapsed().as_secs_f64();
            let start = Instant::now();
            let got = model.embed_all(&refs).expect("embedding");
            let secs = start.elapsed().as_secs_f64();
            println!(
                "minilm ({}): {} texts in {secs:.2} s = {:.1} texts/s (model load {load:.2} s, not counted)",
                if model.uses_tiles() { "AMX tiles" } else { "gemm f32" },
                texts.len(),
                texts.len() as f64 / secs
            );
            vectors.get_or_insert(got);
            if !model.uses_tiles() {
                break; // no AMX here: the first pass already used gemm
            }
        }
        if let Some(out) = args.get(2) {
            let mut f = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
            for v in vectors.unwrap() {
                serde_json::to_writer(&mut f, &v).unwrap();
                f.write_all(b"\n").unwrap();
            }
        }
    }
}

fn lexical_throughput(texts: &[String], refs: &[&str]) {
    let reps = 50_000usize.div_ceil(texts.len());
    let start = Instant::now();
    let mut checksum = 0f32;
    for _ in 0..reps {
        // As one core of a run gets them: many texts a call.
        for chunk in refs.chunks(256) {
            checksum += lexical::embed_batch(chunk)[0][0];
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "lexical: {} texts in {secs:.2} s = {:.0} texts/s (one thread; checksum {checksum:.3})",
        reps * texts.len(),
        (reps * texts.len()) as f64 / secs
    );
    let lexical = Embedder::build(&hivewatch::config::EmbedConfig::Lexical, None).expect("lexical");
    let start = Instant::now();
    for _ in 0..reps {
        checksum += lexical.embed_blocking(refs).expect("lexical")[0][0];
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "lexical: {} texts in {secs:.2} s = {:.0} texts/s (all cores, as a run uses it; checksum {checksum:.3})",
        reps * texts.len(),
        (reps * texts.len()) as f64 / secs
    );
}
