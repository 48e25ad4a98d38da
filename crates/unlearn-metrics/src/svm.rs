//! A binary RBF support-vector classifier: libsvm's C-SVC solver, in Rust.
//!
//! Size exemption (numeric kernel): this file (a little over 800 lines) and `Solver::solve`
//! (a little over 120) mirror libsvm's `svm.cpp` and `Solver::Solve` statement for
//! statement, so that a reader can check them side by side against the reference the tests
//! compare with; splitting them would break that correspondence.
//!
//! This follows `Solver::Solve` of libsvm 3.x (the code inside scikit-learn's
//! `SVC`) step by step, so that predictions match `sklearn.svm.SVC`:
//!
//! * dual `min ½ αᵀQα − eᵀα`, `0 ≤ α ≤ C`, `yᵀα = 0`, with `Q_ij = y_i y_j K(x_i, x_j)`
//!   and `K(x, x') = exp(−γ‖x − x'‖²)`;
//! * second-order working-set selection (WSS3 of Fan, Chen & Lin, JMLR 2005),
//!   stopping when the maximal KKT violation `m(α) − M(α) < tol` (default `1e-3`);
//! * an LRU cache of kernel rows stored as `f32` (libsvm's `Qfloat`), rows
//!   computed lazily up to the active size;
//! * optional shrinking with gradient reconstruction (libsvm's `do_shrinking`,
//!   `be_shrunk`, `reconstruct_gradient`), on by default as in scikit-learn;
//! * the bias `ρ` from the free support vectors (or the midpoint of the bounds).
//!
//! Class handling copies scikit-learn's libsvm fork: training rows are grouped by
//! class with class `0` (`false`) first; class `0` is libsvm's first label
//! (internal `y = +1`), so a sample is predicted class `1` unless
//! `Σ α_i y_i K(x_i, x) − ρ > 0`.

use rayon::prelude::*;

use crate::error::{MetricsError, Result};

const TAU: f64 = 1e-12;

/// Hyper-parameters of [`Svc::fit`].
#[derive(Debug, Clone, PartialEq)]
pub struct SvcParams {
    /// Box constraint `C` (default 3.0, the MIA protocol's value).
    pub c: f64,
    /// RBF `γ`; `None` means scikit-learn's `'auto'`, `1 / n_features`.
    pub gamma: Option<f64>,
    /// Stopping tolerance on the maximal violating pair (default `1e-3`).
    pub tol: f64,
    /// Kernel cache budget in MiB (default 200, scikit-learn's `cache_size`).
    pub cache_mb: usize,
    /// Use libsvm's shrinking heuristic (default `true`).
    pub shrinking: bool,
}

impl Default for SvcParams {
    fn default() -> Self {
        Self {
            c: 3.0,
            gamma: None,
            tol: 1e-3,
            cache_mb: 200,
            shrinking: true,
        }
    }
}

/// A fitted binary RBF SVC.
#[derive(Debug, Clone)]
pub struct Svc {
    d: usize,
    gamma: f64,
    /// Support vectors, row-major `n_sv × d`.
    sv: Vec<f64>,
    /// `α_i y_i` of each support vector (libsvm sign convention).
    coef: Vec<f64>,
    rho: f64,
    iterations: usize,
    converged: bool,
}

struct Kernel<'a> {
    x: &'a [f64],
    d: usize,
    sq: Vec<f64>,
    gamma: f64,
}

impl Kernel<'_> {
    #[inline]
    fn k(&self, i: usize, j: usize) -> f64 {
        let xi = &self.x[i * self.d..(i + 1) * self.d];
        let xj = &self.x[j * self.d..(j + 1) * self.d];
        let dot: f64 = xi.iter().zip(xj).map(|(a, b)| a * b).sum();
        (-self.gamma * (self.sq[i] + self.sq[j] - 2.0 * dot)).exp()
    }
}

const NIL: usize = usize::MAX;

/// libsvm's `Cache`: rows indexed by (permuted) position, lazily extended,
/// evicted least-recently-used first.
struct Cache {
    rows: Vec<Vec<f32>>,
    prev: Vec<usize>,
    next: Vec<usize>,
    head: usize,
    /// Free budget in `f32` elements.
    size: usize,
}

