//! LP — linear probing with L2-regularised logistic regression.
//!
//! The model and objective are scikit-learn's `LogisticRegression()` defaults
//! (`C = 1`, L2 on the weights but not the intercept, `fit_intercept=True`):
//!
//! * three or more classes: multinomial softmax with a full `K × d` weight matrix,
//!   minimising `C · Σ_i CE_i + ½‖W‖_F²`;
//! * two classes: the binomial model (one weight vector `w`, `coef_` of shape
//!   `1 × d`), minimising `C · Σ_i log(1 + exp(−s_i (w·x_i + b))) + ½‖w‖²`.
//!
//! Only classes present in the fitting labels become outputs (as `classes_`).
//! The optimiser is L-BFGS (memory 10, backtracking Armijo line search) on the
//! objective divided by `C·n`, run until `‖∇‖_∞ ≤ tol` (default `1e-8`).

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, Result};
use crate::linalg;
use crate::streams::{stream, Purpose};

/// Hyper-parameters of [`LogisticRegression::fit`].
#[derive(Debug, Clone, PartialEq)]
pub struct LogRegParams {
    /// Inverse regularisation strength (default 1.0).
    pub c: f64,
    /// Gradient tolerance `‖∇f‖_∞` on the `1/(C·n)`-scaled objective (default `1e-8`).
    pub tol: f64,
    /// L-BFGS iteration cap (default 10,000).
    pub max_iter: usize,
}

impl Default for LogRegParams {
    fn default() -> Self {
        Self {
            c: 1.0,
            tol: 1e-8,
            max_iter: 10_000,
        }
    }
}

/// A fitted logistic-regression classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticRegression {
    /// Feature dimension.
    pub d: usize,
    /// The class labels the outputs stand for (sorted), as `classes_`.
    pub classes: Vec<u32>,
    /// Weights, row-major `outputs × d` where outputs = 1 for two classes, else `classes.len()`.
    pub coef: Vec<f64>,
    /// Intercepts, one per output.
    pub intercept: Vec<f64>,
    /// L-BFGS iterations run.
    pub iterations: usize,
    /// Whether the gradient tolerance was reached.
    pub converged: bool,
}

/// LP accuracies in percent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LpReport {
    /// Probe accuracy on the forget features (LP_f).
    pub forget: f64,
    /// Probe accuracy on the held-out half of the test set (LP_t).
    pub test: f64,
}

/// Stratified seeded split of sample indices into (fit, eval).
///
/// Each class's indices are shuffled with the [`Purpose::ProbeSplit`] stream of `seed`
/// (classes in ascending order, one stream) and the first `ceil(n_c · fit_fraction)`
/// go to the fit part. Both outputs are sorted.
pub fn stratified_split(labels: &[u32], fit_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut by_class: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
    for (i, &y) in labels.iter().enumerate() {
        by_class.entry(y).or_default().push(i);
    }
    let mut rng = stream(seed, Purpose::ProbeSplit);
    let (mut fit, mut eval) = (Vec::new(), Vec::new());
    for (_, mut idx) in by_class {
        idx.shuffle(&mut rng);
        let n_fit = ((idx.len() as f64) * fit_fraction).ceil() as usize;
        let n_fit = n_fit.min(idx.len());
        fit.extend_from_slice(&idx[..n_fit]);
        eval.extend_from_slice(&idx[n_fit..]);
    }
    fit.sort_unstable();
    eval.sort_unstable();
    (fit, eval)
}

struct Problem<'a> {
    x: &'a [f64],
    n: usize,
    d: usize,
    /// Output index of each sample.
    y: Vec<usize>,
    /// 1 for binomial, K for multinomial.
    outputs: usize,
    binary: bool,
    /// `1 / (C n)`.
    reg: f64,
}

