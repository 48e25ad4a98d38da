//! The Vision Transformer, written against the store so that every tensor is trained.
//!
//! Hugging Face `transformers`' `ViTForImageClassification` layout and semantics: tensor
//! names `vit.embeddings.*`, `vit.encoder.layer.<i>.*`, `vit.layernorm.*` (the head,
//! `classifier.*`, is the model's), pre-norm blocks
//! `h = x + attn(LN₁(x))`, `y = h + W₂ gelu_erf(W₁ LN₂(h))`, and the classifier on the
//! final layer norm of the class token.
//!
//! # Why not candle-transformers' ViT
//! candle-nn 0.11 runs `softmax_last_dim` and the contiguous fast path of `LayerNorm` as
//! custom ops without a backward pass (`apply_op*_no_bwd`). A model built on them trains
//! only part of its tensors and nothing says so: nothing upstream of an attention softmax
//! or a block's layer norm receives a gradient (the queries, keys and both layer norms of
//! every block). Here softmax and layer norm are composed of candle's differentiable
//! operations on every device and in both modes (gradients are also taken in eval mode,
//! for SalUn's saliency), and `tests/gradient_parity.rs` checks every parameter's gradient
//! against PyTorch.

use candle_core::{IndexOp, Tensor, D};

use crate::error::{ModelError, Result};
use crate::store::{Init, Scope};

/// The shape of a ViT.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct VitConfig {
    pub hidden_size: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate_size: usize,
    pub patch_size: usize,
    pub layer_norm_eps: f64,
}

impl VitConfig {
    /// ViT-B/16 (`google/vit-base-patch16-224`).
    pub const BASE_16: VitConfig = VitConfig {
        hidden_size: 768,
        layers: 12,
        heads: 12,
        intermediate_size: 3072,
        patch_size: 16,
        layer_norm_eps: 1e-12,
    };

    /// The toolkit's small ViT for 28×28 / 32×32 inputs: patch 4, width 192, depth 6, 3 heads.
    pub const TINY_4: VitConfig = VitConfig {
        hidden_size: 192,
        layers: 6,
        heads: 3,
        intermediate_size: 768,
        patch_size: 4,
        layer_norm_eps: 1e-12,
    };
}

/// HF ViT's initialisation by tensor name: zero biases, unit layer-norm gains, and a
/// truncated normal (std 0.02) for every other weight, the embeddings included.
fn hf_vit_init(name: &str) -> Init {
    if name.ends_with("bias") {
        Init::Const(0.0)
    } else if name.contains("layernorm") || name.contains("layer_norm") {
        Init::Const(1.0)
    } else {
        Init::TruncNormal { std: 0.02 }
    }
}

fn param(scope: &Scope, leaf: &str, shape: &[usize]) -> Result<Tensor> {
    let name = scope.name(leaf);
    Ok(scope
        .param(leaf, shape, hf_vit_init(&name))?
        .as_tensor()
        .clone())
}

/// `x · Wᵀ + b` over the last dimension of a B × T × in tensor.
#[derive(Clone, Debug)]
struct Dense {
    weight: Tensor,
    bias: Tensor,
}

impl Dense {
    fn new(scope: &Scope, inputs: usize, outputs: usize) -> Result<Self> {
        Ok(Self {
            weight: param(scope, "weight", &[outputs, inputs])?,
            bias: param(scope, "bias", &[outputs])?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let y = x
            .reshape((b * t, d))?
            .matmul(&self.weight.t()?)?
            .broadcast_add(&self.bias)?;
        Ok(y.reshape((b, t, ()))?)
    }
}

/// Layer norm over the last dimension (biased variance, as PyTorch), differentiable.
#[derive(Clone, Debug)]
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    fn new(scope: &Scope, width: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: param(scope, "weight", &[width])?,
            bias: param(scope, "bias", &[width])?,
            eps,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let inv_std = (var + self.eps)?.sqrt()?.recip()?;
        Ok(centred
            .broadcast_mul(&inv_std)?
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)?)
    }
}

/// Softmax over the last dimension, differentiable (the maximum is subtracted as a
/// constant, which changes neither the value nor the gradient).
fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    let sum = e.sum_keepdim(D::Minus1)?;
    Ok(e.broadcast_div(&sum)?)
}

#[derive(Clone, Debug)]
struct Block {
    layernorm_before: LayerNorm,
    query: Dense,
    key: Dense,
    value: Dense,
    attention_output: Dense,
    layernorm_after: LayerNorm,
    intermediate: Dense,
    output: Dense,
    heads: usize,
}

