//! The layers the architectures are built from, with PyTorch parameter names and semantics.
//!
//! Stateless layers implement [`candle_nn::Module`] and BatchNorm, which has a training and
//! an evaluation mode, [`candle_nn::ModuleT`], so they compose with candle code
//! (`x.apply(&conv)`, `x.apply_t(&bn, train)`). The trait methods call the inherent ones,
//! which return this crate's [`Result`].

use candle_core::{Module, ModuleT, Tensor, Var, D};

use crate::error::Result;
use crate::store::{Init, Scope};

/// 2-D convolution (`weight`: out × in × k × k, optional `bias`).
#[derive(Clone, Debug)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: usize,
    padding: usize,
    kernels: crate::kernels::Kernels,
}

/// How a convolution's weight is initialised.
#[derive(Clone, Copy, Debug)]
pub enum ConvInit {
    /// PyTorch's `nn.Conv2d` default (uniform, bound `1/√fan_in`), bias likewise.
    TorchDefault,
    /// torchvision ResNet: `kaiming_normal_(mode="fan_out", nonlinearity="relu")`.
    KaimingFanOut,
}

impl Conv2d {
    /// A `k × k` convolution named `<scope>.weight` (and `<scope>.bias` when `bias`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        scope: &Scope,
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        bias: bool,
        init: ConvInit,
    ) -> Result<Self> {
        let fan_in = in_channels * kernel * kernel;
        let w_init = match init {
            ConvInit::TorchDefault => Init::torch_default(fan_in),
            ConvInit::KaimingFanOut => Init::kaiming_normal_fan_out(out_channels * kernel * kernel),
        };
        let weight = scope.param(
            "weight",
            &[out_channels, in_channels, kernel, kernel],
            w_init,
        )?;
        let bias = if bias {
            Some(
                scope
                    .param("bias", &[out_channels], Init::torch_default(fan_in))?
                    .as_tensor()
                    .clone(),
            )
        } else {
            None
        };
        Ok(Self {
            weight: weight.as_tensor().clone(),
            bias,
            stride,
            padding,
            kernels: scope.store().kernels(),
        })
    }

    /// Applies the convolution to an N × C × H × W batch.
    ///
    /// On CPU `f32` this runs [`crate::kernels::conv2d`] (im2col + gemm, own backward);
    /// elsewhere candle's `conv2d` and a broadcast bias add.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        crate::kernels::conv2d(
            self.kernels,
            x,
            &self.weight,
            self.bias.as_ref(),
            self.stride,
            self.padding,
        )
    }

    /// `max_pool2d(relu(conv(x)), k)` (pool kernel = stride = `k`), fused into one op on
    /// CPU `f32` ([`crate::kernels::conv2d_relu_max_pool2d`]).
    pub fn forward_relu_max_pool(&self, x: &Tensor, k: usize) -> Result<Tensor> {
        crate::kernels::conv2d_relu_max_pool2d(
            self.kernels,
            x,
            &self.weight,
            self.bias.as_ref(),
            self.stride,
            self.padding,
            k,
        )
    }
}

impl Module for Conv2d {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        Ok(Conv2d::forward(self, xs)?)
    }
}

/// Fully connected layer (`weight`: out × in, `bias`: out), PyTorch default initialisation.
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    /// A linear layer named `<scope>.weight`, `<scope>.bias`.
    pub fn new(scope: &Scope, in_features: usize, out_features: usize) -> Result<Self> {
        let init = Init::torch_default(in_features);
        let weight = scope.param("weight", &[out_features, in_features], init)?;
        let bias = scope.param("bias", &[out_features], init)?;
        Ok(Self {
            weight: weight.as_tensor().clone(),
            bias: bias.as_tensor().clone(),
        })
    }

    /// A linear layer over existing variables.
    pub fn from_vars(weight: &Var, bias: &Var) -> Self {
        Self {
            weight: weight.as_tensor().clone(),
            bias: bias.as_tensor().clone(),
        }
    }

    /// `x · Wᵀ + b` for an N × in batch.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)?)
    }

    /// Output width.
    pub fn out_features(&self) -> usize {
        self.weight.dims().first().copied().unwrap_or(0)
    }
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        Ok(Linear::forward(self, xs)?)
    }
}

