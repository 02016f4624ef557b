//! The measures against independent reference implementations, run in the test venv.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use hivewatch::metrics::unit_rows;
use hivewatch::metrics::vendi::{Order, vendi_score};
use rand::{Rng, SeedableRng};

fn random_rows(n: usize, d: usize, seed: u64, distinct: usize) -> Vec<Vec<f64>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let base: Vec<Vec<f32>> = (0..distinct).map(|_| (0..d).map(|_| rng.random_range(-1.0f32..1.0)).collect()).collect();
    // Repeats make the kernel rank-deficient, as identical answers do.
    unit_rows(&(0..n).map(|i| base[i % distinct].clone()).collect::<Vec<_>>())
}

/// Runs a reference script of tests/py in the test venv with `input` on stdin; its JSON list.
fn reference(script: &str, package: &str, input: &serde_json::Value) -> Vec<serde_json::Value> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py").join(script);
    let mut child = Command::new(common::python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start Python ({e}): run the tests with scripts/test.sh, which installs {package}")
        });
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{package} failed (scripts/test.sh installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// vendi-score's `score_K` and `score_dual` on the same matrices, orders 1, 2 and infinity,
/// agree with ours to 1e-9: n < d, n > d, rank-deficient, and a single item.
#[test]
fn vendi_matches_the_vendi_score_package() {
    let cases = [
        random_rows(12, 30, 1, 12),
        random_rows(60, 16, 2, 60),
        random_rows(40, 24, 3, 5),
        random_rows(1, 8, 4, 1),
        random_rows(200, 384, 5, 150),
    ];
    let input = serde_json::json!({ "cases": cases.iter().map(|x| serde_json::json!({"x": x})).collect::<Vec<_>>() });
    let reference = reference("vendi_reference.py", "vendi-score", &input);
    for (i, (x, r)) in cases.iter().zip(&reference).enumerate() {
        for (j, order) in [Order::One, Order::Q(2.0), Order::Infinity].into_iter().enumerate() {
            let ours = vendi_score(x, order);
            for kind in ["k", "dual"] {
                let theirs = r[kind][j].as_f64().unwrap();
                assert!((ours - theirs).abs() < 1e-9, "case {i} {order:?} {kind}: ours {ours}, vendi-score {theirs}");
            }
        }
    }
}

/// Mann-Kendall and Sen's slope agree with `pymannkendall.original_test` to 1e-9: rising,
/// falling, flat-with-noise, tied values, and a long series.
#[test]
fn mann_kendall_matches_pymannkendall() {
    use hivewatch::trend::stats::mann_kendall;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut noisy = |n: usize, slope: f64| -> Vec<f64> {
        (0..n).map(|i| slope * i as f64 + rng.random_range(-1.0..1.0)).collect::<Vec<f64>>()
    };
    let series: Vec<Vec<f64>> = vec![
        noisy(14, 0.2),
        noisy(14, -0.15),
        noisy(30, 0.0),
        vec![1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 1.0, 4.0, 4.0, 5.0, 3.0, 3.0],
        vec![0.5, 0.5, 0.4, 0.5, 0.3, 0.3, 0.3, 0.2],
        noisy(120, 0.01),
    ];
    let input = serde_json::json!({ "series": series });
    let reference = reference("mk_reference.py", "pymannkendall", &input);
    for (x, r) in series.iter().zip(&reference) {
        let ours = mann_kendall(x).unwrap();
        for (name, value) in [
            ("s", ours.s),
            ("var_s", ours.var_s),
            ("z", ours.z),
            ("p", ours.p),
            ("tau", ours.tau),
            ("slope", ours.slope),
            ("intercept", ours.intercept),
        ] {
            let want = r[name].as_f64().unwrap();
            assert!(
                (value - want).abs() <= 1e-9 * want.abs().max(1.0),
                "{name}: ours {value}, pymannkendall {want} on {x:?}"
            );
        }
    }
}
