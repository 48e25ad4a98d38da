//! ReLU fused with a non-overlapping max-pool.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::{applies, msg, slice, tensor, with_data};
use crate::error::Result;

/// `max_pool2d(relu(x), k)` with kernel = stride = `k` (floor mode), for an
/// N × C × H × W batch. ReLU and max-pooling commute, so this is one pass; the gradient
/// goes to the first maximum of each window whose maximum is positive (PyTorch's choice).
/// Fast path on CPU `f32`; candle's `relu` + `max_pool2d` otherwise.
pub fn relu_max_pool2d(x: &Tensor, k: usize) -> Result<Tensor> {
    if applies(&[x]) && k > 0 {
        if let Ok((_, _, h, w)) = x.dims4() {
            if h >= k && w >= k {
                return Ok(x.contiguous()?.apply_op1(ReluMaxPool { k })?);
            }
        }
    }
    max_pool2d(&x.relu()?, k)
}

/// Non-overlapping max-pool (kernel = stride = `k`, floor mode) from candle's reshape and
/// `max`, on any device, with PyTorch's gradient: each window's maximum gets the incoming
/// gradient unscaled. candle 0.11's own `max_pool2d` backward scales it by 1/k² instead
/// (see `tests/kernels.rs`), which made the small CNN train differently off the CPU fast
/// path (on CUDA, or with the kernels switched off). Ties within a window all receive it
/// (after a ReLU, ties at 0 get none through the ReLU).
pub fn max_pool2d(x: &Tensor, k: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    if k == 0 || h < k || w < k {
        return Err(candle_core::Error::Msg(format!(
            "max-pool {k}: input {:?} too small",
            x.dims()
        ))
        .into());
    }
    let (oh, ow) = (h / k, w / k);
    let x = if oh * k != h || ow * k != w {
        x.narrow(2, 0, oh * k)?.narrow(3, 0, ow * k)?.contiguous()?
    } else {
        x.contiguous()?
    };
    Ok(x.reshape((n, c, oh, k, ow, k))?.max(5)?.max(3)?)
}

#[derive(Clone, Copy, Debug)]
struct ReluMaxPool {
    k: usize,
}

impl ReluMaxPool {
    /// `(planes, h, w, oh, ow)`.
    fn dims(&self, s: &Shape) -> candle_core::Result<(usize, usize, usize, usize, usize)> {
        let (n, c, h, w) = s.dims4()?;
        if h < self.k || w < self.k {
            return Err(msg(format!("max-pool {}: input {s:?} too small", self.k)));
        }
        Ok((n * c, h, w, h / self.k, w / self.k))
    }

    /// Index (within the plane) of the first maximum of window `(yo, xo)`, and its value.
    #[inline]
    fn argmax(&self, plane: &[f32], w: usize, yo: usize, xo: usize) -> (usize, f32) {
        let k = self.k;
        let mut best = (yo * k) * w + xo * k;
        let mut bv = plane[best];
        for dy in 0..k {
            let row = (yo * k + dy) * w + xo * k;
            for (dx, v) in plane[row..row + k].iter().enumerate() {
                if *v > bv {
                    bv = *v;
                    best = row + dx;
                }
            }
        }
        (best, bv)
    }
}

impl CustomOp1 for ReluMaxPool {
    fn name(&self) -> &'static str {
        "fast-relu-max-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (planes, h, w, oh, ow) = self.dims(l.shape())?;
        let x = slice(s, l)?;
        let mut out = vec![0f32; planes * oh * ow];
        let k = self.k;
        out.par_chunks_mut(oh * ow)
            .zip(x.par_chunks(h * w))
            .with_min_len(8)
            .for_each(|(o, plane)| {
                if k == 2 {
                    for (yo, orow) in o.chunks_exact_mut(ow).enumerate() {
                        let r0 = &plane[2 * yo * w..2 * yo * w + 2 * ow];
                        let r1 = &plane[(2 * yo + 1) * w..(2 * yo + 1) * w + 2 * ow];
                        for (xo, d) in orow.iter_mut().enumerate() {
                            let m = r0[2 * xo]
                                .max(r0[2 * xo + 1])
                                .max(r1[2 * xo])
                                .max(r1[2 * xo + 1]);
                            *d = m.max(0.0);
                        }
                    }
                } else {
                    for yo in 0..oh {
                        for xo in 0..ow {
                            o[yo * ow + xo] = self.argmax(plane, w, yo, xo).1.max(0.0);
                        }
                    }
                }
            });
        let dims = l.shape().dims();
        Ok((
            CpuStorage::F32(out),
            Shape::from((dims[0], dims[1], oh, ow)),
        ))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        if !x.track_op() {
            return Ok(None);
        }
        let (planes, h, w, oh, ow) = self.dims(x.shape())?;
        let dx = with_data(x, |xd| {
            with_data(grad, |gd| {
                let mut dx = vec![0f32; planes * h * w];
                dx.par_chunks_mut(h * w)
                    .zip(xd.par_chunks(h * w))
                    .zip(gd.par_chunks(oh * ow))
                    .with_min_len(8)
                    .for_each(|((d, plane), g)| {
                        for yo in 0..oh {
                            for xo in 0..ow {
                                let (i, v) = self.argmax(plane, w, yo, xo);
                                if v > 0.0 {
                                    d[i] += g[yo * ow + xo];
                                }
                            }
                        }
                    });
                Ok(dx)
            })
        })?;
        Ok(Some(tensor(dx, x.dims())?))
    }
}
