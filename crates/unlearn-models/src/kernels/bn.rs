//! BatchNorm over channels as one pass forward and one pass backward, optionally fused
//! with a residual add and a ReLU: `relu(bn(x) + s)` (ResNet's blocks).

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::{applies, msg, slice, tensor, with_data, Kernels};
use crate::error::Result;

/// What follows the normalisation in the same op.
#[derive(Clone, Copy, Debug, Default)]
pub struct BnAct<'a> {
    /// Added after the affine step (same shape as the input).
    pub residual: Option<&'a Tensor>,
    /// ReLU last.
    pub relu: bool,
}

/// Training-mode BatchNorm of an N × C × H × W batch with the batch's statistics:
/// `(y, mean, biased variance)`, the statistics as C-vectors for the running averages.
/// On the fast path the statistics are accumulated in `f64`, per channel in a fixed order;
/// elsewhere (see the [module docs](super)) candle's ops compute the same.
pub fn batch_norm_train(
    kernels: Kernels,
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    batch_norm_train_act(kernels, x, weight, bias, eps, BnAct::default())
}

/// [`batch_norm_train`] followed by `act` (residual add, ReLU) in the same op:
/// `y = relu(bn(x) + residual)`, differentiable in `x`, `weight`, `bias` and `residual`.
pub fn batch_norm_train_act(
    kernels: Kernels,
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
    act: BnAct<'_>,
) -> Result<(Tensor, Tensor, Tensor)> {
    if let Some(out) = fast_train(kernels, x, weight, bias, eps, act)? {
        return Ok(out);
    }
    // candle's ops: the batch's mean and biased variance, then the affine step.
    let (n, _c, h, w) = x.dims4()?;
    let m = (n * h * w) as f64;
    let shape = (1, (), 1, 1);
    let mean = (x.sum_keepdim((0, 2, 3))? / m)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = (centred.sqr()?.sum_keepdim((0, 2, 3))? / m)?;
    let inv_std = (var.clone() + eps)?.sqrt()?.recip()?;
    let y = centred
        .broadcast_mul(&(inv_std.broadcast_mul(&weight.reshape(shape)?))?)?
        .broadcast_add(&bias.reshape(shape)?)?;
    Ok((act.finish(y)?, mean, var))
}

impl BnAct<'_> {
    /// The tail with candle's ops: `relu(y + residual)`, each part when asked for.
    fn finish(&self, y: Tensor) -> Result<Tensor> {
        let y = match self.residual {
            Some(s) => (y + s)?,
            None => y,
        };
        Ok(if self.relu { y.relu()? } else { y })
    }
}

/// The fast path of [`batch_norm_train_act`]; `None` where it does not apply.
fn fast_train(
    kernels: Kernels,
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
    act: BnAct<'_>,
) -> Result<Option<(Tensor, Tensor, Tensor)>> {
    if !applies(kernels, &[x, weight, bias]) || x.rank() != 4 {
        return Ok(None);
    }
    let (n, c, h, w) = x.dims4()?;
    if n * h * w == 0 || weight.elem_count() != c || bias.elem_count() != c {
        return Ok(None);
    }
    if let Some(s) = act.residual {
        if !applies(kernels, &[s]) || s.dims() != x.dims() {
            return Ok(None);
        }
    }
    let x = x.contiguous()?;
    let hw = h * w;
    let m = (n * hw) as f64;
    let (mean, var) = with_data(&x, |xd| {
        let stats: Vec<(f64, f64)> = (0..c)
            .into_par_iter()
            .map(|ci| {
                let planes = || (0..n).map(|ni| &xd[(ni * c + ci) * hw..(ni * c + ci + 1) * hw]);
                let (mut sum, mut sq) = (0f64, 0f64);
                for p in planes() {
                    let (a, b) = sum_sq_f64(p);
                    sum += a;
                    sq += b;
                }
                let mean = sum / m;
                (mean, (sq / m - mean * mean).max(0.0))
            })
            .collect();
        Ok(stats.into_iter().unzip::<f64, f64, Vec<_>, Vec<_>>())
    })?;
    let op = BnOp {
        mean: mean.iter().map(|v| *v as f32).collect(),
        inv_std: var
            .iter()
            .map(|v| (1.0 / (v + eps).sqrt()) as f32)
            .collect(),
        train: true,
        relu: act.relu,
        residual: act.residual.is_some(),
    };
    let y = op.apply(&x, weight, bias, act.residual)?;
    let mean = tensor(mean.iter().map(|v| *v as f32).collect(), &[c])?;
    let var = tensor(var.iter().map(|v| *v as f32).collect(), &[c])?;
    Ok(Some((y, mean, var)))
}

