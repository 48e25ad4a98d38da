//! 3 × 3, stride-1, padding-1 convolution by Winograd F(2×2, 3×3): forward, input
//! gradient and weight gradient.
//!
//! Each 2 × 2 output tile comes from a 4 × 4 input tile `d` as `Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`,
//! so the 9 multiply-adds per output of im2col become 4: the 16 positions `ξ` of the
//! transformed tile are 16 independent GEMMs (O × C by C × tiles) over a group of images.
//! The backward pass is the exact adjoint of that computation: `dM = A dY Aᵀ`, then
//! `dU[ξ] = dM[ξ] · V[ξ]ᵀ` (weight gradient `Gᵀ dU G`) and `dV[ξ] = U[ξ]ᵀ · dM[ξ]` (input
//! gradient `B dV Bᵀ`, tiles overlap-added).
//!
//! Determinism: groups of images depend only on the shapes; within a group every phase
//! (transforms, then the 16 GEMMs) runs in parallel over disjoint outputs, and the weight
//! gradient accumulates over the groups in group order. The result does not depend on the
//! thread count.
//!
//! The transforms are plain adds and subtractions (and halvings), written as loops over a
//! row of tiles so that they vectorise; with AVX2 present they are compiled for it, which
//! gives the same bits (no fused multiply-adds, no reassociation).

use std::cell::RefCell;
use std::sync::Mutex;

use rayon::prelude::*;

use super::dense::mm;

/// At most this many tiles per group (per GEMM column block).
const MAX_TILES: usize = 512;

/// Whether a convolution takes the Winograd path: 3 × 3, stride 1, padding 1, and enough
/// input channels for the 16 GEMMs (inner dimension C) to be worth it.
pub(super) fn fits(c: usize, k: usize, stride: usize, padding: usize) -> bool {
    k == 3 && stride == 1 && padding == 1 && c >= 16
}

/// Shapes of one convolution.
#[derive(Clone, Copy, Debug)]
pub(super) struct Wino {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    /// Tile rows and columns: ⌈H/2⌉, ⌈W/2⌉.
    th: usize,
    tw: usize,
}

/// Reusable large buffers (their contents are unspecified when taken).
static POOL: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// A buffer of at least `len` floats from the pool.
fn take(len: usize) -> Vec<f32> {
    let mut v = POOL
        .lock()
        .map(|mut p| match p.iter().position(|b| b.len() >= len) {
            Some(i) => p.swap_remove(i),
            None => p.pop().unwrap_or_default(),
        })
        .unwrap_or_default();
    if v.len() < len {
        v.resize(len, 0.0);
    }
    v
}

fn give(v: Vec<f32>) {
    if let Ok(mut p) = POOL.lock() {
        if p.len() < 8 {
            p.push(v);
        }
    }
}

