//! The report's figure data ([`unlearn_metrics::figures`]) against numpy / scikit-learn.
//!
//! `tests/fixtures/figures_expected.json` comes from `tests/reference/figures_reference.py`
//! (numpy 2.4, scikit-learn 1.9) on the committed `overlap` and `offmanifold` fixtures.

use std::path::PathBuf;

use serde_json::Value;
use unlearn_metrics::figures::{pca2, spectrum_energy, PlotConfig};
use unlearn_metrics::FeatureBundle;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn vecf(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what} length");
    for (j, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() < tol, "{what}[{j}]: {g} vs {w}");
    }
}

#[test]
fn spectrum_energies_and_pca_match_numpy_and_sklearn() {
    let text = std::fs::read_to_string(fixtures().join("figures_expected.json")).unwrap();
    let exp: Value = serde_json::from_str(&text).unwrap();
    // Every retain row enters M_r and the PCA fit (the fixtures have < 10,000), and every
    // point is kept, in file order, so that rows line up with the script's first 50.
    let cfg = PlotConfig {
        max_points: 100_000,
        ..Default::default()
    };
    for name in ["overlap", "offmanifold"] {
        let b = FeatureBundle::load(fixtures().join(format!("{name}.npz"))).unwrap();
        let e = &exp[name];
        // python: w, v = eigh(Zr.T @ Zr / n) descending; w / w.sum();
        //         e = mean((Z @ v)**2, 0); e / e.sum()
        // Same f32-rounded inputs in f64 on both sides; the script asserts that no two
        // eigenvalues are within 1e-9, so each direction is defined up to sign and the
        // squared projections agree to rounding: 1e-8 leaves orders of margin.
        let s = spectrum_energy(&b, &cfg).unwrap();
        let es = &e["spectrum"];
        close(&s.eigenvalues, &vecf(&es["eigenvalues"]), 1e-10, name);
        close(&s.forget, &vecf(&es["forget"]), 1e-8, name);
        close(&s.test, &vecf(&es["test"]), 1e-8, name);
        close(&s.retain, &vecf(&es["retain"]), 1e-8, name);

        // python: PCA(n_components=2, svd_solver="full").fit(Zr): explained_variance_ratio_
        // and |transform(Z[:50])| (component signs are arbitrary). sklearn goes through an
        // SVD of the centred data, we through eigh of the covariance: 1e-8 on ratios and
        // 1e-6 on coordinates (norms ≤ 2) is rounding only.
        let p = pca2(&b, &cfg).unwrap();
        let ep = &e["pca2"];
        close(&p.explained, &vecf(&ep["explained"]), 1e-8, name);
        for (set, got) in [("forget_abs", &p.forget), ("retain_abs", &p.retain)] {
            let want = ep[set].as_array().unwrap();
            for (i, w) in want.iter().enumerate() {
                let w = vecf(w);
                let g = [f64::from(got[i][0].abs()), f64::from(got[i][1].abs())];
                // f32 storage of the coordinates: relative 1e-6.
                close(&g, &w, 1e-6, &format!("{name} {set} row {i}"));
            }
        }
    }
}