/// Eval-mode BatchNorm with running statistics, `(x − mean) · weight / √(var + eps) + bias`,
/// differentiable in `x`, `weight` and `bias`.
pub fn batch_norm_eval(
    kernels: Kernels,
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    batch_norm_eval_act(
        kernels,
        x,
        weight,
        bias,
        running_mean,
        running_var,
        eps,
        BnAct::default(),
    )
}

/// [`batch_norm_eval`] followed by `act` (residual add, ReLU) in the same op.
// The arguments of PyTorch's `F.batch_norm` plus the kernel choice and the fused tail.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_eval_act(
    kernels: Kernels,
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    eps: f64,
    act: BnAct<'_>,
) -> Result<Tensor> {
    let stats = (running_mean, running_var);
    if let Some(y) = fast_eval(kernels, x, weight, bias, stats, eps, act)? {
        return Ok(y);
    }
    // candle's ops: one scale and one shift per channel.
    let shape = (1, (), 1, 1);
    let inv_std = (running_var + eps)?.sqrt()?.recip()?;
    let scale = inv_std.mul(weight)?;
    let shift = bias.sub(&running_mean.mul(&scale)?)?;
    act.finish(
        x.broadcast_mul(&scale.reshape(shape)?)?
            .broadcast_add(&shift.reshape(shape)?)?,
    )
}

/// The fast path of [`batch_norm_eval_act`] (`running` is the mean and the variance);
/// `None` where it does not apply.
fn fast_eval(
    kernels: Kernels,
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    running: (&Tensor, &Tensor),
    eps: f64,
    act: BnAct<'_>,
) -> Result<Option<Tensor>> {
    let (running_mean, running_var) = running;
    if !applies(kernels, &[x, weight, bias, running_mean, running_var]) || x.rank() != 4 {
        return Ok(None);
    }
    let c = x.dim(1)?;
    if [weight, bias, running_mean, running_var]
        .iter()
        .any(|t| t.elem_count() != c)
    {
        return Ok(None);
    }
    if let Some(s) = act.residual {
        if !applies(kernels, &[s]) || s.dims() != x.dims() {
            return Ok(None);
        }
    }
    let mean = running_mean.flatten_all()?.to_vec1::<f32>()?;
    let inv_std = running_var
        .flatten_all()?
        .to_vec1::<f32>()?
        .iter()
        .map(|v| (1.0 / (*v as f64 + eps).sqrt()) as f32)
        .collect();
    let op = BnOp {
        mean,
        inv_std,
        train: false,
        relu: act.relu,
        residual: act.residual.is_some(),
    };
    Ok(Some(op.apply(
        &x.contiguous()?,
        weight,
        bias,
        act.residual,
    )?))
}

avx2_dispatch!(sum_sq_f64 => sum_sq_impl(v: &[f32]) -> (f64, f64));
avx2_dispatch!(grad_sums_masked => grad_sums_impl_masked(g: &[f32], x: &[f32], m: &[f32], mean: f64) -> (f64, f64));
avx2_dispatch!(grad_sums_plain => grad_sums_impl_plain(g: &[f32], x: &[f32], mean: f64) -> (f64, f64));