thread_local! {
    static ROWS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// A per-thread scratch buffer of `len` floats (contents unspecified); give it back with
/// [`put_rows`].
fn take_rows(len: usize) -> Vec<f32> {
    let mut r = ROWS.with(|r| std::mem::take(&mut *r.borrow_mut()));
    if r.len() < len {
        r.resize(len, 0.0);
    }
    r
}

fn put_rows(r: Vec<f32>) {
    ROWS.with(|s| *s.borrow_mut() = r);
}

avx2_dispatch!(input_plane => input_plane_impl(g: Wino, plane: &[f32], vc: &mut [f32], t: usize, t0: usize));
avx2_dispatch!(output_plane => output_plane_impl(g: Wino, m: &[f32], xs: usize, at: usize, bv: f32, plane: &mut [f32]));
avx2_dispatch!(grad_plane => grad_plane_impl(g: Wino, dy: &[f32], dmo: &mut [f32], t: usize, t0: usize));
avx2_dispatch!(dx_plane => dx_plane_impl(g: Wino, dv: &[f32], xs: usize, at: usize, plane: &mut [f32]));
avx2_dispatch!(u_rows => u_rows_impl(g: &[f32], len: usize, u: &mut [f32], xs: usize));
avx2_dispatch!(dw_rows => dw_rows_impl(du: &[f32], xs: usize, len: usize, g: &mut [f32]));

/// Padding (floats) added to every stride between the 16 transformed positions, so that
/// the 16 streams a transform reads or writes do not fall on the same cache sets.
const PAD: usize = 16;

impl Wino {
    pub(super) fn new(n: usize, c: usize, h: usize, w: usize, o: usize) -> Self {
        Self {
            n,
            c,
            h,
            w,
            o,
            th: h.div_ceil(2),
            tw: w.div_ceil(2),
        }
    }

    /// Tiles per image.
    fn tp(&self) -> usize {
        self.th * self.tw
    }

    /// `(images per group, groups)`: a function of the shapes only.
    fn groups(&self) -> (usize, usize) {
        let per = (MAX_TILES / self.tp().max(1)).clamp(1, self.n.max(1));
        (per, self.n.div_ceil(per))
    }

    /// `U[o][ξ][c] = (G g Gᵀ)[ξ]` for every filter `g = w[o][c]`, rows of `c + PAD`.
    fn weights(&self, w: &[f32]) -> Vec<f32> {
        let (c, o) = (self.c, self.o);
        let xs = c + PAD;
        let mut u = take(o * 16 * xs);
        u[..o * 16 * xs]
            .par_chunks_mut(16 * xs)
            .enumerate()
            .for_each(|(oc, uo)| {
                let mut g = take_rows(16 * c);
                for (ci, f) in w[oc * c * 9..(oc + 1) * c * 9].chunks_exact(9).enumerate() {
                    for (k, v) in f.iter().enumerate() {
                        g[k * c + ci] = *v;
                    }
                }
                u_rows(&g, c, uo, xs);
                put_rows(g);
            });
        u
    }

    /// `Uᵀ[c][ξ][o]`, rows of `o + PAD`: the transposed layout for the input gradient.
    fn weights_t(&self, w: &[f32]) -> Vec<f32> {
        let (c, o) = (self.c, self.o);
        let xs = o + PAD;
        let mut u = take(c * 16 * xs);
        u[..c * 16 * xs]
            .par_chunks_mut(16 * xs)
            .enumerate()
            .for_each(|(ci, uc)| {
                let mut g = take_rows(16 * o);
                for oc in 0..o {
                    let f = &w[(oc * c + ci) * 9..(oc * c + ci) * 9 + 9];
                    for (k, v) in f.iter().enumerate() {
                        g[k * o + oc] = *v;
                    }
                }
                u_rows(&g, o, uc, xs);
                put_rows(g);
            });
        u
    }

    /// `out = conv(x, w) + b`, N × O × H × W.
    pub(super) fn forward(&self, x: &[f32], w: &[f32], b: Option<&[f32]>) -> Vec<f32> {
        let (c, o, hw, tp) = (self.c, self.o, self.h * self.w, self.tp());
        let mut out = vec![0f32; self.n * o * hw];
        if out.is_empty() {
            return out;
        }
        let u = self.weights(w);
        let xu = c + PAD;
        let (per, _) = self.groups();
        let tmax = per * tp;
        let mut v = take(16 * c * (tmax + PAD));
        let mut m = take(16 * (o * tmax + PAD));
        for (gi, out_g) in out.chunks_mut(per * o * hw).enumerate() {
            let n0 = gi * per;
            let ni = out_g.len() / (o * hw);
            let t = ni * tp;
            let (xv, xm) = (t + PAD, o * t + PAD);
            self.input_transform(x, n0, ni, &mut v[..16 * c * xv]);
            m[..16 * xm]
                .par_chunks_mut(xm)
                .enumerate()
                .for_each(|(xi, mx)| {
                    mm(
                        o,
                        t,
                        c,
                        mx,
                        t,
                        false,
                        &u[xi * xu..],
                        (16 * xu, 1),
                        &v[xi * xv..],
                        (16 * xv, 1),
                    )
                });
            let m = &m[..16 * xm];
            out_g
                .par_chunks_mut(hw)
                .enumerate()
                .for_each(|(idx, plane)| {
                    let (i, oc) = (idx / o, idx % o);
                    let bv = b.map_or(0.0, |b| b[oc]);
                    output_plane(*self, m, xm, oc * t + i * tp, bv, plane);
                });
        }
        give(v);
        give(m);
        give(u);
        out
    }

    /// `V[c][ξ][t]` (t over the `ni` images from `n0`, `tp` tiles each; rows of `t + PAD`)
    /// of the input.
    fn input_transform(&self, x: &[f32], n0: usize, ni: usize, v: &mut [f32]) {
        let (chw, hw, tp) = (self.c * self.h * self.w, self.h * self.w, self.tp());
        let xv = ni * tp + PAD;
        v.par_chunks_mut(16 * xv).enumerate().for_each(|(ci, vc)| {
            for i in 0..ni {
                let at = (n0 + i) * chw + ci * hw;
                input_plane(*self, &x[at..at + hw], vc, xv, i * tp);
            }
        });
    }

    /// Backward: `(dx if wanted, dw, db)` from the output gradient `dy` (N × O × H × W).
    ///
    /// Length exemption (numeric kernel): one pass over image groups computes all three
    /// gradients from the same transformed tiles, which stay in this function's scratch
    /// buffers; splitting it would pass those buffers around or recompute the transforms.
    pub(super) fn backward(
        &self,
        x: &[f32],
        w: &[f32],
        dy: &[f32],
        want_dx: bool,
    ) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
        let (c, o, hw, tp) = (self.c, self.o, self.h * self.w, self.tp());
        let chw = c * hw;
        let db: Vec<f32> = (0..o)
            .into_par_iter()
            .map(|oc| {
                (0..self.n)
                    .map(|ni| super::dense::sum(&dy[(ni * o + oc) * hw..(ni * o + oc + 1) * hw]))
                    .sum::<f64>() as f32
            })
            .collect();
        let mut dx = if want_dx {
            vec![0f32; self.n * chw]
        } else {
            Vec::new()
        };
        let mut dw = vec![0f32; o * c * 9];
        if self.n * hw == 0 || o * c == 0 {
            return (want_dx.then_some(dx), dw, db);
        }
        let ut = if want_dx {
            self.weights_t(w)
        } else {
            Vec::new()
        };
        let xut = o + PAD;
        let (per, ng) = self.groups();
        let tmax = per * tp;
        let mut v = take(16 * c * (tmax + PAD));
        let mut dm = take(16 * o * (tmax + PAD));
        let mut dv = if want_dx {
            take(16 * (c * tmax + PAD))
        } else {
            Vec::new()
        };
        let xdu = o * c + PAD;
        let mut du = take(16 * xdu);
        for gi in 0..ng {
            let n0 = gi * per;
            let ni = per.min(self.n - n0);
            let t = ni * tp;
            let (xv, xdm, xdv) = (t + PAD, t + PAD, c * t + PAD);
            // dM[o][ξ][t] = A dY Aᵀ.
            dm[..16 * o * xdm]
                .par_chunks_mut(16 * xdm)
                .enumerate()
                .for_each(|(oc, dmo)| {
                    for i in 0..ni {
                        let at = ((n0 + i) * o + oc) * hw;
                        grad_plane(*self, &dy[at..at + hw], dmo, xdm, i * tp);
                    }
                });
            self.input_transform(x, n0, ni, &mut v[..16 * c * xv]);
            let (dm, v) = (&dm[..16 * o * xdm], &v[..16 * c * xv]);
            // dU[ξ] (+)= dM[ξ] · V[ξ]ᵀ, O × C.
            du[..16 * xdu]
                .par_chunks_mut(xdu)
                .enumerate()
                .for_each(|(xi, dux)| {
                    mm(
                        o,
                        c,
                        t,
                        dux,
                        c,
                        gi > 0,
                        &dm[xi * xdm..],
                        (16 * xdm, 1),
                        &v[xi * xv..],
                        (1, 16 * xv),
                    )
                });
            if want_dx {
                // dV[ξ] = U[ξ]ᵀ · dM[ξ], C × t.
                dv[..16 * xdv]
                    .par_chunks_mut(xdv)
                    .enumerate()
                    .for_each(|(xi, dvx)| {
                        mm(
                            c,
                            t,
                            o,
                            dvx,
                            t,
                            false,
                            &ut[xi * xut..],
                            (16 * xut, 1),
                            &dm[xi * xdm..],
                            (16 * xdm, 1),
                        )
                    });
                let dv = &dv[..16 * xdv];
                dx[n0 * chw..(n0 + ni) * chw]
                    .par_chunks_mut(hw)
                    .enumerate()
                    .for_each(|(idx, plane)| {
                        let (i, ci) = (idx / c, idx % c);
                        dx_plane(*self, dv, xdv, ci * t + i * tp, plane);
                    });
            }
        }
        // dW[o][c] = Gᵀ dU[·][o][c] G.
        let du_ = &du[..16 * xdu];
        dw.par_chunks_mut(c * 9).enumerate().for_each(|(oc, dwo)| {
            let mut g = take_rows(16 * c);
            dw_rows(&du_[oc * c..], xdu, c, &mut g);
            for (ci, f) in dwo.chunks_exact_mut(9).enumerate() {
                for (k, v) in f.iter_mut().enumerate() {
                    *v = g[k * c + ci];
                }
            }
            put_rows(g);
        });
        give(v);
        give(dm);
        give(du);
        if want_dx {
            give(dv);
            give(ut);
        }
        (want_dx.then_some(dx), dw, db)
    }
}

