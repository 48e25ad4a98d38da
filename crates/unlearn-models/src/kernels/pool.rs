//! ReLU fused with a non-overlapping max-pool.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::{applies, msg, slice, tensor, with_data, Kernels};
use crate::error::Result;

/// `max_pool2d(relu(x), k)` with kernel = stride = `k` (floor mode), for an
/// N × C × H × W batch. ReLU and max-pooling commute, so this is one pass; the gradient
/// goes to the first maximum of each window whose maximum is positive (PyTorch's choice).
/// Fast path on CPU `f32`; candle's `relu` + `max_pool2d` otherwise.
pub fn relu_max_pool2d(kernels: Kernels, x: &Tensor, k: usize) -> Result<Tensor> {
    if applies(kernels, &[x]) && k > 0 {
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

/// Max-pool with a `k × k` window, `stride` and `padding` (padded cells never win: they
/// count as −∞, as in PyTorch), floor mode, for an N × C × H × W batch, with PyTorch's
/// gradient: each window's first maximum (in row-major order) receives the incoming
/// gradient. ResNet-18's ImageNet stem (3 × 3, stride 2, padding 1) overlaps its windows,
/// for which candle 0.11's `max_pool2d_with_stride` has no backward pass. Computed on the
/// CPU whatever the tensor's device (the stem's pool is small; the tensor moves there and
/// back, and the gradient follows it).
pub fn max_pool2d_padded(x: &Tensor, k: usize, stride: usize, padding: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if k == 0 || stride == 0 || padding * 2 > k || h + 2 * padding < k || w + 2 * padding < k {
        return Err(candle_core::Error::Msg(format!(
            "max-pool {k} (stride {stride}, padding {padding}): input {:?} does not fit",
            x.dims()
        ))
        .into());
    }
    let op = PaddedMaxPool { k, stride, padding };
    if matches!(x.device(), candle_core::Device::Cpu) && x.dtype() == candle_core::DType::F32 {
        return Ok(x.contiguous()?.apply_op1(op)?);
    }
    let cpu = x
        .to_device(&candle_core::Device::Cpu)?
        .to_dtype(candle_core::DType::F32)?;
    let y = cpu.contiguous()?.apply_op1(op)?;
    Ok(y.to_dtype(x.dtype())?.to_device(x.device())?)
}

#[derive(Clone, Copy, Debug)]
struct PaddedMaxPool {
    k: usize,
    stride: usize,
    padding: usize,
}

impl PaddedMaxPool {
    /// `(planes, h, w, oh, ow)`.
    fn dims(&self, s: &Shape) -> candle_core::Result<(usize, usize, usize, usize, usize)> {
        let (n, c, h, w) = s.dims4()?;
        let out = |len: usize| (len + 2 * self.padding - self.k) / self.stride + 1;
        Ok((n * c, h, w, out(h), out(w)))
    }

    /// Index (within the plane) of the first maximum of window `(yo, xo)` and its value;
    /// `None` for a window of padding only (impossible when `2·padding ≤ k`).
    #[inline]
    fn argmax(
        &self,
        plane: &[f32],
        h: usize,
        w: usize,
        yo: usize,
        xo: usize,
    ) -> Option<(usize, f32)> {
        let mut best: Option<(usize, f32)> = None;
        for dy in 0..self.k {
            let y = (yo * self.stride + dy) as isize - self.padding as isize;
            if y < 0 || y >= h as isize {
                continue;
            }
            for dx in 0..self.k {
                let x = (xo * self.stride + dx) as isize - self.padding as isize;
                if x < 0 || x >= w as isize {
                    continue;
                }
                let i = y as usize * w + x as usize;
                let v = plane[i];
                // PyTorch: a later value wins only when strictly greater (or NaN).
                if best.is_none_or(|(_, b)| v > b || v.is_nan()) {
                    best = Some((i, v));
                }
            }
        }
        best
    }
}

impl CustomOp1 for PaddedMaxPool {
    fn name(&self) -> &'static str {
        "max-pool2d-padded"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (planes, h, w, oh, ow) = self.dims(l.shape())?;
        let x = slice(s, l)?;
        let mut out = vec![0f32; planes * oh * ow];
        out.par_chunks_mut(oh * ow)
            .zip(x.par_chunks(h * w))
            .with_min_len(8)
            .for_each(|(o, plane)| {
                for yo in 0..oh {
                    for xo in 0..ow {
                        o[yo * ow + xo] = self
                            .argmax(plane, h, w, yo, xo)
                            .map_or(f32::NEG_INFINITY, |(_, v)| v);
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
                                if let Some((i, _)) = self.argmax(plane, h, w, yo, xo) {
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
