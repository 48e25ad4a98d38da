//! Clustering quality: k-means, NMI and pairwise F1.
//!
//! * k-means: k-means++ seeding in scikit-learn's greedy form (`2 + ⌊ln k⌋`
//!   candidates per step, the one lowering the potential most is kept), then
//!   Lloyd iterations until the assignment stops changing (or the centre shift
//!   falls below scikit-learn's tolerance, `1e-4 ×` the mean feature variance;
//!   at most 300 iterations); empty clusters are re-seeded with the points
//!   farthest from their centres. `restarts` seeded runs, lowest inertia wins.
//! * NMI: mutual information over the arithmetic mean of the two entropies
//!   (scikit-learn's `normalized_mutual_info_score` default).
//! * Pairwise F1: from the contingency table `n_ij`: `TP = Σ C(n_ij, 2)`,
//!   predicted-positive pairs `Σ_j C(b_j, 2)`, actual-positive pairs `Σ_i C(a_i, 2)`.

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::error::{MetricsError, Result};
use crate::linalg;
use crate::streams::{stream, Purpose};

/// Result of [`kmeans`].
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansResult {
    /// Cluster of each sample.
    pub labels: Vec<u32>,
    /// Centres, row-major `k × d`.
    pub centers: Vec<f64>,
    /// Sum of squared distances to the assigned centres.
    pub inertia: f64,
    /// Lloyd iterations of the winning run.
    pub iterations: usize,
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn kmeans_pp(x: &[f64], n: usize, d: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let trials = 2 + (k as f64).ln().floor() as usize;
    let mut centers = Vec::with_capacity(k * d);
    let first = rng.random_range(0..n);
    centers.extend_from_slice(&x[first * d..(first + 1) * d]);
    let mut closest: Vec<f64> = x
        .par_chunks_exact(d)
        .map(|r| sq_dist(r, &centers[..d]))
        .collect();
    let mut pot: f64 = closest.iter().sum();
    for _ in 1..k {
        let mut cum = Vec::with_capacity(n);
        let mut acc = 0.0;
        for v in &closest {
            acc += v;
            cum.push(acc);
        }
        let mut best: Option<(f64, usize, Vec<f64>)> = None;
        for _ in 0..trials {
            let r = rng.random::<f64>() * pot;
            let cand = cum.partition_point(|&c| c < r).min(n - 1);
            let c = &x[cand * d..(cand + 1) * d];
            let dist: Vec<f64> = x
                .par_chunks_exact(d)
                .zip(closest.par_iter())
                .map(|(row, &old)| sq_dist(row, c).min(old))
                .collect();
            let p: f64 = dist.iter().sum();
            if best.as_ref().is_none_or(|(bp, _, _)| p < *bp) {
                best = Some((p, cand, dist));
            }
        }
        if let Some((p, cand, dist)) = best {
            pot = p;
            closest = dist;
            centers.extend_from_slice(&x[cand * d..(cand + 1) * d]);
        }
    }
    centers
}

/// Assigns each row to its nearest centre; returns (labels, squared distances).
fn assign(
    x: &[f64],
    sq: &[f64],
    n: usize,
    d: usize,
    centers: &[f64],
    k: usize,
) -> Result<(Vec<u32>, Vec<f64>)> {
    let dots = linalg::matmul_bt(x, n, d, centers, k)?;
    let csq: Vec<f64> = centers
        .chunks_exact(d)
        .map(|c| c.iter().map(|v| v * v).sum())
        .collect();
    Ok(dots
        .par_chunks_exact(k)
        .zip(sq.par_iter())
        .map(|(row, &xs)| {
            let mut best = 0usize;
            let mut bd = f64::INFINITY;
            for (j, (&dt, &cs)) in row.iter().zip(&csq).enumerate() {
                let v = cs - 2.0 * dt;
                if v < bd {
                    bd = v;
                    best = j;
                }
            }
            (best as u32, (bd + xs).max(0.0))
        })
        .unzip())
}

fn lloyd(
    x: &[f64],
    sq: &[f64],
    n: usize,
    d: usize,
    k: usize,
    mut centers: Vec<f64>,
    tol: f64,
) -> Result<KMeansResult> {
    let mut labels: Vec<u32> = Vec::new();
    let mut iterations = 0;
    for it in 0..300 {
        iterations = it + 1;
        let (new_labels, dist) = assign(x, sq, n, d, &centers, k)?;
        let changed = labels != new_labels;
        labels = new_labels;
        // New centres (sequential sums: deterministic).
        let mut sums = vec![0.0f64; k * d];
        let mut counts = vec![0usize; k];
        for (row, &l) in x.chunks_exact(d).zip(&labels) {
            let l = l as usize;
            counts[l] += 1;
            for (s, v) in sums[l * d..(l + 1) * d].iter_mut().zip(row) {
                *s += v;
            }
        }
        // Empty clusters take the farthest points.
        if counts.contains(&0) {
            let mut far: Vec<usize> = (0..n).collect();
            far.sort_by(|&a, &b| dist[b].total_cmp(&dist[a]));
            let mut next = 0;
            for j in 0..k {
                if counts[j] == 0 && next < n {
                    let p = far[next];
                    next += 1;
                    let old = labels[p] as usize;
                    counts[old] = counts[old].saturating_sub(1);
                    for t in 0..d {
                        sums[old * d + t] -= x[p * d + t];
                        sums[j * d + t] = x[p * d + t];
                    }
                    counts[j] = 1;
                    labels[p] = j as u32;
                }
            }
        }
        let mut shift = 0.0;
        for j in 0..k {
            if counts[j] == 0 {
                continue;
            }
            let inv = 1.0 / counts[j] as f64;
            for t in 0..d {
                let nv = sums[j * d + t] * inv;
                shift += (nv - centers[j * d + t]).powi(2);
                centers[j * d + t] = nv;
            }
        }
        if !changed || shift <= tol {
            break;
        }
    }
    // Final assignment against the final centres (as scikit-learn does).
    let (labels, dist) = assign(x, sq, n, d, &centers, k)?;
    Ok(KMeansResult {
        labels,
        centers,
        inertia: dist.iter().sum(),
        iterations,
    })
}

/// k-means with k-means++ seeding and `restarts` seeded runs (best inertia).
///
/// `x` is row-major `n × d`. Errors when `n < k`, `k == 0` or values are not finite.
pub fn kmeans(
    x: &[f64],
    n: usize,
    d: usize,
    k: usize,
    restarts: usize,
    seed: u64,
) -> Result<KMeansResult> {
    if x.len() != n * d {
        return Err(MetricsError::LengthMismatch {
            what: "k-means inputs".into(),
            expected: n * d,
            found: x.len(),
        });
    }
    if k == 0 || d == 0 {
        return Err(MetricsError::InvalidParameter {
            name: if k == 0 { "k".into() } else { "d".into() },
            value: "0".into(),
            reason: "k-means needs k ≥ 1 and d ≥ 1".into(),
        });
    }
    if n < k {
        return Err(MetricsError::TooFewSamples {
            what: "k-means clustering set (needs at least one sample per cluster)".into(),
            needed: k,
            found: n,
        });
    }
    if let Some(index) = x.iter().position(|v| !v.is_finite()) {
        return Err(MetricsError::NonFinite {
            array: "k-means inputs".into(),
            index,
        });
    }
    // scikit-learn's tolerance: tol × mean per-feature variance.
    let mut mean = vec![0.0; d];
    for r in x.chunks_exact(d) {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += v;
        }
    }
    for m in &mut mean {
        *m /= n as f64;
    }
    let mut var = 0.0;
    for r in x.chunks_exact(d) {
        for (m, v) in mean.iter().zip(r) {
            var += (v - m) * (v - m);
        }
    }
    let tol = 1e-4 * var / (n * d) as f64;
    let sq: Vec<f64> = x
        .chunks_exact(d)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect();
    let mut rng = stream(seed, Purpose::KMeans);
    let mut best: Option<KMeansResult> = None;
    for _ in 0..restarts.max(1) {
        let init = kmeans_pp(x, n, d, k, &mut rng);
        let r = lloyd(x, &sq, n, d, k, init, tol)?;
        if best.as_ref().is_none_or(|b| r.inertia < b.inertia) {
            best = Some(r);
        }
    }
    best.ok_or_else(|| MetricsError::Numerical {
        what: "k-means".into(),
        reason: "no run completed".into(),
    })
}