/// `(Σ v, Σ v²)` in `f64`: eight lanes each, added in a fixed order.
#[inline(always)]
fn sum_sq_impl(v: &[f32]) -> (f64, f64) {
    let mut s = [0f64; 8];
    let mut q = [0f64; 8];
    let mut it = v.chunks_exact(8);
    for ch in &mut it {
        for k in 0..8 {
            let x = ch[k] as f64;
            s[k] += x;
            q[k] += x * x;
        }
    }
    let (mut ts, mut tq) = (0f64, 0f64);
    for x in it.remainder() {
        let x = *x as f64;
        ts += x;
        tq += x * x;
    }
    (s.iter().sum::<f64>() + ts, q.iter().sum::<f64>() + tq)
}

/// `(Σ g, Σ g · (x − mean))` in `f64`, eight lanes each added in a fixed order; with
/// `mask`, `g` counts only where the mask (the ReLU's output) is positive.
fn grad_sums_f64(g: &[f32], x: &[f32], mask: Option<&[f32]>, mean: f64) -> (f64, f64) {
    match mask {
        Some(m) => grad_sums_masked(g, x, m, mean),
        None => grad_sums_plain(g, x, mean),
    }
}

#[inline(always)]
fn grad_sums_impl_masked(g: &[f32], x: &[f32], m: &[f32], mean: f64) -> (f64, f64) {
    grad_sums_impl::<true>(g, x, m, mean)
}

#[inline(always)]
fn grad_sums_impl_plain(g: &[f32], x: &[f32], mean: f64) -> (f64, f64) {
    grad_sums_impl::<false>(g, x, &[], mean)
}

#[inline(always)]
fn grad_sums_impl<const MASK: bool>(g: &[f32], x: &[f32], m: &[f32], mean: f64) -> (f64, f64) {
    let mut sg = [0f64; 8];
    let mut sgx = [0f64; 8];
    let n = g.len().min(x.len());
    let n = if MASK { n.min(m.len()) } else { n };
    let n8 = n / 8 * 8;
    let masked = |gc: &[f32], mc: Option<&[f32]>| -> [f32; 8] {
        let mut o = [0f32; 8];
        o.copy_from_slice(&gc[..8]);
        if let Some(mc) = mc {
            for (v, y) in o.iter_mut().zip(mc) {
                *v = if *y > 0.0 { *v } else { 0.0 };
            }
        }
        o
    };
    let mut mi = m[..if MASK { n8 } else { 0 }].chunks_exact(8);
    for (gc, xc) in g[..n8].chunks_exact(8).zip(x[..n8].chunks_exact(8)) {
        let gv = masked(gc, if MASK { mi.next() } else { None });
        for l in 0..8 {
            let gl = gv[l] as f64;
            sg[l] += gl;
            sgx[l] += gl * (xc[l] as f64 - mean);
        }
    }
    let (mut tg, mut tgx) = (0f64, 0f64);
    for k in n8..n {
        let gv = if MASK && m[k] <= 0.0 {
            0.0
        } else {
            g[k] as f64
        };
        tg += gv;
        tgx += gv * (x[k] as f64 - mean);
    }
    (sg.iter().sum::<f64>() + tg, sgx.iter().sum::<f64>() + tgx)
}

/// `y = act((x − mean) · inv_std · weight + bias)`; in training mode the statistics are the
/// batch's own, which the backward pass differentiates through. With `residual`, the op's
/// inputs are `(x, [weight; bias], residual)`, otherwise `(x, weight, bias)`.
#[derive(Clone, Debug)]
struct BnOp {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    train: bool,
    relu: bool,
    residual: bool,
}

impl BnOp {
    fn apply(
        self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        residual: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        match residual {
            Some(s) => {
                let wb = Tensor::cat(&[&weight.flatten_all()?, &bias.flatten_all()?], 0)?;
                x.apply_op3(&wb, &s.contiguous()?, self)
            }
            None => x.apply_op3(&weight.contiguous()?, &bias.contiguous()?, self),
        }
    }

    fn dims(&self, s: &Shape) -> candle_core::Result<(usize, usize, usize)> {
        let (n, c, h, w) = s.dims4()?;
        if c != self.mean.len() {
            return Err(msg(format!(
                "batch-norm: {c} channels, {} statistics",
                self.mean.len()
            )));
        }
        Ok((n, c, h * w))
    }
}