/// Splits `v` into four consecutive slices of `len`.
#[inline(always)]
fn four(v: &[f32], len: usize) -> [&[f32]; 4] {
    let v = &v[..4 * len];
    let (a, r) = v.split_at(len);
    let (b, r) = r.split_at(len);
    let (c, d) = r.split_at(len);
    [a, b, c, d]
}

/// Splits `v` into four consecutive mutable slices of `len`.
#[inline(always)]
fn four_mut(v: &mut [f32], len: usize) -> [&mut [f32]; 4] {
    let v = &mut v[..4 * len];
    let (a, r) = v.split_at_mut(len);
    let (b, r) = r.split_at_mut(len);
    let (c, d) = r.split_at_mut(len);
    [a, b, c, d]
}

/// `N` lanes, elementwise ops on which the compiler turns into vector instructions.
type L<const N: usize> = [f32; N];

#[inline(always)]
fn ld<const N: usize>(s: &[f32], i: usize) -> L<N> {
    let mut a = [0f32; N];
    a.copy_from_slice(&s[i..i + N]);
    a
}

/// Lanes `s[i], s[i + 2], …, s[i + 2(N − 1)]`.
#[inline(always)]
fn ld2<const N: usize>(s: &[f32], i: usize) -> L<N> {
    let s = &s[i..i + 2 * N - 1];
    let mut a = [0f32; N];
    for (k, v) in a.iter_mut().enumerate() {
        *v = s[2 * k];
    }
    a
}