impl Block {
    fn new(scope: &Scope, cfg: &VitConfig) -> Result<Self> {
        let d = cfg.hidden_size;
        let attention = scope.pp("attention");
        let inner = attention.pp("attention");
        Ok(Self {
            layernorm_before: LayerNorm::new(&scope.pp("layernorm_before"), d, cfg.layer_norm_eps)?,
            query: Dense::new(&inner.pp("query"), d, d)?,
            key: Dense::new(&inner.pp("key"), d, d)?,
            value: Dense::new(&inner.pp("value"), d, d)?,
            attention_output: Dense::new(&attention.pp("output").pp("dense"), d, d)?,
            layernorm_after: LayerNorm::new(&scope.pp("layernorm_after"), d, cfg.layer_norm_eps)?,
            intermediate: Dense::new(
                &scope.pp("intermediate").pp("dense"),
                d,
                cfg.intermediate_size,
            )?,
            output: Dense::new(&scope.pp("output").pp("dense"), cfg.intermediate_size, d)?,
            heads: cfg.heads,
        })
    }

    /// B × T × d → B × heads × T × d/heads.
    fn split_heads(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        Ok(x.reshape((b, t, self.heads, d / self.heads))?
            .transpose(1, 2)?
            .contiguous()?)
    }

    fn attention(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let q = self.split_heads(&self.query.forward(x)?)?;
        let k = self.split_heads(&self.key.forward(x)?)?;
        let v = self.split_heads(&self.value.forward(x)?)?;
        let scale = 1.0 / ((d / self.heads) as f64).sqrt();
        let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?;
        let probs = softmax_last_dim(&scores)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, t, d))?;
        self.attention_output.forward(&context)
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = (self.attention(&self.layernorm_before.forward(x)?)? + x)?;
        let m = self
            .intermediate
            .forward(&self.layernorm_after.forward(&h)?)?
            .gelu_erf()?;
        Ok((self.output.forward(&m)? + h)?)
    }
}

/// The ViT's feature extractor: the final layer norm of the class token, N × d.
#[derive(Clone, Debug)]
pub(crate) struct Vit {
    patch_weight: Tensor,
    patch_bias: Tensor,
    cls_token: Tensor,
    position_embeddings: Tensor,
    blocks: Vec<Block>,
    layernorm: LayerNorm,
    patch_size: usize,
    kernels: crate::kernels::Kernels,
}

impl Vit {
    /// A ViT under `vit.*` for `[c, h, w]` inputs.
    pub(crate) fn new(
        root: &Scope,
        arch: &str,
        input_shape: [usize; 3],
        cfg: &VitConfig,
    ) -> Result<Self> {
        let [c, h, w] = input_shape;
        let p = cfg.patch_size;
        if h == 0 || h != w || h % p != 0 {
            return Err(ModelError::BadArchConfig {
                arch: arch.into(),
                reason: format!(
                    "input {h}×{w}: needs a square input whose side is a multiple of the \
                     patch size {p}"
                ),
            });
        }
        let d = cfg.hidden_size;
        let vit = root.pp("vit");
        let emb = vit.pp("embeddings");
        let projection = emb.pp("patch_embeddings").pp("projection");
        let patches = (h / p) * (w / p);
        let encoder = vit.pp("encoder").pp("layer");
        let blocks = (0..cfg.layers)
            .map(|i| Block::new(&encoder.pp(i), cfg))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            patch_weight: param(&projection, "weight", &[d, c, p, p])?,
            patch_bias: param(&projection, "bias", &[d])?,
            cls_token: param(&emb, "cls_token", &[1, 1, d])?,
            position_embeddings: param(&emb, "position_embeddings", &[1, patches + 1, d])?,
            blocks,
            layernorm: LayerNorm::new(&vit.pp("layernorm"), d, cfg.layer_norm_eps)?,
            patch_size: p,
            kernels: root.store().kernels(),
        })
    }

    /// The class token's features after the final layer norm (the net has no dropout, so
    /// training and evaluation compute the same thing).
    pub(crate) fn features(&self, x: &Tensor) -> Result<Tensor> {
        let p = self.patch_size;
        let patches = crate::kernels::conv2d(
            self.kernels,
            x,
            &self.patch_weight,
            Some(&self.patch_bias),
            p,
            0,
        )?;
        let (b, d, _, _) = patches.dims4()?;
        let tokens = patches.flatten_from(2)?.transpose(1, 2)?;
        let cls = self.cls_token.broadcast_as((b, 1, d))?;
        let mut h = Tensor::cat(&[&cls, &tokens], 1)?.broadcast_add(&self.position_embeddings)?;
        for block in &self.blocks {
            h = block.forward(&h)?;
        }
        // Layer norm is per token, so normalising the class token alone is HF's
        // `layernorm(sequence)[:, 0]`.
        self.layernorm
            .forward(&h.i((.., 0..1, ..))?.contiguous()?)?
            .squeeze(1)
            .map_err(Into::into)
    }
}