impl CustomOp3 for BnOp {
    fn name(&self) -> &'static str {
        "fast-batch-norm"
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
        let (_, c, hw) = self.dims(l1.shape())?;
        let x = slice(s1, l1)?;
        let (w, b, res) = if self.residual {
            let wb = slice(s2, l2)?;
            if wb.len() != 2 * c {
                return Err(msg(
                    "batch-norm: weight and bias length differs from channels",
                ));
            }
            let r = slice(s3, l3)?;
            if r.len() != x.len() {
                return Err(msg("batch-norm: residual shape differs from the input"));
            }
            (&wb[..c], &wb[c..], Some(r))
        } else {
            (slice(s2, l2)?, slice(s3, l3)?, None)
        };
        if w.len() != c || b.len() != c {
            return Err(msg(
                "batch-norm: weight or bias length differs from channels",
            ));
        }
        let mut y = vec![0f32; x.len()];
        if hw > 0 {
            y.par_chunks_mut(hw)
                .zip(x.par_chunks(hw))
                .enumerate()
                .with_min_len(4)
                .for_each(|(i, (yp, xp))| {
                    let ci = i % c;
                    let scale = self.inv_std[ci] * w[ci];
                    let (mu, shift) = (self.mean[ci], b[ci]);
                    let r = res.map_or(&[][..], |r| &r[i * hw..(i + 1) * hw]);
                    fwd_plane(yp, xp, r, [mu, scale, shift], self.relu);
                });
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, c, hw) = self.dims(x.shape())?;
        let m = (n * hw) as f64;
        let wv = weight.flatten_all()?.to_vec1::<f32>()?;
        let w = &wv[..c.min(wv.len())];
        if w.len() != c {
            return Err(msg("batch-norm: weight length differs from channels"));
        }
        let want_dx = x.track_op();
        // The gradient at the normalised output: through the ReLU (where the output is
        // positive). With a residual it is also the residual's gradient, so it becomes a
        // tensor; otherwise the ReLU's mask is applied on the fly.
        let g = if self.relu && self.residual && hw > 0 {
            let g = with_data(grad, |gd| {
                with_data(res, |yd| {
                    let mut g = vec![0f32; gd.len()];
                    g.par_chunks_mut(hw)
                        .zip(gd.par_chunks(hw).zip(yd.par_chunks(hw)))
                        .with_min_len(4)
                        .for_each(|(o, (gp, yp))| {
                            for ((o, g), y) in o.iter_mut().zip(gp).zip(yp) {
                                *o = if *y > 0.0 { *g } else { 0.0 };
                            }
                        });
                    Ok(g)
                })
            })?;
            tensor(g, x.dims())?
        } else {
            grad.contiguous()?
        };
        let mask = if self.relu && !self.residual {
            Some(res.contiguous()?)
        } else {
            None
        };
        let no_mask: &[f32] = &[];
        let (dx, dw, db) = with_data(x, |xd| {
            with_data(&g, |gd| {
                let body = |md: Option<&[f32]>| {
                    // Per channel: Σ dy and Σ dy · x̂, in a fixed order.
                    let sums: Vec<(f64, f64)> = (0..c)
                        .into_par_iter()
                        .map(|ci| {
                            let (mu, is) = (self.mean[ci] as f64, self.inv_std[ci] as f64);
                            let (mut sd, mut sdx) = (0f64, 0f64);
                            for ni in 0..n {
                                let r = (ni * c + ci) * hw..(ni * c + ci + 1) * hw;
                                let mr = md.map(|m| &m[r.clone()]);
                                let (a, b) = grad_sums_f64(&gd[r.clone()], &xd[r], mr, mu);
                                sd += a;
                                sdx += b;
                            }
                            (sd, sdx * is)
                        })
                        .collect();
                    let dx = if want_dx && hw > 0 {
                        let mut dx = vec![0f32; xd.len()];
                        let mp = md.unwrap_or(no_mask);
                        dx.par_chunks_mut(hw)
                            .zip(xd.par_chunks(hw).zip(gd.par_chunks(hw)))
                            .enumerate()
                            .with_min_len(4)
                            .for_each(|(i, (d, (xp, gp)))| {
                                let ci = i % c;
                                let is = self.inv_std[ci];
                                let k = is * w[ci];
                                let mrow = if md.is_some() {
                                    &mp[i * hw..(i + 1) * hw]
                                } else {
                                    no_mask
                                };
                                let (mean_dy, mean_dyx, mu) = if self.train {
                                    let (sd, sdx) = sums[ci];
                                    ((sd / m) as f32, (sdx / m) as f32, self.mean[ci])
                                } else {
                                    (0.0, 0.0, 0.0)
                                };
                                let coef = [k, is, mu, mean_dy, mean_dyx];
                                dx_plane(d, xp, gp, mrow, coef, self.train);
                            });
                        Some(dx)
                    } else {
                        None
                    };
                    let dw = sums.iter().map(|s| s.1 as f32).collect::<Vec<_>>();
                    let db = sums.iter().map(|s| s.0 as f32).collect::<Vec<_>>();
                    Ok((dx, dw, db))
                };
                match &mask {
                    Some(mt) => with_data(mt, |md| body(Some(md))),
                    None => body(None),
                }
            })
        })?;
        let dx = match dx {
            Some(v) => Some(tensor(v, x.dims())?),
            None => None,
        };
        if self.residual {
            let mut wb = dw;
            wb.extend_from_slice(&db);
            Ok((dx, Some(tensor(wb, &[2 * c])?), Some(g)))
        } else {
            Ok((dx, Some(tensor(dw, &[c])?), Some(tensor(db, &[c])?)))
        }
    }
}