#[inline(always)]
fn st<const N: usize>(s: &mut [f32], i: usize, v: L<N>) {
    s[i..i + N].copy_from_slice(&v)
}

/// Stores `a[0], b[0], a[1], b[1], …` at `s[i ..]`.
#[inline(always)]
fn st2<const N: usize>(s: &mut [f32], i: usize, a: L<N>, b: L<N>) {
    for (k, p) in s[i..i + 2 * N].chunks_exact_mut(2).enumerate() {
        p[0] = a[k];
        p[1] = b[k];
    }
}

#[inline(always)]
fn add<const N: usize>(mut a: L<N>, b: L<N>) -> L<N> {
    for k in 0..N {
        a[k] += b[k];
    }
    a
}

#[inline(always)]
fn sub<const N: usize>(mut a: L<N>, b: L<N>) -> L<N> {
    for k in 0..N {
        a[k] -= b[k];
    }
    a
}

#[inline(always)]
fn neg<const N: usize>(mut a: L<N>) -> L<N> {
    for v in a.iter_mut() {
        *v = -*v;
    }
    a
}

#[inline(always)]
fn half<const N: usize>(mut a: L<N>) -> L<N> {
    for v in a.iter_mut() {
        *v *= 0.5;
    }
    a
}

/// Sixteen rows `m[ξ·xs + base ..][..len]`.
#[inline(always)]
fn rows16(m: &[f32], xs: usize, base: usize, len: usize) -> [&[f32]; 16] {
    let mut out: [&[f32]; 16] = Default::default();
    for (k, r) in out.iter_mut().enumerate() {
        *r = &m[k * xs + base..][..len];
    }
    out
}

