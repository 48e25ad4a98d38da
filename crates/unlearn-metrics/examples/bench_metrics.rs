//! Benchmark (not a test): DA, k-means + NMI and MIA against numpy / scikit-learn.
//!
//! Generates synthetic arrays with a seeded `ChaCha8Rng`, writes them to a temporary
//! `.npz`, times the Rust side, then runs `tests/reference/bench_reference.py` on the
//! same file and prints both side by side with the time ratio (ours / theirs).
//!
//! ```text
//! cargo run --release -p unlearn-metrics --example bench_metrics
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use unlearn_metrics::cluster::{kmeans, nmi};
use unlearn_metrics::mia::mia_efficacy;
use unlearn_metrics::output::MiaVariant;
use unlearn_metrics::svm::SvcParams;
use unlearn_metrics::{FeatureBundle, Matrix, RetainEigen, SplitData};

const D: usize = 512;
const C: usize = 10;

fn gauss(rng: &mut ChaCha8Rng) -> f32 {
    // Box–Muller.
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

fn make_split(
    rng: &mut ChaCha8Rng,
    means: &[f32],
    n: usize,
    noise: f32,
    logit_scale: f32,
) -> SplitData {
    let mut f = Vec::with_capacity(n * D);
    let mut l = Vec::with_capacity(n * C);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let c = rng.random_range(0..C);
        for j in 0..D {
            f.push(means[c * D + j] + noise * gauss(rng));
        }
        for j in 0..C {
            let base = if j == c { logit_scale } else { 0.0 };
            l.push(base + 1.5 * gauss(rng));
        }
        y.push(c as u32);
    }
    SplitData {
        features: Matrix::new(n, D, f).expect("shape"),
        logits: Matrix::new(n, C, l).expect("shape"),
        labels: y,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let means: Vec<f32> = (0..C * D).map(|_| 0.15 * gauss(&mut rng)).collect();
    println!("generating 50,000 + 5,000 + 10,000 rows × {D} ...");
    let bundle = FeatureBundle {
        retain: make_split(&mut rng, &means, 50_000, 0.1, 5.0),
        forget: make_split(&mut rng, &means, 5_000, 0.12, 4.0),
        test: make_split(&mut rng, &means, 10_000, 0.12, 3.0),
        val: None,
        triggered: None,
        metadata: BTreeMap::new(),
    };
    let dir = std::env::temp_dir().join(format!("unlearn-metrics-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("bench.npz");
    bundle.save_npz(&path)?;

    let mut rows: Vec<(String, f64, String)> = Vec::new();

    // DA on 50,000 × 512 (all rows as the reference), probes forget and test.
    let t0 = Instant::now();
    let zr = bundle.retain.features.l2_normalized_f64();
    let zf = bundle.forget.features.l2_normalized_f64();
    let zt = bundle.test.features.l2_normalized_f64();
    let eig = RetainEigen::from_normalized(&zr, 50_000, 0)?;
    let cf = eig.curve(&zf, 4 * C)?;
    let ct = eig.curve(&zt, 4 * C)?;
    let sub = eig.subspace(&zf, C)?;
    let t_da = t0.elapsed().as_secs_f64();
    rows.push((
        "DA 50,000×512 (gram+eigh+curves+subspace)".into(),
        t_da,
        format!("DA_f={:.6} DA_t={:.6} sub={:.6}", cf[C - 1], ct[C - 1], sub),
    ));

    // k-means (10 restarts) + NMI on the 10,000 × 512 test features.
    let t0 = Instant::now();
    let km = kmeans(zt.data(), zt.rows(), D, C, 10, 0)?;
    let v = nmi(&bundle.test.labels, &km.labels)?;
    let t_km = t0.elapsed().as_secs_f64();
    rows.push((
        "k-means(10 inits)+NMI 10,000×512".into(),
        t_km,
        format!("NMI={v:.4} inertia={:.3}", km.inertia),
    ));

    // MIA (confidence): SVC on 10,000 members + 10,000 non-members, predict 5,000.
    let t0 = Instant::now();
    let eff = mia_efficacy(
        &bundle.retain,
        &bundle.test,
        &bundle.forget,
        MiaVariant::Confidence,
        10_000,
        &SvcParams::default(),
    )?;
    let t_mia = t0.elapsed().as_secs_f64();
    rows.push((
        "MIA confidence SVC 2×10,000".into(),
        t_mia,
        format!("efficacy={eff:.2}%"),
    ));

    // The Python side.
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference/bench_reference.py");
    let py = Command::new("python3").arg(&script).arg(&path).output();
    let theirs: Vec<(f64, String)> = match py {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, '\t');
                let tag = parts.next()?;
                if tag != "RESULT" {
                    return None;
                }
                let t: f64 = parts.next()?.parse().ok()?;
                Some((t, parts.next().unwrap_or("").to_string()))
            })
            .collect(),
        Ok(out) => {
            eprintln!("python failed: {}", String::from_utf8_lossy(&out.stderr));
            Vec::new()
        }
        Err(e) => {
            eprintln!("could not run python3: {e}");
            Vec::new()
        }
    };
    let _ = std::fs::remove_dir_all(&dir);

    println!();
    println!(
        "{:<44} {:>10} {:>12} {:>8}   values (ours | theirs)",
        "task", "ours [s]", "theirs [s]", "ratio"
    );
    println!("{}", "-".repeat(120));
    for (i, (name, t, val)) in rows.iter().enumerate() {
        match theirs.get(i) {
            Some((tt, tv)) => println!(
                "{name:<44} {t:>10.3} {tt:>12.3} {:>8.2}   {val} | {tv}",
                t / tt
            ),
            None => println!("{name:<44} {t:>10.3} {:>12} {:>8}   {val}", "-", "-"),
        }
    }
    Ok(())
}
