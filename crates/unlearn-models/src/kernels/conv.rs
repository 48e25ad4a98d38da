//! 2-D convolution via im2col / col2im and single-threaded `gemm` per group of images.

use std::cell::RefCell;
use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::dense::{mm, sum};
use super::{applies, groups, msg, slice, tensor, winograd, with_data, Kernels};
use crate::error::Result;

/// Largest im2col buffer of one group, in floats (32 MiB).
const MAX_COL_FLOATS: usize = 8 << 20;

/// Convolution of an N × C × H × W batch with an O × C × k × k weight (square kernel,
/// same stride and padding on both axes, no dilation or groups), plus an optional bias
/// of length O. Fast path on CPU `f32` (see the [module docs](super)); candle's
/// `conv2d` + broadcast add otherwise.
pub fn conv2d(
    kernels: Kernels,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let ok = match bias {
        Some(b) => applies(kernels, &[x, weight, b]),
        None => applies(kernels, &[x, weight]),
    };
    if ok {
        if let (Ok((_, c, h, w)), Ok((_, ci, kh, kw))) = (x.dims4(), weight.dims4()) {
            if c == ci && kh == kw && stride > 0 && h + 2 * padding >= kh && w + 2 * padding >= kw {
                let op = ConvOp {
                    stride,
                    padding,
                    pool: 1,
                    argmax: Mutex::new(Vec::new()),
                };
                let (x, weight) = (x.contiguous()?, weight.contiguous()?);
                return Ok(match bias {
                    Some(b) => x.apply_op3(&weight, &b.contiguous()?, op)?,
                    None => x.apply_op2(&weight, op)?,
                });
            }
        }
    }
    let y = x.conv2d(weight, padding, stride, 1, 1)?;
    Ok(match bias {
        None => y,
        Some(b) => y.broadcast_add(&b.reshape((1, (), 1, 1))?)?,
    })
}

/// `max_pool2d(relu(conv2d(x, weight) + bias), k)` (pool kernel = stride = `k`, floor
/// mode) as one op: on CPU `f32` the convolution output never becomes a tensor; the
/// forward pass keeps, per pooled value, which window element won (or that ReLU cut it),
/// and the backward pass scatters the pooled gradient straight into the im2col GEMM.
/// The gradient goes to the first maximum of each window (PyTorch's choice). Candle's
/// `conv2d`, `relu` and `max_pool2d` elsewhere.
pub fn conv2d_relu_max_pool2d(
    kernels: Kernels,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
    k: usize,
) -> Result<Tensor> {
    let ok = match bias {
        Some(b) => applies(kernels, &[x, weight, b]),
        None => applies(kernels, &[x, weight]),
    };
    if ok && (1..=15).contains(&k) {
        if let (Ok((_, c, h, w)), Ok((_, ci, kh, kw))) = (x.dims4(), weight.dims4()) {
            let fits = c == ci && kh == kw && stride > 0;
            if fits && h + 2 * padding >= kh && w + 2 * padding >= kw {
                let oh = (h + 2 * padding - kh) / stride + 1;
                let ow = (w + 2 * padding - kw) / stride + 1;
                if oh >= k && ow >= k {
                    let op = ConvOp {
                        stride,
                        padding,
                        pool: k,
                        argmax: Mutex::new(Vec::new()),
                    };
                    let (x, weight) = (x.contiguous()?, weight.contiguous()?);
                    return Ok(match bias {
                        Some(b) => x.apply_op3(&weight, &b.contiguous()?, op)?,
                        None => x.apply_op2(&weight, op)?,
                    });
                }
            }
        }
    }
    super::pool::max_pool2d(
        &conv2d(kernels, x, weight, bias, stride, padding)?.relu()?,
        k,
    )
}

/// Marks a pooled value that ReLU set to zero (no gradient).
const CUT: u8 = u8::MAX;

#[derive(Debug)]
struct ConvOp {
    stride: usize,
    padding: usize,
    /// Fused ReLU + max-pool kernel (1: none).
    pool: usize,
    /// With `pool > 1`: per pooled value, the winning element of its window, or [`CUT`].
    argmax: Mutex<Vec<u8>>,
}

/// Shapes of one convolution.
#[derive(Clone, Copy, Debug)]
struct Geom {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    k: usize,
    s: usize,
    p: usize,
    oh: usize,
    ow: usize,
}