/// Sixteen mutable rows `m[ξ·xs + base ..][..len]` (`base + len ≤ xs`).
#[inline(always)]
fn rows16_mut(m: &mut [f32], xs: usize, base: usize, len: usize) -> [&mut [f32]; 16] {
    let mut out: [&mut [f32]; 16] = Default::default();
    let mut rest = m;
    for r in out.iter_mut() {
        let (a, b) = rest.split_at_mut(xs.min(rest.len()));
        *r = &mut a[base..base + len];
        rest = b;
    }
    out
}

/// Runs `$body` for `$x` in `0..$len`, eight lanes at a time (`$n` = 8) and then one at a
/// time (`$n` = 1): the same operations on every element either way.
macro_rules! by_lanes {
    ($len:expr, |$x:ident, $n:ident| $body:block) => {{
        let len = $len;
        let mut $x = 0usize;
        {
            const $n: usize = 8;
            while $x + $n <= len {
                $body
                $x += $n;
            }
        }
        {
            const $n: usize = 1;
            while $x < len {
                $body
                $x += $n;
            }
        }
    }};
}

/// `V = Bᵀ d B` for the tiles of one input plane (one channel of one image), into
/// `vc[ξ·t + t0 + tile]`. Padded row / column `j` of a tile row is input row / column
/// `j − 1` (zero outside).
#[inline(always)]
fn input_plane_impl(g: Wino, plane: &[f32], vc: &mut [f32], t: usize, t0: usize) {
    let (h, w, tw) = (g.h, g.w, g.tw);
    let pw = 2 * tw + 2;
    let mut scratch = take_rows(8 * pw);
    let (rows, erows) = scratch[..8 * pw].split_at_mut(4 * pw);
    for ty in 0..g.th {
        // The four input rows 2ty − 1 .. 2ty + 2, zero-padded.
        for (r, row) in rows.chunks_exact_mut(pw).enumerate() {
            let iy = 2 * ty + r;
            if iy == 0 || iy > h {
                row.fill(0.0);
            } else {
                row[0] = 0.0;
                row[1..1 + w].copy_from_slice(&plane[(iy - 1) * w..iy * w]);
                row[1 + w..].fill(0.0);
            }
        }
        // Bᵀ d over rows: e0 = r0 − r2, e1 = r1 + r2, e2 = r2 − r1, e3 = r1 − r3.
        {
            let [r0, r1, r2, r3] = four(rows, pw);
            let [e0, e1, e2, e3] = four_mut(erows, pw);
            by_lanes!(pw, |k, N| {
                let (a0, a1) = (ld::<N>(r0, k), ld::<N>(r1, k));
                let (a2, a3) = (ld::<N>(r2, k), ld::<N>(r3, k));
                st(e0, k, sub(a0, a2));
                st(e1, k, add(a1, a2));
                st(e2, k, sub(a2, a1));
                st(e3, k, sub(a1, a3));
            });
        }
        // (Bᵀ d) B over columns: tile x uses padded columns 2x .. 2x + 3 (c0 .. c3):
        // c0 − c2, c1 + c2, c2 − c1, c1 − c3.
        let base = t0 + ty * tw;
        let es = four(erows, pw);
        for (i, e) in es.into_iter().enumerate() {
            let [v0, v1, v2, v3] = four_mut(&mut vc[4 * i * t..], t);
            let v0 = &mut v0[base..base + tw];
            let v1 = &mut v1[base..base + tw];
            let v2 = &mut v2[base..base + tw];
            let v3 = &mut v3[base..base + tw];
            by_lanes!(tw, |x, N| {
                let (c0, c1) = (ld2::<N>(e, 2 * x), ld2::<N>(e, 2 * x + 1));
                let (c2, c3) = (ld2::<N>(e, 2 * x + 2), ld2::<N>(e, 2 * x + 3));
                st(v0, x, sub(c0, c2));
                st(v1, x, add(c1, c2));
                st(v2, x, sub(c2, c1));
                st(v3, x, sub(c1, c3));
            });
        }
    }
    put_rows(scratch);
}