impl Cache {
    fn new(l: usize, bytes: usize) -> Self {
        let mut size = bytes / 4;
        size = size.saturating_sub(l * 4);
        size = size.max(2 * l);
        let head = l;
        let mut prev = vec![NIL; l + 1];
        let mut next = vec![NIL; l + 1];
        prev[head] = head;
        next[head] = head;
        Self {
            rows: vec![Vec::new(); l],
            prev,
            next,
            head,
            size,
        }
    }

    fn lru_delete(&mut self, h: usize) {
        let (p, n) = (self.prev[h], self.next[h]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    fn lru_insert(&mut self, h: usize) {
        // Insert just before the head sentinel (most recently used).
        let last = self.prev[self.head];
        self.next[h] = self.head;
        self.prev[h] = last;
        self.next[last] = h;
        self.prev[self.head] = h;
    }

    /// Makes row `i` at least `len` long; returns the first index still to compute.
    fn get_data(&mut self, i: usize, len: usize) -> usize {
        let cur = self.rows[i].len();
        if cur > 0 {
            self.lru_delete(i);
        }
        let mut start = len;
        if len > cur {
            let more = len - cur;
            while self.size < more {
                let old = self.next[self.head];
                if old == self.head {
                    break;
                }
                self.lru_delete(old);
                self.size += self.rows[old].len();
                self.rows[old] = Vec::new();
            }
            self.rows[i].resize(len, 0.0);
            self.size = self.size.saturating_sub(more);
            start = cur;
        }
        self.lru_insert(i);
        start
    }

    fn swap_index(&mut self, i: usize, j: usize) {
        if i == j {
            return;
        }
        if !self.rows[i].is_empty() {
            self.lru_delete(i);
        }
        if !self.rows[j].is_empty() {
            self.lru_delete(j);
        }
        self.rows.swap(i, j);
        if !self.rows[i].is_empty() {
            self.lru_insert(i);
        }
        if !self.rows[j].is_empty() {
            self.lru_insert(j);
        }
        let (i, j) = if i > j { (j, i) } else { (i, j) };
        let mut h = self.next[self.head];
        while h != self.head {
            let nxt = self.next[h];
            let len = self.rows[h].len();
            if len > i {
                if len > j {
                    self.rows[h].swap(i, j);
                } else {
                    // Give up on this row (libsvm does the same).
                    self.lru_delete(h);
                    self.size += len;
                    self.rows[h] = Vec::new();
                }
            }
            h = nxt;
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Lower,
    Upper,
    Free,
}

struct Solver<'a> {
    l: usize,
    kernel: Kernel<'a>,
    cache: Cache,
    /// Position → original row.
    perm: Vec<usize>,
    y: Vec<f64>,
    g: Vec<f64>,
    g_bar: Vec<f64>,
    alpha: Vec<f64>,
    status: Vec<Status>,
    p: Vec<f64>,
    qd: Vec<f64>,
    active_size: usize,
    c: f64,
    eps: f64,
    unshrink: bool,
}

/// Ensures cached row `i` (Q values, signs included) covers `len` positions.
fn fill_q(cache: &mut Cache, kernel: &Kernel<'_>, perm: &[usize], y: &[f64], i: usize, len: usize) {
    let start = cache.get_data(i, len);
    if start < len {
        let (pi, yi) = (perm[i], y[i]);
        let row = &mut cache.rows[i][start..len];
        let fill = |(off, v): (usize, &mut f32)| {
            let j = start + off;
            *v = (yi * y[j] * kernel.k(pi, perm[j])) as f32;
        };
        if len - start > 4096 {
            row.par_iter_mut().enumerate().for_each(fill);
        } else {
            row.iter_mut().enumerate().for_each(fill);
        }
    }
}

impl Solver<'_> {
    fn update_status(&mut self, i: usize) {
        self.status[i] = if self.alpha[i] >= self.c {
            Status::Upper
        } else if self.alpha[i] <= 0.0 {
            Status::Lower
        } else {
            Status::Free
        };
    }

    fn is_upper(&self, i: usize) -> bool {
        self.status[i] == Status::Upper
    }

    fn is_lower(&self, i: usize) -> bool {
        self.status[i] == Status::Lower
    }

    fn swap_index(&mut self, i: usize, j: usize) {
        self.cache.swap_index(i, j);
        self.perm.swap(i, j);
        self.y.swap(i, j);
        self.g.swap(i, j);
        self.g_bar.swap(i, j);
        self.alpha.swap(i, j);
        self.status.swap(i, j);
        self.p.swap(i, j);
        self.qd.swap(i, j);
    }

    fn reconstruct_gradient(&mut self) {
        let (a, l) = (self.active_size, self.l);
        if a == l {
            return;
        }
        for j in a..l {
            self.g[j] = self.g_bar[j] + self.p[j];
        }
        let nr_free = (0..a).filter(|&j| self.status[j] == Status::Free).count();
        if nr_free * l > 2 * a * (l - a) {
            for i in a..l {
                fill_q(&mut self.cache, &self.kernel, &self.perm, &self.y, i, a);
                let qi = &self.cache.rows[i];
                let mut acc = 0.0;
                for ((&q, &st), &al) in qi[..a].iter().zip(&self.status[..a]).zip(&self.alpha[..a])
                {
                    if st == Status::Free {
                        acc += al * f64::from(q);
                    }
                }
                self.g[i] += acc;
            }
        } else {
            for i in 0..a {
                if self.status[i] == Status::Free {
                    fill_q(&mut self.cache, &self.kernel, &self.perm, &self.y, i, l);
                    let qi = &self.cache.rows[i];
                    let ai = self.alpha[i];
                    for (g, &q) in self.g[a..l].iter_mut().zip(&qi[a..l]) {
                        *g += ai * f64::from(q);
                    }
                }
            }
        }
    }

    fn be_shrunk(&self, i: usize, gmax1: f64, gmax2: f64) -> bool {
        if self.is_upper(i) {
            if self.y[i] > 0.0 {
                -self.g[i] > gmax1
            } else {
                -self.g[i] > gmax2
            }
        } else if self.is_lower(i) {
            if self.y[i] > 0.0 {
                self.g[i] > gmax2
            } else {
                self.g[i] > gmax1
            }
        } else {
            false
        }
    }

    fn do_shrinking(&mut self) {
        let mut gmax1 = f64::NEG_INFINITY;
        let mut gmax2 = f64::NEG_INFINITY;
        for i in 0..self.active_size {
            let g = self.g[i];
            if self.y[i] > 0.0 {
                if !self.is_upper(i) && -g >= gmax1 {
                    gmax1 = -g;
                }
                if !self.is_lower(i) && g >= gmax2 {
                    gmax2 = g;
                }
            } else {
                if !self.is_upper(i) && -g >= gmax2 {
                    gmax2 = -g;
                }
                if !self.is_lower(i) && g >= gmax1 {
                    gmax1 = g;
                }
            }
        }
        if !self.unshrink && gmax1 + gmax2 <= self.eps * 10.0 {
            self.unshrink = true;
            self.reconstruct_gradient();
            self.active_size = self.l;
        }
        let mut i = 0;
        while i < self.active_size {
            if self.be_shrunk(i, gmax1, gmax2) {
                self.active_size -= 1;
                while self.active_size > i {
                    if !self.be_shrunk(self.active_size, gmax1, gmax2) {
                        self.swap_index(i, self.active_size);
                        break;
                    }
                    self.active_size -= 1;
                }
            }
            i += 1;
        }
    }

    /// WSS3; `None` when optimal within `eps`.
    // Index loops kept on purpose: this mirrors libsvm's `select_working_set`
    // line by line (five arrays are read at each `j`).
    #[allow(clippy::needless_range_loop)]
    fn select_working_set(&mut self) -> Option<(usize, usize)> {
        let a = self.active_size;
        let mut gmax = f64::NEG_INFINITY;
        let mut gmax2 = f64::NEG_INFINITY;
        let mut gmax_idx = NIL;
        let mut gmin_idx = NIL;
        let mut obj_diff_min = f64::INFINITY;
        for t in 0..a {
            if self.y[t] > 0.0 {
                if !self.is_upper(t) && -self.g[t] >= gmax {
                    gmax = -self.g[t];
                    gmax_idx = t;
                }
            } else if !self.is_lower(t) && self.g[t] >= gmax {
                gmax = self.g[t];
                gmax_idx = t;
            }
        }
        let i = gmax_idx;
        if i == NIL {
            return None;
        }
        fill_q(&mut self.cache, &self.kernel, &self.perm, &self.y, i, a);
        let qi = &self.cache.rows[i];
        let (yi, qdi) = (self.y[i], self.qd[i]);
        for j in 0..a {
            let gj = self.g[j];
            if self.y[j] > 0.0 {
                if self.status[j] != Status::Lower {
                    let grad_diff = gmax + gj;
                    if gj >= gmax2 {
                        gmax2 = gj;
                    }
                    if grad_diff > 0.0 {
                        let quad = qdi + self.qd[j] - 2.0 * yi * f64::from(qi[j]);
                        let obj = if quad > 0.0 {
                            -(grad_diff * grad_diff) / quad
                        } else {
                            -(grad_diff * grad_diff) / TAU
                        };
                        if obj <= obj_diff_min {
                            gmin_idx = j;
                            obj_diff_min = obj;
                        }
                    }
                }
            } else if self.status[j] != Status::Upper {
                let grad_diff = gmax - gj;
                if -gj >= gmax2 {
                    gmax2 = -gj;
                }
                if grad_diff > 0.0 {
                    let quad = qdi + self.qd[j] + 2.0 * yi * f64::from(qi[j]);
                    let obj = if quad > 0.0 {
                        -(grad_diff * grad_diff) / quad
                    } else {
                        -(grad_diff * grad_diff) / TAU
                    };
                    if obj <= obj_diff_min {
                        gmin_idx = j;
                        obj_diff_min = obj;
                    }
                }
            }
        }
        if gmax + gmax2 < self.eps || gmin_idx == NIL {
            return None;
        }
        Some((i, gmin_idx))
    }

    fn calculate_rho(&self) -> f64 {
        let mut nr_free = 0usize;
        let (mut ub, mut lb, mut sum_free) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
        for i in 0..self.active_size {
            let yg = self.y[i] * self.g[i];
            match self.status[i] {
                Status::Upper => {
                    if self.y[i] < 0.0 {
                        ub = ub.min(yg);
                    } else {
                        lb = lb.max(yg);
                    }
                }
                Status::Lower => {
                    if self.y[i] > 0.0 {
                        ub = ub.min(yg);
                    } else {
                        lb = lb.max(yg);
                    }
                }
                Status::Free => {
                    nr_free += 1;
                    sum_free += yg;
                }
            }
        }
        if nr_free > 0 {
            sum_free / nr_free as f64
        } else {
            (ub + lb) / 2.0
        }
    }

    /// Runs SMO; returns (iterations, converged).
    fn solve(&mut self, shrinking: bool) -> (usize, bool) {
        let l = self.l;
        let max_iter = 10_000_000usize.max(l.saturating_mul(100));
        let mut counter = l.min(1000) + 1;
        let mut iter = 0usize;
        let mut converged = false;
        while iter < max_iter {
            counter -= 1;
            if counter == 0 {
                counter = l.min(1000);
                if shrinking {
                    self.do_shrinking();
                }
            }
            let (i, j) = match self.select_working_set() {
                Some(p) => p,
                None => {
                    self.reconstruct_gradient();
                    self.active_size = l;
                    match self.select_working_set() {
                        Some(p) => {
                            counter = 1;
                            p
                        }
                        None => {
                            converged = true;
                            break;
                        }
                    }
                }
            };
            iter += 1;
            let a = self.active_size;
            fill_q(&mut self.cache, &self.kernel, &self.perm, &self.y, i, a);
            fill_q(&mut self.cache, &self.kernel, &self.perm, &self.y, j, a);
            let c = self.c;
            let (old_ai, old_aj) = (self.alpha[i], self.alpha[j]);
            let qij = f64::from(self.cache.rows[i][j]);
            let (mut ai, mut aj) = (old_ai, old_aj);
            if self.y[i] != self.y[j] {
                let mut quad = self.qd[i] + self.qd[j] + 2.0 * qij;
                if quad <= 0.0 {
                    quad = TAU;
                }
                let delta = (-self.g[i] - self.g[j]) / quad;
                let diff = ai - aj;
                ai += delta;
                aj += delta;
                if diff > 0.0 {
                    if aj < 0.0 {
                        aj = 0.0;
                        ai = diff;
                    }
                } else if ai < 0.0 {
                    ai = 0.0;
                    aj = -diff;
                }
                if diff > 0.0 {
                    // diff > C_i − C_j = 0
                    if ai > c {
                        ai = c;
                        aj = c - diff;
                    }
                } else if aj > c {
                    aj = c;
                    ai = c + diff;
                }
            } else {
                let mut quad = self.qd[i] + self.qd[j] - 2.0 * qij;
                if quad <= 0.0 {
                    quad = TAU;
                }
                let delta = (self.g[i] - self.g[j]) / quad;
                let sum = ai + aj;
                ai -= delta;
                aj += delta;
                if sum > c {
                    if ai > c {
                        ai = c;
                        aj = sum - c;
                    }
                } else if aj < 0.0 {
                    aj = 0.0;
                    ai = sum;
                }
                if sum > c {
                    if aj > c {
                        aj = c;
                        ai = sum - c;
                    }
                } else if ai < 0.0 {
                    ai = 0.0;
                    aj = sum;
                }
            }
            self.alpha[i] = ai;
            self.alpha[j] = aj;
            let dai = ai - old_ai;
            let daj = aj - old_aj;
            {
                let qi = &self.cache.rows[i][..a];
                let qj = &self.cache.rows[j][..a];
                for ((g, &vi), &vj) in self.g[..a].iter_mut().zip(qi).zip(qj) {
                    *g += f64::from(vi) * dai + f64::from(vj) * daj;
                }
            }
            let ui = self.is_upper(i);
            let uj = self.is_upper(j);
            self.update_status(i);
            self.update_status(j);
            for (t, was_upper) in [(i, ui), (j, uj)] {
                if was_upper != self.is_upper(t) {
                    fill_q(&mut self.cache, &self.kernel, &self.perm, &self.y, t, l);
                    let qt = &self.cache.rows[t];
                    let s = if was_upper { -c } else { c };
                    for (gb, &v) in self.g_bar.iter_mut().zip(qt.iter()) {
                        *gb += s * f64::from(v);
                    }
                }
            }
        }
        (iter, converged)
    }
}

impl Svc {
    /// Fits the SVC on row-major `x` (`n × d`) with binary targets `y`
    /// (`true` = class 1).
    ///
    /// Errors: shape mismatches, non-finite inputs, a single class, `C ≤ 0`.
    pub fn fit(x: &[f64], n: usize, d: usize, y: &[bool], params: &SvcParams) -> Result<Self> {
        if x.len() != n * d {
            return Err(MetricsError::LengthMismatch {
                what: "SVC training matrix".into(),
                expected: n * d,
                found: x.len(),
            });
        }
        if y.len() != n {
            return Err(MetricsError::LengthMismatch {
                what: "SVC targets vs rows".into(),
                expected: n,
                found: y.len(),
            });
        }
        if let Some(index) = x.iter().position(|v| !v.is_finite()) {
            return Err(MetricsError::NonFinite {
                array: "SVC training matrix".into(),
                index,
            });
        }
        if d == 0 {
            return Err(MetricsError::InvalidParameter {
                name: "n_features".into(),
                value: "0".into(),
                reason: "the SVC needs at least one feature".into(),
            });
        }
        if !(params.c > 0.0 && params.c.is_finite()) {
            return Err(MetricsError::InvalidParameter {
                name: "C".into(),
                value: params.c.to_string(),
                reason: "must be positive and finite".into(),
            });
        }
        let gamma = params.gamma.unwrap_or(1.0 / d as f64);
        if !(gamma > 0.0 && gamma.is_finite()) {
            return Err(MetricsError::InvalidParameter {
                name: "gamma".into(),
                value: gamma.to_string(),
                reason: "must be positive and finite".into(),
            });
        }
        let n1 = y.iter().filter(|&&b| b).count();
        if n1 == 0 || n1 == n {
            return Err(MetricsError::TooFewSamples {
                what: "SVC classes (both members and non-members are needed)".into(),
                needed: 2,
                found: 1,
            });
        }
        // Group by class, class 0 first (scikit-learn's libsvm fork sorts labels).
        let order: Vec<usize> = (0..n)
            .filter(|&i| !y[i])
            .chain((0..n).filter(|&i| y[i]))
            .collect();
        let mut xs = Vec::with_capacity(n * d);
        for &i in &order {
            xs.extend_from_slice(&x[i * d..(i + 1) * d]);
        }
        let ys: Vec<f64> = order
            .iter()
            .map(|&i| if y[i] { -1.0 } else { 1.0 })
            .collect();
        let sq: Vec<f64> = xs
            .chunks_exact(d)
            .map(|r| r.iter().map(|v| v * v).sum())
            .collect();
        let kernel = Kernel {
            x: &xs,
            d,
            sq,
            gamma,
        };
        let qd: Vec<f64> = (0..n).map(|i| kernel.k(i, i)).collect();
        let mut solver = Solver {
            l: n,
            cache: Cache::new(n, params.cache_mb.saturating_mul(1 << 20)),
            kernel,
            perm: (0..n).collect(),
            y: ys,
            g: vec![-1.0; n],
            g_bar: vec![0.0; n],
            alpha: vec![0.0; n],
            status: vec![Status::Lower; n],
            p: vec![-1.0; n],
            qd,
            active_size: n,
            c: params.c,
            eps: params.tol,
            unshrink: false,
        };
        let (iterations, converged) = solver.solve(params.shrinking);
        let rho = solver.calculate_rho();
        let mut sv = Vec::new();
        let mut coef = Vec::new();
        // Report support vectors in training order (position → original row).
        let mut pairs: Vec<(usize, f64)> = (0..n)
            .filter(|&p| solver.alpha[p] > 0.0)
            .map(|p| (solver.perm[p], solver.y[p] * solver.alpha[p]))
            .collect();
        pairs.sort_by_key(|&(o, _)| o);
        for (o, c) in pairs {
            sv.extend_from_slice(&xs[o * d..(o + 1) * d]);
            coef.push(c);
        }
        Ok(Self {
            d,
            gamma,
            sv,
            coef,
            rho,
            iterations,
            converged,
        })
    }

    /// Number of support vectors.
    pub fn n_support(&self) -> usize {
        self.coef.len()
    }

    /// SMO iterations run.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// Whether SMO stopped on the tolerance (not on libsvm's iteration cap).
    pub fn converged(&self) -> bool {
        self.converged
    }

    /// The `γ` used.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }

    /// libsvm's bias `ρ`.
    pub fn rho(&self) -> f64 {
        self.rho
    }

    /// scikit-learn's `decision_function`: positive means class 1.
    pub fn decision_function(&self, x: &[f64]) -> Result<Vec<f64>> {
        let d = self.d;
        if !x.len().is_multiple_of(d) {
            return Err(MetricsError::WidthMismatch {
                what: "SVC prediction input".into(),
                expected: d,
                found: x.len() % d,
            });
        }
        if let Some(index) = x.iter().position(|v| !v.is_finite()) {
            return Err(MetricsError::NonFinite {
                array: "SVC prediction input".into(),
                index,
            });
        }
        Ok(x.par_chunks_exact(d)
            .map(|q| {
                let mut s = 0.0;
                for (svr, &c) in self.sv.chunks_exact(d).zip(&self.coef) {
                    let dist: f64 = svr.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum();
                    s += c * (-self.gamma * dist).exp();
                }
                -(s - self.rho)
            })
            .collect())
    }

    /// Predicted classes (`true` = class 1), as `sklearn.svm.SVC.predict`.
    pub fn predict(&self, x: &[f64]) -> Result<Vec<bool>> {
        // libsvm: label[0] (class 0) iff dec > 0, i.e. sklearn's decision < 0.
        Ok(self
            .decision_function(x)?
            .into_iter()
            .map(|v| v >= 0.0)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_1d() {
        let x: Vec<f64> = (0..40).map(|i| i as f64 / 10.0).collect();
        let y: Vec<bool> = (0..40).map(|i| i >= 20).collect();
        for shrinking in [false, true] {
            let p = SvcParams {
                shrinking,
                ..Default::default()
            };
            let m = Svc::fit(&x, 40, 1, &y, &p).unwrap();
            assert!(m.converged());
            let pred = m.predict(&[0.0, 0.5, 3.5, 3.9]).unwrap();
            assert_eq!(pred, vec![false, false, true, true]);
        }
    }

    #[test]
    fn one_class_is_an_error() {
        let x = vec![0.0, 1.0];
        assert!(matches!(
            Svc::fit(&x, 2, 1, &[true, true], &SvcParams::default()),
            Err(MetricsError::TooFewSamples { .. })
        ));
    }
}