impl Geom {
    fn new(op: &ConvOp, x: &Shape, w: &Shape) -> candle_core::Result<Self> {
        let (n, c, h, wd) = x.dims4()?;
        let (o, ci, k, k2) = w.dims4()?;
        if ci != c || k != k2 || h + 2 * op.padding < k || wd + 2 * op.padding < k {
            return Err(msg(format!(
                "conv2d: input {x:?} and weight {w:?} do not match"
            )));
        }
        Ok(Self {
            n,
            c,
            h,
            w: wd,
            o,
            k,
            s: op.stride,
            p: op.padding,
            oh: (h + 2 * op.padding - k) / op.stride + 1,
            ow: (wd + 2 * op.padding - k) / op.stride + 1,
        })
    }
    /// Rows of the im2col matrix (C·k·k).
    fn kdim(&self) -> usize {
        self.c * self.k * self.k
    }
    /// Output pixels per image.
    fn pdim(&self) -> usize {
        self.oh * self.ow
    }
    fn chw(&self) -> usize {
        self.c * self.h * self.w
    }
    /// `(images per group, groups)`.
    fn groups(&self) -> (usize, usize) {
        let max_cols = (MAX_COL_FLOATS / self.kdim().max(1)).max(self.pdim());
        groups(self.n, self.pdim(), max_cols)
    }

    /// Writes image `x` as im2col columns `off .. off + P` of `col` (row stride `ld`).
    fn im2col(&self, x: &[f32], col: &mut [f32], ld: usize, off: usize) {
        if self.s == 1 && (8..=SHORT_ROW).contains(&self.ow) && (8..=SHORT_ROW).contains(&self.w) {
            self.im2col_unit_stride(x, col, ld, off);
        } else {
            self.im2col_general(x, col, ld, off);
        }
    }

    /// [`Geom::im2col`] for any geometry, row segment by row segment.
    fn im2col_general(&self, x: &[f32], col: &mut [f32], ld: usize, off: usize) {
        let (k, s, p, w, ow) = (self.k, self.s, self.p, self.w, self.ow);
        for ci in 0..self.c {
            let plane = &x[ci * self.h * w..(ci + 1) * self.h * w];
            for ki in 0..k {
                for kj in 0..k {
                    let row = (ci * k + ki) * k + kj;
                    let dst = &mut col[row * ld + off..row * ld + off + self.pdim()];
                    // Valid output columns for this kj: ix = xo*s + kj - p in [0, w).
                    let lo = p.saturating_sub(kj).div_ceil(s).min(ow);
                    let hi = if w + p > kj {
                        ((w + p - kj - 1) / s + 1).min(ow).max(lo)
                    } else {
                        lo
                    };
                    for (yo, d) in dst.chunks_exact_mut(ow).enumerate() {
                        let iy = yo * s + ki;
                        if iy < p || iy - p >= self.h {
                            d.fill(0.0);
                            continue;
                        }
                        let src = &plane[(iy - p) * w..(iy - p + 1) * w];
                        d[..lo].fill(0.0);
                        d[hi..].fill(0.0);
                        if s == 1 {
                            d[lo..hi].copy_from_slice(&src[lo + kj - p..hi + kj - p]);
                        } else {
                            for (xo, v) in d[lo..hi].iter_mut().enumerate() {
                                *v = src[(lo + xo) * s + kj - p];
                            }
                        }
                    }
                }
            }
        }
    }

    /// [`Geom::im2col`] at stride 1 with rows of 8 to [`SHORT_ROW`] floats (the small CNN's
    /// convolutions): each channel is first copied into a zero-bordered plane, so that
    /// every im2col row is a straight copy of `ow` floats from it, the padding included.
    /// The per-row `memcpy`/`memset` calls of the general path (a few floats each) were a
    /// tenth of a training step's time; the values written are the same.
    fn im2col_unit_stride(&self, x: &[f32], col: &mut [f32], ld: usize, off: usize) {
        let (k, p, h, w, oh, ow) = (self.k, self.p, self.h, self.w, self.oh, self.ow);
        let pw = w + 2 * p;
        PADDED.with(|buf| {
            let mut buf = buf.borrow_mut();
            // The border stays zero: only the interior is written, channel after channel.
            buf.clear();
            buf.resize((h + 2 * p) * pw, 0.0);
            for ci in 0..self.c {
                let plane = &x[ci * h * w..(ci + 1) * h * w];
                for (y, src) in plane.chunks_exact(w).enumerate() {
                    copy_short(&mut buf[(y + p) * pw + p..(y + p) * pw + p + w], src);
                }
                for ki in 0..k {
                    for kj in 0..k {
                        let row = (ci * k + ki) * k + kj;
                        let dst = &mut col[row * ld + off..row * ld + off + oh * ow];
                        for (yo, d) in dst.chunks_exact_mut(ow).enumerate() {
                            let from = (yo + ki) * pw + kj;
                            copy_short(d, &buf[from..from + ow]);
                        }
                    }
                }
            }
        });
    }