/// Contingency table, row sums and column sums of two labelings.
type Contingency = (
    BTreeMap<(u32, u32), u64>,
    BTreeMap<u32, u64>,
    BTreeMap<u32, u64>,
);

/// Contingency table of two labelings: (table, row sums, column sums).
fn contingency(a: &[u32], b: &[u32]) -> Result<Contingency> {
    if a.len() != b.len() {
        return Err(MetricsError::LengthMismatch {
            what: "labelings compared (true vs predicted)".into(),
            expected: a.len(),
            found: b.len(),
        });
    }
    let mut t = BTreeMap::new();
    let mut ra = BTreeMap::new();
    let mut rb = BTreeMap::new();
    for (&x, &y) in a.iter().zip(b) {
        *t.entry((x, y)).or_insert(0) += 1;
        *ra.entry(x).or_insert(0) += 1;
        *rb.entry(y).or_insert(0) += 1;
    }
    Ok((t, ra, rb))
}

fn entropy_counts<'a>(counts: impl Iterator<Item = &'a u64>, n: f64) -> f64 {
    counts
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.ln()
        })
        .sum()
}

/// Normalised mutual information with arithmetic-mean normalisation, in [0, 1].
///
/// As scikit-learn: 1.0 when both labelings have a single (identical) cluster,
/// 0.0 when the mutual information is 0.
pub fn nmi(labels_true: &[u32], labels_pred: &[u32]) -> Result<f64> {
    let (t, ra, rb) = contingency(labels_true, labels_pred)?;
    let n = labels_true.len();
    if n == 0 {
        return Err(MetricsError::TooFewSamples {
            what: "NMI samples".into(),
            needed: 1,
            found: 0,
        });
    }
    if ra.len() == 1 && rb.len() == 1 {
        return Ok(1.0);
    }
    let nf = n as f64;
    let mut mi = 0.0;
    for (&(x, y), &c) in &t {
        let (a, b) = (ra[&x] as f64, rb[&y] as f64);
        let c = c as f64;
        mi += c / nf * ((c * nf) / (a * b)).ln();
    }
    let mi = mi.max(0.0);
    if mi == 0.0 {
        return Ok(0.0);
    }
    let h = 0.5 * (entropy_counts(ra.values(), nf) + entropy_counts(rb.values(), nf));
    Ok(mi / h)
}