/// `Y = Aᵀ M A` (+ bias) for the tiles of one output plane; `M[ξ]` of tile `tt` is
/// `m[ξ·xs + at + tt]`.
#[inline(always)]
fn output_plane_impl(g: Wino, m: &[f32], xs: usize, at: usize, bv: f32, plane: &mut [f32]) {
    let (h, w, tw) = (g.h, g.w, g.tw);
    let pairs = w / 2;
    for ty in 0..g.th {
        let base = at + ty * tw;
        let r = rows16(m, xs, base, tw);
        let two_rows = 2 * ty + 1 < h;
        let (top, bottom) = plane[2 * ty * w..].split_at_mut(w);
        // Aᵀ over columns for each row i: s = m0 + m1 + m2, d = m1 − m2 − m3; then over
        // rows: y0 = s0 + s1 + s2, y1 = s1 − s2 − s3 (and likewise for d).
        by_lanes!(pairs, |x, N| {
            let [y00, y01, y10, y11] = out_tile::<N>(&r, x, bv);
            st2(top, 2 * x, y00, y01);
            if two_rows {
                st2(bottom, 2 * x, y10, y11);
            }
        });
        if w % 2 == 1 {
            // The last tile column has only its left output column.
            let [y00, _, y10, _] = out_tile::<1>(&r, pairs, bv);
            top[w - 1] = y00[0];
            if two_rows {
                bottom[w - 1] = y10[0];
            }
        }
    }
}

/// The four outputs `[y00, y01, y10, y11]` of tiles `x .. x + N` (+ bias): `Aᵀ` over
/// columns for each row `i` (`s = m0 + m1 + m2`, `d = m1 − m2 − m3`), then over rows
/// (`y0 = s0 + s1 + s2`, `y1 = s1 − s2 − s3`, and likewise for `d`).
#[inline(always)]
fn out_tile<const N: usize>(r: &[&[f32]; 16], x: usize, bv: f32) -> [L<N>; 4] {
    let mut s = [[0f32; N]; 4];
    let mut d = [[0f32; N]; 4];
    for i in 0..4 {
        let (a, b) = (ld::<N>(r[4 * i], x), ld::<N>(r[4 * i + 1], x));
        let (c, e) = (ld::<N>(r[4 * i + 2], x), ld::<N>(r[4 * i + 3], x));
        s[i] = add(add(a, b), c);
        d[i] = sub(sub(b, c), e);
    }
    let b = [bv; N];
    [
        add(add(add(s[0], s[1]), s[2]), b),
        add(add(add(d[0], d[1]), d[2]), b),
        add(sub(sub(s[1], s[2]), s[3]), b),
        add(sub(sub(d[1], d[2]), d[3]), b),
    ]
}

/// `dM = A dY Aᵀ` for the tiles of one output-gradient plane, into `dmo[ξ·t + t0 + tile]`.
#[inline(always)]
fn grad_plane_impl(g: Wino, dy: &[f32], dmo: &mut [f32], t: usize, t0: usize) {
    let (h, w, tw) = (g.h, g.w, g.tw);
    let pw = 2 * tw;
    let mut scratch = take_rows(2 * pw);
    let (r0, r1) = scratch[..2 * pw].split_at_mut(pw);
    for ty in 0..g.th {
        // Output-gradient rows 2ty and 2ty + 1, zero past the edges.
        for (r, row) in [&mut *r0, &mut *r1].into_iter().enumerate() {
            let oy = 2 * ty + r;
            if oy >= h {
                row.fill(0.0);
            } else {
                row[..w].copy_from_slice(&dy[oy * w..(oy + 1) * w]);
                row[w..].fill(0.0);
            }
        }
        let (r0, r1) = (&*r0, &*r1);
        let base = t0 + ty * tw;
        let dm = rows16_mut(dmo, t, base, tw);
        let [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15] = dm;
        // Rows of A dY: (a, b), (a + c, b + d), (a − c, b − d), (−c, −d); each row (p, q)
        // becomes (p, p + q, p − q, −q) over columns.
        by_lanes!(tw, |x, N| {
            let (a, b) = (ld2::<N>(r0, 2 * x), ld2::<N>(r0, 2 * x + 1));
            let (c, d) = (ld2::<N>(r1, 2 * x), ld2::<N>(r1, 2 * x + 1));
            let rows = [
                (a, b),
                (add(a, c), add(b, d)),
                (sub(a, c), sub(b, d)),
                (neg(c), neg(d)),
            ];
            let outs: [[&mut [f32]; 4]; 4] = [
                [&mut *m0, &mut *m1, &mut *m2, &mut *m3],
                [&mut *m4, &mut *m5, &mut *m6, &mut *m7],
                [&mut *m8, &mut *m9, &mut *m10, &mut *m11],
                [&mut *m12, &mut *m13, &mut *m14, &mut *m15],
            ];
            for ((p, q), [o0, o1, o2, o3]) in rows.into_iter().zip(outs) {
                st(o0, x, p);
                st(o1, x, add(p, q));
                st(o2, x, sub(p, q));
                st(o3, x, neg(q));
            }
        });
    }
    put_rows(scratch);
}