    /// Adds im2col columns `off .. off + P` of `col` (row stride `ld`) back into image `dx`.
    fn col2im(&self, col: &[f32], ld: usize, off: usize, dx: &mut [f32]) {
        let (k, s, p, w, ow) = (self.k, self.s, self.p, self.w, self.ow);
        for ci in 0..self.c {
            let plane = &mut dx[ci * self.h * w..(ci + 1) * self.h * w];
            for ki in 0..k {
                for kj in 0..k {
                    let row = (ci * k + ki) * k + kj;
                    let src = &col[row * ld + off..row * ld + off + self.pdim()];
                    let lo = p.saturating_sub(kj).div_ceil(s).min(ow);
                    let hi = if w + p > kj {
                        ((w + p - kj - 1) / s + 1).min(ow).max(lo)
                    } else {
                        lo
                    };
                    for (yo, d) in src.chunks_exact(ow).enumerate() {
                        let iy = yo * s + ki;
                        if iy < p || iy - p >= self.h {
                            continue;
                        }
                        let dst = &mut plane[(iy - p) * w..(iy - p + 1) * w];
                        if s == 1 {
                            for (a, b) in dst[lo + kj - p..hi + kj - p].iter_mut().zip(&d[lo..hi]) {
                                *a += *b;
                            }
                        } else {
                            for (xo, v) in d[lo..hi].iter().enumerate() {
                                dst[(lo + xo) * s + kj - p] += *v;
                            }
                        }
                    }
                }
            }
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    /// [`Geom::im2col_unit_stride`]'s zero-bordered plane.
    static PADDED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The longest row [`copy_short`] copies without a library call.
const SHORT_ROW: usize = 32;

/// Copies `src` into `dst` (equal lengths). Rows of 8 to [`SHORT_ROW`] floats are copied
/// as up to four fixed 8-float blocks, the last one overlapping the one before it: a few
/// vector moves, where `copy_from_slice` calls `memcpy` for every short row.
#[inline(always)]
fn copy_short(dst: &mut [f32], src: &[f32]) {
    let n = dst.len();
    if !(8..=SHORT_ROW).contains(&n) || src.len() != n {
        dst.copy_from_slice(src);
        return;
    }
    let mut block = |at: usize| dst[at..at + 8].copy_from_slice(&src[at..at + 8]);
    block(0);
    if n > 16 {
        block(8);
    }
    if n > 24 {
        block(16);
    }
    block(n - 8);
}

/// Two per-thread scratch buffers of at least `a` and `b` floats (contents unspecified).
fn with_scratch<R>(a: usize, b: usize, f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let (x, y) = &mut *s;
        if x.len() < a {
            x.resize(a, 0.0);
        }
        if y.len() < b {
            y.resize(b, 0.0);
        }
        f(&mut x[..a], &mut y[..b])
    })
}

/// Where the output gradient comes from.
enum Dy<'a> {
    /// N × O × OH × OW.
    Dense(&'a [f32]),
    /// Pooled N × O × PH × PW with the forward pass's window winners.
    Pooled {
        grad: &'a [f32],
        argmax: &'a [u8],
        k: usize,
    },
}

/// Forward: the N × O × OH × OW output, or with `pool > 1` the pooled
/// N × O × (OH / pool) × (OW / pool) output and its window winners.
fn forward(g: &Geom, x: &[f32], w: &[f32], b: Option<&[f32]>, pool: usize) -> (Vec<f32>, Vec<u8>) {
    let (kd, pd, o) = (g.kdim(), g.pdim(), g.o);
    let (per, _) = g.groups();
    let (ph, pw) = (g.oh / pool, g.ow / pool);
    let out_img = if pool > 1 { o * ph * pw } else { o * pd };
    let mut out = vec![0f32; g.n * out_img];
    let mut argmax = vec![0u8; if pool > 1 { out.len() } else { 0 }];
    if out.is_empty() {
        return (out, argmax);
    }
    let direct = pool == 1 && pd >= 256;
    let mut idx_chunks: Vec<&mut [u8]> = if pool > 1 {
        argmax.chunks_mut(per * out_img).collect()
    } else {
        (0..g.n.div_ceil(per))
            .map(|_| <&mut [u8]>::default())
            .collect()
    };
    out.par_chunks_mut(per * out_img)
        .zip(idx_chunks.par_iter_mut())
        .enumerate()
        .for_each(|(gi, (out_g, idx_g))| {
            let n0 = gi * per;
            let ni = out_g.len() / out_img;
            let cols = ni * pd;
            let tmp_len = if direct { 0 } else { o * cols };
            with_scratch(kd * cols, tmp_len, |col, tmp| {
                for i in 0..ni {
                    let xi = &x[(n0 + i) * g.chw()..(n0 + i + 1) * g.chw()];
                    g.im2col(xi, col, cols, i * pd);
                }
                if direct {
                    for (i, y) in out_g.chunks_exact_mut(o * pd).enumerate() {
                        if let Some(b) = b {
                            for (row, bv) in y.chunks_exact_mut(pd).zip(b) {
                                row.fill(*bv);
                            }
                        }
                        let rhs = &col[i * pd..];
                        mm(o, pd, kd, y, pd, b.is_some(), w, (kd, 1), rhs, (cols, 1));
                    }
                    return;
                }
                mm(o, cols, kd, tmp, cols, false, w, (kd, 1), col, (cols, 1));
                for (i, y) in out_g.chunks_exact_mut(out_img).enumerate() {
                    for oc in 0..o {
                        let src = &tmp[oc * cols + i * pd..oc * cols + (i + 1) * pd];
                        let bv = b.map_or(0.0, |b| b[oc]);
                        if pool > 1 {
                            let r = oc * ph * pw..(oc + 1) * ph * pw;
                            pool_plane(
                                src,
                                g.ow,
                                pool,
                                pw,
                                bv,
                                &mut y[r.clone()],
                                &mut idx_g[i * out_img..][r],
                            );
                        } else {
                            let row = &mut y[oc * pd..(oc + 1) * pd];
                            for (d, s) in row.iter_mut().zip(src) {
                                *d = *s + bv;
                            }
                        }
                    }
                }
            })
        });
    drop(idx_chunks);
    (out, argmax)
}

/// ReLU + max-pool of one OH × OW plane (row length `ow`) plus bias `bv` into `out`
/// (PH × PW), recording each window's first maximum (or [`CUT`]) in `idx`.
///
/// The maximum is taken over the biased values `src + bv`, as PyTorch's
/// `max_pool2d(relu(conv2d(x, w, b)))` sees them: two outputs that differ by less than the
/// rounding of `+ bv` tie after it, and PyTorch's gradient then goes to the first. Taking
/// the maximum before the bias sent it to the other one (measured: SCRUB's parity case on
/// the small CNN, once its biases had grown, parted from the PyTorch replay by 1e-2).
fn pool_plane(
    src: &[f32],
    ow: usize,
    k: usize,
    pw: usize,
    bv: f32,
    out: &mut [f32],
    idx: &mut [u8],
) {
    if k == 2 {
        for (py, (orow, irow)) in out
            .chunks_exact_mut(pw)
            .zip(idx.chunks_exact_mut(pw))
            .enumerate()
        {
            let r0 = &src[2 * py * ow..2 * py * ow + 2 * pw];
            let r1 = &src[(2 * py + 1) * ow..(2 * py + 1) * ow + 2 * pw];
            for (px, (o, id)) in orow.iter_mut().zip(irow.iter_mut()).enumerate() {
                let c = [
                    r0[2 * px] + bv,
                    r0[2 * px + 1] + bv,
                    r1[2 * px] + bv,
                    r1[2 * px + 1] + bv,
                ];
                let (mut best, mut v) = (0u8, c[0]);
                for (i, x) in c.iter().enumerate().skip(1) {
                    if *x > v {
                        v = *x;
                        best = i as u8;
                    }
                }
                (*o, *id) = if v > 0.0 { (v, best) } else { (0.0, CUT) };
            }
        }
        return;
    }
    for (j, (o, id)) in out.iter_mut().zip(idx.iter_mut()).enumerate() {
        let (py, px) = (j / pw, j % pw);
        let mut best = 0usize;
        let mut bvl = f32::NEG_INFINITY;
        for dy in 0..k {
            let row = &src[(py * k + dy) * ow + px * k..(py * k + dy) * ow + px * k + k];
            for (dx, v) in row.iter().enumerate() {
                if *v + bv > bvl {
                    bvl = *v + bv;
                    best = dy * k + dx;
                }
            }
        }
        let v = bvl;
        if v > 0.0 {
            *o = v;
            *id = best as u8;
        } else {
            *o = 0.0;
            *id = CUT;
        }
    }
}

/// Backward: `(dx if wanted, dw, db)` from the output gradient.
fn backward(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    dy: Dy<'_>,
    want_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let (kd, pd, o) = (g.kdim(), g.pdim(), g.o);
    let (per, ng) = g.groups();
    let mut dx = if want_dx {
        vec![0f32; g.n * g.chw()]
    } else {
        Vec::new()
    };
    let mut slots: Vec<Option<&mut [f32]>> = if want_dx && !dx.is_empty() {
        dx.chunks_mut(per * g.chw()).map(Some).collect()
    } else {
        (0..ng).map(|_| None).collect()
    };
    let parts: Vec<(Vec<f32>, Vec<f64>)> = slots
        .par_iter_mut()
        .enumerate()
        .map(|(gi, dx_g)| {
            let n0 = gi * per;
            let ni = per.min(g.n - n0);
            let cols = ni * pd;
            let mut dw = vec![0f32; o * kd];
            let mut db = vec![0f64; o];
            with_scratch(kd * cols, o * cols, |col, dyt| {
                // dyt[o, (i, p)] = dy[n0 + i, o, p]
                match &dy {
                    Dy::Dense(dy) => {
                        for i in 0..ni {
                            let dyi = &dy[(n0 + i) * o * pd..(n0 + i + 1) * o * pd];
                            for (oc, src) in dyi.chunks_exact(pd).enumerate() {
                                dyt[oc * cols + i * pd..oc * cols + (i + 1) * pd]
                                    .copy_from_slice(src);
                            }
                        }
                    }
                    Dy::Pooled { grad, argmax, k } => {
                        let k = *k;
                        let (ph, pw) = (g.oh / k, g.ow / k);
                        dyt.fill(0.0);
                        for i in 0..ni {
                            for oc in 0..o {
                                let at = ((n0 + i) * o + oc) * ph * pw;
                                let gr = &grad[at..at + ph * pw];
                                let ix = &argmax[at..at + ph * pw];
                                let dst = &mut dyt[oc * cols + i * pd..oc * cols + (i + 1) * pd];
                                for (j, (gv, id)) in gr.iter().zip(ix).enumerate() {
                                    if *id != CUT {
                                        let (py, px) = (j / pw, j % pw);
                                        let (dy_, dx_) = (*id as usize / k, *id as usize % k);
                                        dst[(py * k + dy_) * g.ow + px * k + dx_] = *gv;
                                    }
                                }
                            }
                        }
                    }
                }
                for (oc, acc) in db.iter_mut().enumerate() {
                    *acc = sum(&dyt[oc * cols..(oc + 1) * cols]);
                }
                for i in 0..ni {
                    let xi = &x[(n0 + i) * g.chw()..(n0 + i + 1) * g.chw()];
                    g.im2col(xi, col, cols, i * pd);
                }
                // dW = dyt · colᵀ
                mm(
                    o,
                    kd,
                    cols,
                    &mut dw,
                    kd,
                    false,
                    dyt,
                    (cols, 1),
                    col,
                    (1, cols),
                );
                if let Some(dx_g) = dx_g {
                    // dcol = Wᵀ · dyt, into the im2col buffer.
                    mm(kd, cols, o, col, cols, false, w, (1, kd), dyt, (cols, 1));
                    for (i, dxi) in dx_g.chunks_exact_mut(g.chw()).enumerate() {
                        g.col2im(col, cols, i * pd, dxi);
                    }
                }
            });
            (dw, db)
        })
        .collect();
    let mut dw = vec![0f32; o * kd];
    let mut db = vec![0f64; o];
    for (pw, pb) in &parts {
        for (a, b) in dw.iter_mut().zip(pw) {
            *a += *b;
        }
        for (a, b) in db.iter_mut().zip(pb) {
            *a += *b;
        }
    }
    drop(slots);
    let db = db.into_iter().map(|v| v as f32).collect();
    (want_dx.then_some(dx), dw, db)
}

impl ConvOp {
    fn fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        bias: Option<&[f32]>,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = Geom::new(self, l1.shape(), l2.shape())?;
        if let Some(b) = bias {
            if b.len() != g.o {
                return Err(msg(format!(
                    "conv2d: bias of {} for {} outputs",
                    b.len(),
                    g.o
                )));
            }
        }
        let k = self.pool.max(1);
        if g.oh < k || g.ow < k {
            return Err(msg(format!(
                "max-pool {k}: conv output {}×{} too small",
                g.oh, g.ow
            )));
        }
        let (x, w) = (slice(s1, l1)?, slice(s2, l2)?);
        let (out, argmax) = if k == 1 && winograd::fits(g.c, g.k, g.s, g.p) {
            let wg = winograd::Wino::new(g.n, g.c, g.h, g.w, g.o);
            (wg.forward(x, w, bias), Vec::new())
        } else {
            forward(&g, x, w, bias, k)
        };
        if k > 1 {
            *self
                .argmax
                .lock()
                .map_err(|_| msg("conv2d: poisoned lock"))? = argmax;
        }
        Ok((
            CpuStorage::F32(out),
            Shape::from((g.n, g.o, g.oh / k, g.ow / k)),
        ))
    }