avx2_dispatch!(fwd_plane => fwd_plane_impl(y: &mut [f32], x: &[f32], r: &[f32], coef: [f32; 3], relu: bool));
avx2_dispatch!(dx_plane => dx_plane_impl(d: &mut [f32], x: &[f32], g: &[f32], mask: &[f32], coef: [f32; 5], train: bool));

/// One plane of the forward pass: `y = act((x − mu) · scale + shift [+ r])`, `coef` =
/// `[mu, scale, shift]`; `r` empty for no residual.
#[inline(always)]
fn fwd_plane_impl(y: &mut [f32], x: &[f32], r: &[f32], coef: [f32; 3], relu: bool) {
    let [mu, scale, shift] = coef;
    for (d, s) in y.iter_mut().zip(x) {
        *d = (*s - mu) * scale + shift;
    }
    if !r.is_empty() {
        for (d, s) in y.iter_mut().zip(r) {
            *d += *s;
        }
    }
    if relu {
        for d in y.iter_mut() {
            *d = if *d > 0.0 { *d } else { 0.0 };
        }
    }
}

/// One plane of the input gradient, `coef` = `[k = inv_std · weight, inv_std, mean,
/// mean dy, mean dy · x̂]`: in training mode `k (g − mean_dy − x̂ · mean_dyx)`, in eval
/// mode `k g`, with `g` zero where `mask` (the ReLU's output; empty for none) is not
/// positive.
#[inline(always)]
fn dx_plane_impl(d: &mut [f32], x: &[f32], g: &[f32], mask: &[f32], coef: [f32; 5], train: bool) {
    let [k, is, mu, mean_dy, mean_dyx] = coef;
    match (train, mask.is_empty()) {
        (true, true) => {
            for ((o, v), g) in d.iter_mut().zip(x).zip(g) {
                let xhat = (*v - mu) * is;
                *o = k * (*g - mean_dy - xhat * mean_dyx);
            }
        }
        (true, false) => {
            for (((o, v), g), y) in d.iter_mut().zip(x).zip(g).zip(mask) {
                let g = if *y > 0.0 { *g } else { 0.0 };
                let xhat = (*v - mu) * is;
                *o = k * (g - mean_dy - xhat * mean_dyx);
            }
        }
        (false, true) => {
            for (o, g) in d.iter_mut().zip(g) {
                *o = k * *g;
            }
        }
        (false, false) => {
            for ((o, g), y) in d.iter_mut().zip(g).zip(mask) {
                *o = if *y > 0.0 { k * *g } else { 0.0 };
            }
        }
    }
}