/// `dd = B dV Bᵀ` for the tiles of one input-gradient plane, overlap-added in tile order
/// into a zero-padded plane whose interior is then written to `plane`; `dV[ξ]` of tile
/// `tt` is `dv[ξ·xs + at + tt]`.
#[inline(always)]
fn dx_plane_impl(g: Wino, dv: &[f32], xs: usize, at: usize, plane: &mut [f32]) {
    let (h, w, tw, th) = (g.h, g.w, g.tw, g.th);
    let (pw, hl) = (2 * tw + 2, tw + 1);
    let ph = 2 * th + 2;
    let mut scratch = take_rows(ph * pw + 4 * pw + 4 * hl);
    let (pad, rest) = scratch[..ph * pw + 4 * pw + 4 * hl].split_at_mut(ph * pw);
    let (erow, rest) = rest.split_at_mut(4 * pw);
    let [p, q, r, s] = four_mut(rest, hl);
    pad.fill(0.0);
    for ty in 0..th {
        let base = at + ty * tw;
        // Over columns, for each row i: tile x adds d0, d1 − d2 + d3, d1 + d2 − d0, −d3 to
        // padded columns 2x .. 2x + 3; even column k gets p[k] + q[k], odd r[k] + s[k].
        for i in 0..4 {
            let (d0, d1) = (
                &dv[4 * i * xs + base..][..tw],
                &dv[(4 * i + 1) * xs + base..][..tw],
            );
            let (d2, d3) = (
                &dv[(4 * i + 2) * xs + base..][..tw],
                &dv[(4 * i + 3) * xs + base..][..tw],
            );
            p[tw] = 0.0;
            q[0] = 0.0;
            r[tw] = 0.0;
            s[0] = 0.0;
            {
                let (pl, ql, rl, sl) = (&mut p[..tw], &mut q[1..], &mut r[..tw], &mut s[1..]);
                by_lanes!(tw, |x, N| {
                    let (a0, a1) = (ld::<N>(d0, x), ld::<N>(d1, x));
                    let (a2, a3) = (ld::<N>(d2, x), ld::<N>(d3, x));
                    st(pl, x, a0);
                    st(ql, x, sub(add(a1, a2), a0));
                    st(rl, x, add(sub(a1, a2), a3));
                    st(sl, x, neg(a3));
                });
            }
            let e = &mut erow[i * pw..(i + 1) * pw];
            let (p, q, r, s) = (&*p, &*q, &*r, &*s);
            by_lanes!(hl, |k, N| {
                let ev = add(ld::<N>(p, k), ld::<N>(q, k));
                let od = add(ld::<N>(r, k), ld::<N>(s, k));
                st2(e, 2 * k, ev, od);
            });
        }
        // Over rows: padded rows 2ty .. 2ty + 3 get e0, e1 − e2 + e3, e1 + e2 − e0, −e3.
        let [e0, e1, e2, e3] = four(erow, pw);
        let [a, b, c, d] = four_mut(&mut pad[2 * ty * pw..], pw);
        by_lanes!(pw, |k, N| {
            let (f0, f1) = (ld::<N>(e0, k), ld::<N>(e1, k));
            let (f2, f3) = (ld::<N>(e2, k), ld::<N>(e3, k));
            st(a, k, add(ld::<N>(a, k), f0));
            st(b, k, add(ld::<N>(b, k), add(sub(f1, f2), f3)));
            st(c, k, add(ld::<N>(c, k), sub(add(f1, f2), f0)));
            st(d, k, sub(ld::<N>(d, k), f3));
        });
    }
    for (iy, dst) in plane.chunks_exact_mut(w).enumerate().take(h) {
        dst.copy_from_slice(&pad[(iy + 1) * pw + 1..(iy + 1) * pw + 1 + w]);
    }
    put_rows(scratch);
}