    fn grads(
        &self,
        x: &Tensor,
        w: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Tensor, Tensor)> {
        let g = Geom::new(self, x.shape(), w.shape())?;
        let want_dx = x.track_op();
        let argmax = self
            .argmax
            .lock()
            .map_err(|_| msg("conv2d: poisoned lock"))?;
        let (dx, dw, db) = with_data(x, |xd| {
            with_data(w, |wd| {
                with_data(grad, |gd| {
                    if self.pool <= 1 && winograd::fits(g.c, g.k, g.s, g.p) {
                        let wg = winograd::Wino::new(g.n, g.c, g.h, g.w, g.o);
                        return Ok(wg.backward(xd, wd, gd, want_dx));
                    }
                    let dy = if self.pool > 1 {
                        Dy::Pooled {
                            grad: gd,
                            argmax: &argmax,
                            k: self.pool,
                        }
                    } else {
                        Dy::Dense(gd)
                    };
                    Ok(backward(&g, xd, wd, dy, want_dx))
                })
            })
        })?;
        let dx = match dx {
            Some(v) => Some(tensor(v, x.dims())?),
            None => None,
        };
        Ok((dx, tensor(dw, w.dims())?, tensor(db, &[g.o])?))
    }
}

impl CustomOp2 for ConvOp {
    fn name(&self) -> &'static str {
        "fast-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.fwd(s1, l1, s2, l2, None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = self.grads(x, w, grad)?;
        Ok((dx, Some(dw)))
    }
}

