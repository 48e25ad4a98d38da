//! BatchNorm over channels as one pass forward and one pass backward.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::{applies, msg, slice, tensor, with_data};
use crate::error::Result;

/// Training-mode BatchNorm of an N × C × H × W batch with the batch's statistics:
/// `(y, mean, biased variance)`, the statistics as C-vectors for the running averages.
/// `None` when the fast path does not apply (the caller then uses candle's ops).
/// Statistics are accumulated in `f64`, per channel in a fixed order.
pub fn batch_norm_train(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
) -> Result<Option<(Tensor, Tensor, Tensor)>> {
    if !applies(&[x, weight, bias]) || x.rank() != 4 {
        return Ok(None);
    }
    let (n, c, h, w) = x.dims4()?;
    if n * h * w == 0 || weight.elem_count() != c || bias.elem_count() != c {
        return Ok(None);
    }
    let x = x.contiguous()?;
    let hw = h * w;
    let m = (n * hw) as f64;
    let (mean, var) = with_data(&x, |xd| {
        let stats: Vec<(f64, f64)> = (0..c)
            .into_par_iter()
            .map(|ci| {
                let planes = || (0..n).map(|ni| &xd[(ni * c + ci) * hw..(ni * c + ci + 1) * hw]);
                let sum: f64 = planes()
                    .map(|p| p.iter().map(|v| *v as f64).sum::<f64>())
                    .sum();
                let mean = sum / m;
                let sq: f64 = planes()
                    .map(|p| p.iter().map(|v| (*v as f64 - mean).powi(2)).sum::<f64>())
                    .sum();
                (mean, sq / m)
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
    };
    let y = x.apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)?;
    let mean = tensor(mean.iter().map(|v| *v as f32).collect(), &[c])?;
    let var = tensor(var.iter().map(|v| *v as f32).collect(), &[c])?;
    Ok(Some((y, mean, var)))
}

/// Eval-mode BatchNorm with running statistics, `(x − mean) · weight / √(var + eps) + bias`,
/// differentiable in `x`, `weight` and `bias`. `None` when the fast path does not apply.
pub fn batch_norm_eval(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    eps: f64,
) -> Result<Option<Tensor>> {
    if !applies(&[x, weight, bias, running_mean, running_var]) || x.rank() != 4 {
        return Ok(None);
    }
    let c = x.dim(1)?;
    if [weight, bias, running_mean, running_var]
        .iter()
        .any(|t| t.elem_count() != c)
    {
        return Ok(None);
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
    };
    Ok(Some(x.contiguous()?.apply_op3(
        &weight.contiguous()?,
        &bias.contiguous()?,
        op,
    )?))
}

/// `y = (x − mean) · inv_std · weight + bias`; in training mode the statistics are the
/// batch's own, which the backward pass differentiates through.
#[derive(Clone, Debug)]
struct BnOp {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    train: bool,
}

impl BnOp {
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
        let (x, w, b) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
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
                    for (d, s) in yp.iter_mut().zip(xp) {
                        *d = (*s - mu) * scale + shift;
                    }
                });
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, c, hw) = self.dims(x.shape())?;
        let m = (n * hw) as f64;
        let w = weight.flatten_all()?.to_vec1::<f32>()?;
        let want_dx = x.track_op();
        let (dx, dw, db) = with_data(x, |xd| {
            with_data(grad, |gd| {
                // Per channel: Σ dy and Σ dy · x̂, in a fixed order.
                let sums: Vec<(f64, f64)> = (0..c)
                    .into_par_iter()
                    .map(|ci| {
                        let (mu, is) = (self.mean[ci] as f64, self.inv_std[ci] as f64);
                        let mut sd = 0f64;
                        let mut sdx = 0f64;
                        for ni in 0..n {
                            let r = (ni * c + ci) * hw..(ni * c + ci + 1) * hw;
                            for (g, v) in gd[r.clone()].iter().zip(&xd[r]) {
                                sd += *g as f64;
                                sdx += *g as f64 * (*v as f64 - mu) * is;
                            }
                        }
                        (sd, sdx)
                    })
                    .collect();
                let dx = if want_dx && hw > 0 {
                    let mut dx = vec![0f32; xd.len()];
                    dx.par_chunks_mut(hw)
                        .zip(xd.par_chunks(hw).zip(gd.par_chunks(hw)))
                        .enumerate()
                        .with_min_len(4)
                        .for_each(|(i, (d, (xp, gp)))| {
                            let ci = i % c;
                            let is = self.inv_std[ci];
                            let k = is * w[ci];
                            if self.train {
                                let (sd, sdx) = sums[ci];
                                let mean_dy = (sd / m) as f32;
                                let mean_dyx = (sdx / m) as f32;
                                let mu = self.mean[ci];
                                for ((o, v), g) in d.iter_mut().zip(xp).zip(gp) {
                                    let xhat = (*v - mu) * is;
                                    *o = k * (*g - mean_dy - xhat * mean_dyx);
                                }
                            } else {
                                for (o, g) in d.iter_mut().zip(gp) {
                                    *o = k * *g;
                                }
                            }
                        });
                    Some(dx)
                } else {
                    None
                };
                let dw = sums.iter().map(|s| s.1 as f32).collect::<Vec<_>>();
                let db = sums.iter().map(|s| s.0 as f32).collect::<Vec<_>>();
                Ok((dx, dw, db))
            })
        })?;
        let dx = match dx {
            Some(v) => Some(tensor(v, x.dims())?),
            None => None,
        };
        Ok((dx, Some(tensor(dw, &[c])?), Some(tensor(db, &[c])?)))
    }
}