/// BatchNorm over channels with PyTorch semantics: in training mode it normalises with the
/// batch's biased variance and updates `running_mean` / `running_var` (unbiased) with
/// momentum 0.1 and counts `num_batches_tracked`; in eval mode it uses the running statistics.
#[derive(Clone, Debug)]
pub struct BatchNorm2d {
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
    counter: String,
    scope: Scope,
    momentum: f64,
    eps: f64,
}

impl BatchNorm2d {
    /// A BatchNorm layer named `<scope>.{weight,bias,running_mean,running_var,num_batches_tracked}`.
    pub fn new(scope: &Scope, channels: usize) -> Result<Self> {
        let weight = scope.param("weight", &[channels], Init::Const(1.0))?;
        let bias = scope.param("bias", &[channels], Init::Const(0.0))?;
        let running_mean = scope.buffer("running_mean", &[channels], Init::Const(0.0))?;
        let running_var = scope.buffer("running_var", &[channels], Init::Const(1.0))?;
        let counter = scope.name("num_batches_tracked");
        scope.store().register_counter(&counter);
        Ok(Self {
            weight: weight.as_tensor().clone(),
            bias: bias.as_tensor().clone(),
            running_mean,
            running_var,
            counter,
            scope: scope.clone(),
            momentum: 0.1,
            eps: 1e-5,
        })
    }

    /// Normalises an N × C × H × W batch.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_act(x, train, None, false)
    }

    /// `relu(bn(x) + residual)` (each part optional): [`crate::kernels::batch_norm_train_act`]
    /// or [`crate::kernels::batch_norm_eval_act`], which choose between the fast kernel and
    /// candle's ops. Training mode also updates the running statistics.
    pub fn forward_act(
        &self,
        x: &Tensor,
        train: bool,
        residual: Option<&Tensor>,
        relu: bool,
    ) -> Result<Tensor> {
        let act = crate::kernels::BnAct { residual, relu };
        let kernels = self.scope.store().kernels();
        let (rm, rv) = (self.running_mean.as_tensor(), self.running_var.as_tensor());
        let (rm, rv) = (rm.detach(), rv.detach());
        if !train {
            return crate::kernels::batch_norm_eval_act(
                kernels,
                x,
                &self.weight,
                &self.bias,
                &rm,
                &rv,
                self.eps,
                act,
            );
        }
        let (y, mean, var) = crate::kernels::batch_norm_train_act(
            kernels,
            x,
            &self.weight,
            &self.bias,
            self.eps,
            act,
        )?;
        // Running statistics: PyTorch keeps the unbiased variance.
        let (n, _c, h, w) = x.dims4()?;
        let m = (n * h * w) as f64;
        let mom = self.momentum;
        let mean_d = mean.detach().flatten_all()?;
        let unbiased = if m > 1.0 { m / (m - 1.0) } else { 1.0 };
        let var_d = (var.detach().flatten_all()? * unbiased)?;
        let new_mean = ((rm * (1.0 - mom))? + (mean_d * mom)?)?;
        let new_var = ((rv * (1.0 - mom))? + (var_d * mom)?)?;
        self.running_mean.set(&new_mean)?;
        self.running_var.set(&new_var)?;
        self.scope.store().bump_counter(&self.counter);
        Ok(y)
    }
}

impl ModuleT for BatchNorm2d {
    /// [`BatchNorm2d::forward`]: batch statistics (and a running-statistics update) when
    /// `train`, running statistics otherwise.
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        Ok(self.forward(xs, train)?)
    }
}

/// Global average pooling over H and W: N × C × H × W → N × C.
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    Ok(x.mean(D::Minus1)?.mean(D::Minus1)?)
}