impl CustomOp3 for ConvOp {
    fn name(&self) -> &'static str {
        "fast-conv2d-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.fwd(s1, l1, s2, l2, Some(slice(s3, l3)?))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, db) = self.grads(x, w, grad)?;
        Ok((dx, Some(dw), Some(db)))
    }
}

#[cfg(test)]
mod tests {
    use super::Geom;

    /// The stride-1 short-row im2col writes exactly what the general one writes, padding
    /// included, over the sides, kernels and paddings it takes.
    #[test]
    fn unit_stride_im2col_matches_the_general_one() {
        for (side, k, p) in [
            (28, 3, 1),
            (14, 3, 1),
            (8, 1, 0),
            (9, 3, 0),
            (12, 5, 2),
            (30, 3, 2),
        ] {
            let c = 3;
            let o = side + 2 * p - k + 1;
            let g = Geom {
                n: 1,
                c,
                h: side,
                w: side,
                o: 4,
                k,
                s: 1,
                p,
                oh: o,
                ow: o,
            };
            let x: Vec<f32> = (0..c * side * side)
                .map(|i| (i as f32 * 0.37).sin())
                .collect();
            // Two images side by side in a wider buffer, as a group is laid out.
            let ld = 2 * g.pdim() + 5;
            let mut a = vec![f32::NAN; g.kdim() * ld];
            let mut b = a.clone();
            for off in [0, g.pdim()] {
                g.im2col_general(&x, &mut a, ld, off);
                g.im2col(&x, &mut b, ld, off);
            }
            let same = a.iter().zip(&b).all(|(u, v)| u.to_bits() == v.to_bits());
            assert!(same, "side {side}, k {k}, p {p}");
        }
    }
}