/// `U = G g Gᵀ` for `len` filters at once (`g` holds at least 16 rows of `len`): filter
/// element `k` (row-major 3 × 3) of filter `f` is `g[k·len + f]`; position `ξ` goes to `u[ξ·xs + f]`.
#[inline(always)]
fn u_rows_impl(g: &[f32], len: usize, u: &mut [f32], xs: usize) {
    let gr = rows16(g, len, 0, len);
    let outs = rows16_mut(u, xs, 0, len);
    by_lanes!(len, |f, N| {
        let ld9: [L<N>; 9] = [
            ld::<N>(gr[0], f),
            ld::<N>(gr[1], f),
            ld::<N>(gr[2], f),
            ld::<N>(gr[3], f),
            ld::<N>(gr[4], f),
            ld::<N>(gr[5], f),
            ld::<N>(gr[6], f),
            ld::<N>(gr[7], f),
            ld::<N>(gr[8], f),
        ];
        // G g: rows g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2 (each over 3 columns).
        let mut gg = [[[0f32; N]; 3]; 4];
        for j in 0..3 {
            let (a, b, d) = (ld9[j], ld9[3 + j], ld9[6 + j]);
            gg[0][j] = a;
            gg[1][j] = half(add(add(a, b), d));
            gg[2][j] = half(add(sub(a, b), d));
            gg[3][j] = d;
        }
        // (G g) Gᵀ over columns, likewise.
        for (i, r) in gg.iter().enumerate() {
            let (a, b, d) = (r[0], r[1], r[2]);
            let row = [a, half(add(add(a, b), d)), half(add(sub(a, b), d)), d];
            for (j, val) in row.into_iter().enumerate() {
                st(&mut *outs[4 * i + j], f, val);
            }
        }
    });
}

/// `dg = Gᵀ dU G` for `len` filters at once: position `ξ` of filter `f` is
/// `du[ξ·xs + f]`; filter element `k` goes to `g[k·len + f]` (`g` holds 16 rows of `len`).
#[inline(always)]
fn dw_rows_impl(du: &[f32], xs: usize, len: usize, g: &mut [f32]) {
    let dr = rows16(du, xs, 0, len);
    let outs = rows16_mut(g, len, 0, len);
    by_lanes!(len, |f, N| {
        // Gᵀ X over rows: X0 + (X1 + X2)/2, (X1 − X2)/2, (X1 + X2)/2 + X3 (4 columns each).
        let mut r = [[[0f32; N]; 4]; 3];
        for j in 0..4 {
            let (a, b) = (ld::<N>(dr[j], f), ld::<N>(dr[4 + j], f));
            let (d, e) = (ld::<N>(dr[8 + j], f), ld::<N>(dr[12 + j], f));
            r[0][j] = add(a, half(add(b, d)));
            r[1][j] = half(sub(b, d));
            r[2][j] = add(half(add(b, d)), e);
        }
        // (Gᵀ X) G over columns, likewise.
        for (i, row) in r.iter().enumerate() {
            let (a, b, d, e) = (row[0], row[1], row[2], row[3]);
            st(&mut *outs[3 * i], f, add(a, half(add(b, d))));
            st(&mut *outs[3 * i + 1], f, half(sub(b, d)));
            st(&mut *outs[3 * i + 2], f, add(half(add(b, d)), e));
        }
    });
}