impl Problem<'_> {
    /// Parameters: `outputs × d` weights then `outputs` intercepts.
    fn value_grad(&self, theta: &[f64], grad: &mut [f64]) -> Result<f64> {
        let (n, d, k) = (self.n, self.d, self.outputs);
        let w = &theta[..k * d];
        let b = &theta[k * d..];
        let mut z = linalg::matmul_bt(self.x, n, d, w, k)?; // n × k
        let mut loss = 0.0;
        // Overwrite z with dLoss/dz.
        for (i, zi) in z.chunks_exact_mut(k).enumerate() {
            for (v, bj) in zi.iter_mut().zip(b) {
                *v += bj;
            }
            if self.binary {
                let s = if self.y[i] == 1 { 1.0 } else { -1.0 };
                let m = s * zi[0];
                // log(1 + exp(−m)), stably.
                loss += if m > 0.0 {
                    (-m).exp().ln_1p()
                } else {
                    -m + m.exp().ln_1p()
                };
                // d/dz = −s · σ(−m)
                let sig = 1.0 / (1.0 + m.exp());
                zi[0] = -s * sig;
            } else {
                let mx = zi.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v));
                let mut s = 0.0;
                for v in zi.iter_mut() {
                    *v = (*v - mx).exp();
                    s += *v;
                }
                let yi = self.y[i];
                loss += s.ln() - (zi[yi].ln());
                for v in zi.iter_mut() {
                    *v /= s;
                }
                zi[yi] -= 1.0;
            }
        }
        let inv_n = 1.0 / n as f64;
        // grad_W = dZᵀ X / n + reg W ; grad_b = Σ dZ / n.
        let mut dzt = vec![0.0f64; k * n];
        for (i, zi) in z.chunks_exact(k).enumerate() {
            for (j, &v) in zi.iter().enumerate() {
                dzt[j * n + i] = v;
            }
        }
        let gw = linalg::matmul(&dzt, k, n, self.x, d)?;
        let mut reg_term = 0.0;
        for t in 0..k * d {
            grad[t] = gw[t] * inv_n + self.reg * w[t];
            reg_term += w[t] * w[t];
        }
        for j in 0..k {
            grad[k * d + j] = dzt[j * n..(j + 1) * n].iter().sum::<f64>() * inv_n;
        }
        Ok(loss * inv_n + 0.5 * self.reg * reg_term)
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn inf_norm(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// Minimises `f` with L-BFGS from `x`; returns (iterations, converged).
fn lbfgs(
    x: &mut [f64],
    tol: f64,
    max_iter: usize,
    mut f: impl FnMut(&[f64], &mut [f64]) -> Result<f64>,
) -> Result<(usize, bool)> {
    const M: usize = 10;
    let p = x.len();
    let mut g = vec![0.0; p];
    let mut fx = f(x, &mut g)?;
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut rho_hist: Vec<f64> = Vec::new();
    let mut x_new = vec![0.0; p];
    let mut g_new = vec![0.0; p];
    for it in 0..max_iter {
        if inf_norm(&g) <= tol {
            return Ok((it, true));
        }
        // Two-loop recursion: dir = −H g.
        let mut q = g.clone();
        let mut alphas = vec![0.0; s_hist.len()];
        for i in (0..s_hist.len()).rev() {
            alphas[i] = rho_hist[i] * dot(&s_hist[i], &q);
            for (qv, yv) in q.iter_mut().zip(&y_hist[i]) {
                *qv -= alphas[i] * yv;
            }
        }
        let gamma = match (s_hist.last(), y_hist.last()) {
            (Some(s), Some(y)) => dot(s, y) / dot(y, y),
            _ => 1.0 / inf_norm(&g).max(1.0),
        };
        for v in q.iter_mut() {
            *v *= gamma;
        }
        for i in 0..s_hist.len() {
            let beta = rho_hist[i] * dot(&y_hist[i], &q);
            for (qv, sv) in q.iter_mut().zip(&s_hist[i]) {
                *qv += (alphas[i] - beta) * sv;
            }
        }
        let mut dir: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dot(&g, &dir);
        if slope >= 0.0 {
            // Not a descent direction (should not happen): restart with steepest descent.
            s_hist.clear();
            y_hist.clear();
            rho_hist.clear();
            dir = g.iter().map(|v| -v).collect();
            slope = dot(&g, &dir);
        }
        // Backtracking Armijo line search.
        let mut step = 1.0;
        let mut accepted = false;
        let mut f_new = fx;
        for _ in 0..60 {
            for ((xn, xv), dv) in x_new.iter_mut().zip(x.iter()).zip(&dir) {
                *xn = xv + step * dv;
            }
            f_new = f(&x_new, &mut g_new)?;
            if f_new.is_finite() && f_new <= fx + 1e-4 * step * slope {
                accepted = true;
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            // No further decrease representable in f64: stop here.
            return Ok((it, inf_norm(&g) <= tol));
        }
        let s: Vec<f64> = x_new.iter().zip(x.iter()).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        x.copy_from_slice(&x_new);
        g.copy_from_slice(&g_new);
        let _ = f_new;
        fx = f_new;
        if sy > 1e-16 * dot(&y, &y).max(f64::MIN_POSITIVE) {
            if s_hist.len() == M {
                s_hist.remove(0);
                y_hist.remove(0);
                rho_hist.remove(0);
            }
            rho_hist.push(1.0 / sy);
            s_hist.push(s);
            y_hist.push(y);
        }
    }
    Ok((max_iter, inf_norm(&g) <= tol))
}

impl LogisticRegression {
    /// Fits on row-major `x` (`n × d`) with integer labels `y`.
    ///
    /// Errors: shape mismatches, non-finite values, fewer than two distinct labels.
    pub fn fit(x: &[f64], n: usize, d: usize, y: &[u32], params: &LogRegParams) -> Result<Self> {
        if x.len() != n * d {
            return Err(MetricsError::LengthMismatch {
                what: "logistic regression inputs".into(),
                expected: n * d,
                found: x.len(),
            });
        }
        if y.len() != n {
            return Err(MetricsError::LengthMismatch {
                what: "logistic regression labels vs rows".into(),
                expected: n,
                found: y.len(),
            });
        }
        if let Some(index) = x.iter().position(|v| !v.is_finite()) {
            return Err(MetricsError::NonFinite {
                array: "logistic regression inputs".into(),
                index,
            });
        }
        if !(params.c > 0.0 && params.c.is_finite()) {
            return Err(MetricsError::InvalidParameter {
                name: "C".into(),
                value: params.c.to_string(),
                reason: "must be positive and finite".into(),
            });
        }
        let mut classes: Vec<u32> = y.to_vec();
        classes.sort_unstable();
        classes.dedup();
        if classes.len() < 2 {
            return Err(MetricsError::TooFewSamples {
                what: "distinct classes in the probe-fit set".into(),
                needed: 2,
                found: classes.len(),
            });
        }
        let binary = classes.len() == 2;
        let outputs = if binary { 1 } else { classes.len() };
        let yi: Vec<usize> = y
            .iter()
            .map(|v| classes.binary_search(v).unwrap_or(0))
            .collect();
        let prob = Problem {
            x,
            n,
            d,
            y: yi,
            outputs,
            binary,
            reg: 1.0 / (params.c * n as f64),
        };
        let mut theta = vec![0.0f64; outputs * (d + 1)];
        let (iterations, converged) = lbfgs(&mut theta, params.tol, params.max_iter, |t, g| {
            prob.value_grad(t, g)
        })?;
        let intercept = theta[outputs * d..].to_vec();
        theta.truncate(outputs * d);
        Ok(Self {
            d,
            classes,
            coef: theta,
            intercept,
            iterations,
            converged,
        })
    }

    /// Decision scores, row-major `n × outputs`.
    pub fn decision_function(&self, x: &[f64]) -> Result<Vec<f64>> {
        let d = self.d;
        if d == 0 || !x.len().is_multiple_of(d) {
            return Err(MetricsError::WidthMismatch {
                what: "logistic regression prediction input".into(),
                expected: d,
                found: if d == 0 { x.len() } else { x.len() % d },
            });
        }
        let n = x.len() / d;
        let k = self.intercept.len();
        let mut z = linalg::matmul_bt(x, n, d, &self.coef, k)?;
        for zi in z.chunks_exact_mut(k) {
            for (v, b) in zi.iter_mut().zip(&self.intercept) {
                *v += b;
            }
        }
        Ok(z)
    }

    /// Predicted labels (first maximum wins, as numpy's `argmax`).
    pub fn predict(&self, x: &[f64]) -> Result<Vec<u32>> {
        let z = self.decision_function(x)?;
        let k = self.intercept.len();
        Ok(z.chunks_exact(k)
            .map(|r| {
                if k == 1 {
                    self.classes[usize::from(r[0] > 0.0)]
                } else {
                    let mut best = 0;
                    for j in 1..k {
                        if r[j] > r[best] {
                            best = j;
                        }
                    }
                    self.classes[best]
                }
            })
            .collect())
    }

    /// Accuracy in percent on `(x, y)`.
    pub fn accuracy(&self, x: &[f64], y: &[u32]) -> Result<f64> {
        let p = self.predict(x)?;
        if p.len() != y.len() {
            return Err(MetricsError::LengthMismatch {
                what: "logistic regression accuracy labels".into(),
                expected: p.len(),
                found: y.len(),
            });
        }
        if y.is_empty() {
            return Err(MetricsError::TooFewSamples {
                what: "probe accuracy set".into(),
                needed: 1,
                found: 0,
            });
        }
        let hit = p.iter().zip(y).filter(|(a, b)| a == b).count();
        Ok(100.0 * hit as f64 / y.len() as f64)
    }
}