fn pairs(c: u64) -> f64 {
    (c as f64) * (c.saturating_sub(1) as f64) / 2.0
}

/// Pairwise F1 in [0, 1] from the contingency table (no pair enumeration).
///
/// Precision = same-label pairs among same-cluster pairs, recall = same-cluster
/// pairs among same-label pairs; 0 when either has no pairs.
pub fn pairwise_f1(labels_true: &[u32], labels_pred: &[u32]) -> Result<f64> {
    let (t, ra, rb) = contingency(labels_true, labels_pred)?;
    let tp: f64 = t.values().map(|&c| pairs(c)).sum();
    let pred_pos: f64 = rb.values().map(|&c| pairs(c)).sum();
    let true_pos: f64 = ra.values().map(|&c| pairs(c)).sum();
    if tp == 0.0 || pred_pos == 0.0 || true_pos == 0.0 {
        return Ok(0.0);
    }
    let p = tp / pred_pos;
    let r = tp / true_pos;
    Ok(2.0 * p * r / (p + r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f1_by_hand() {
        // labels 0,0,1,1 ; clusters 0,0,0,1 : TP = 1 (pair 01), pred pairs = 3, true pairs = 2.
        let f = pairwise_f1(&[0, 0, 1, 1], &[0, 0, 0, 1]).unwrap();
        let (p, r) = (1.0 / 3.0, 0.5);
        assert!((f - 2.0 * p * r / (p + r)).abs() < 1e-12);
        assert!((nmi(&[0, 0, 1, 1], &[1, 1, 0, 0]).unwrap() - 1.0).abs() < 1e-12);
        assert!(nmi(&[0, 1], &[0]).is_err());
    }

    #[test]
    fn kmeans_two_blobs() {
        let mut x = Vec::new();
        for i in 0..20 {
            let o = if i < 10 { 0.0 } else { 10.0 };
            x.extend_from_slice(&[o + (i % 3) as f64 * 0.1, o - (i % 2) as f64 * 0.1]);
        }
        let r = kmeans(&x, 20, 2, 2, 3, 0).unwrap();
        assert!(r.labels[..10].iter().all(|&l| l == r.labels[0]));
        assert!(r.labels[10..].iter().all(|&l| l == r.labels[10]));
        assert_ne!(r.labels[0], r.labels[10]);
        assert!(matches!(
            kmeans(&x[..2], 1, 2, 2, 1, 0),
            Err(MetricsError::TooFewSamples { .. })
        ));
    }
}
