//! Architectures: a feature extractor `g` (image → N × d) and a linear head `h`.

use std::fmt;
use std::str::FromStr;

use candle_core::{Device, ModuleT, Tensor};
use serde::{Deserialize, Serialize};

use crate::checkpoint::Normalization;
use crate::error::{ModelError, Result};
use crate::kernels::Kernels;
use crate::layers::{global_avg_pool, BatchNorm2d, Conv2d, ConvInit, Linear};
use crate::store::{ParamStore, Scope};
use crate::vit::{Vit, VitConfig};

/// The architectures this crate builds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Arch {
    /// conv 3×3 (32) → ReLU → max-pool 2 → conv 3×3 (64) → ReLU → max-pool 2 → fc 128 → ReLU
    /// (the 128-d penultimate feature) → head. For 28×28 and 32×32 inputs; the CPU workhorse
    /// (and the default).
    #[default]
    SmallCnn,
    /// ResNet-18 with the CIFAR stem (3×3 conv, stride 1, no max-pool); d = 512.
    ResNet18Cifar,
    /// ResNet-18 with the ImageNet stem (7×7 conv, stride 2, 3×3 max-pool); d = 512.
    ResNet18,
    /// ViT-B/16 (HF `transformers` layout: `vit.*`, `classifier.*`): patch 16, width 768,
    /// depth 12, 12 heads; made for 224×224 RGB input, built for any square input whose side
    /// is a multiple of 16.
    VitB16,
    /// A small ViT (patch 4, width 192, depth 6, 3 heads) for 28×28 / 32×32 inputs.
    VitTiny,
}

impl Arch {
    /// Every architecture with its CLI name.
    pub const ALL: [(Arch, &'static str); 5] = [
        (Arch::SmallCnn, "small-cnn"),
        (Arch::ResNet18Cifar, "resnet18-cifar"),
        (Arch::ResNet18, "resnet18"),
        (Arch::VitB16, "vit-b16"),
        (Arch::VitTiny, "vit-tiny"),
    ];

    /// The CLI / metadata name.
    pub fn name(self) -> &'static str {
        Arch::ALL
            .iter()
            .find(|(a, _)| *a == self)
            .map(|(_, n)| *n)
            .unwrap_or("small-cnn")
    }

    /// The default architecture for an input shape: the small CNN for 28×28 and 32×32 inputs.
    pub fn default_for(input_shape: [usize; 3]) -> Arch {
        match input_shape {
            [_, 224, 224] => Arch::ResNet18,
            _ => Arch::SmallCnn,
        }
    }

    /// A vision transformer (trained with AdamW by default: `Recipe::for_transformer` of
    /// `unlearn-train`).
    pub fn is_transformer(self) -> bool {
        matches!(self, Arch::VitB16 | Arch::VitTiny)
    }

    /// The name of the head's scope (`fc` for CNNs, `classifier` for ViTs).
    pub fn head_prefix(self) -> &'static str {
        match self {
            Arch::VitB16 | Arch::VitTiny => "classifier",
            _ => "fc",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self> {
        Arch::ALL
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(a, _)| *a)
            .ok_or_else(|| ModelError::UnknownArch {
                name: s.to_string(),
                expected: Arch::ALL
                    .iter()
                    .map(|(_, n)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// What a model is: architecture, input shape `[C, H, W]` and number of classes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Architecture.
    pub arch: Arch,
    /// Input shape `[C, H, W]`.
    pub input_shape: [usize; 3],
    /// Number of output classes.
    pub num_classes: usize,
}

impl ModelSpec {
    /// The parameters of this model whose number grows with the input size or the class
    /// count: the classifier head (width × classes), the small CNN's `fc1` (64·(H/4)·(W/4)
    /// inputs, 128 outputs) and a ViT's position embeddings ((H/p)·(W/p) + 1 positions of
    /// its width); the ResNets pool globally. A checkpoint holding fewer parameters than
    /// this cannot be of this model, which the loader checks before building it.
    pub fn size_dependent_parameters(&self) -> u64 {
        let [_, h, w] = self.input_shape.map(|v| v as u64);
        let classes = self.num_classes as u64;
        match self.arch {
            Arch::SmallCnn => 64 * (h / 4) * (w / 4) * 128 + 128 * classes,
            Arch::VitB16 => ((h / 16) * (w / 16) + 1) * 768 + 768 * classes,
            Arch::VitTiny => ((h / 4) * (w / 4) + 1) * 192 + 192 * classes,
            Arch::ResNet18 | Arch::ResNet18Cifar => 512 * classes,
        }
    }
}

#[derive(Clone, Debug)]
struct SmallCnn {
    conv1: Conv2d,
    conv2: Conv2d,
    fc1: Linear,
}

impl SmallCnn {
    fn new(scope: &Scope, spec: &ModelSpec) -> Result<Self> {
        let [c, h, w] = spec.input_shape;
        if h % 4 != 0 || w % 4 != 0 {
            return Err(ModelError::BadArchConfig {
                arch: "small-cnn".into(),
                reason: format!("input {h}×{w}: height and width must be multiples of 4"),
            });
        }
        let conv1 = Conv2d::new(
            &scope.pp("conv1"),
            c,
            32,
            3,
            1,
            1,
            true,
            ConvInit::TorchDefault,
        )?;
        let conv2 = Conv2d::new(
            &scope.pp("conv2"),
            32,
            64,
            3,
            1,
            1,
            true,
            ConvInit::TorchDefault,
        )?;
        let fc1 = Linear::new(&scope.pp("fc1"), 64 * (h / 4) * (w / 4), 128)?;
        Ok(Self { conv1, conv2, fc1 })
    }

    fn features(&self, x: &Tensor) -> Result<Tensor> {
        let x = self.conv1.forward_relu_max_pool(x, 2)?;
        let x = self.conv2.forward_relu_max_pool(&x, 2)?;
        let x = x.flatten_from(1)?;
        Ok(self.fc1.forward(&x)?.relu()?)
    }
}

impl ModuleT for SmallCnn {
    /// The 128-d features (the net has no train-only behaviour).
    fn forward_t(&self, xs: &Tensor, _train: bool) -> candle_core::Result<Tensor> {
        Ok(self.features(xs)?)
    }
}

#[derive(Clone, Debug)]
struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    downsample: Option<(Conv2d, BatchNorm2d)>,
}

impl BasicBlock {
    fn new(scope: &Scope, cin: usize, cout: usize, stride: usize) -> Result<Self> {
        let k = ConvInit::KaimingFanOut;
        let downsample = if stride != 1 || cin != cout {
            let ds = scope.pp("downsample");
            Some((
                Conv2d::new(&ds.pp(0), cin, cout, 1, stride, 0, false, k)?,
                BatchNorm2d::new(&ds.pp(1), cout)?,
            ))
        } else {
            None
        };
        Ok(Self {
            conv1: Conv2d::new(&scope.pp("conv1"), cin, cout, 3, stride, 1, false, k)?,
            bn1: BatchNorm2d::new(&scope.pp("bn1"), cout)?,
            conv2: Conv2d::new(&scope.pp("conv2"), cout, cout, 3, 1, 1, false, k)?,
            bn2: BatchNorm2d::new(&scope.pp("bn2"), cout)?,
            downsample,
        })
    }

    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let y = self
            .bn1
            .forward_act(&self.conv1.forward(x)?, train, None, true)?;
        let shortcut = match &self.downsample {
            None => x.clone(),
            Some((conv, bn)) => bn.forward(&conv.forward(x)?, train)?,
        };
        // relu(bn2(conv2(y)) + shortcut) as one op.
        self.bn2
            .forward_act(&self.conv2.forward(&y)?, train, Some(&shortcut), true)
    }
}

impl ModuleT for BasicBlock {
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        Ok(self.forward(xs, train)?)
    }
}

#[derive(Clone, Debug)]
struct ResNet18 {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    imagenet_stem: bool,
    blocks: Vec<BasicBlock>,
}

impl ResNet18 {
    fn new(scope: &Scope, spec: &ModelSpec, imagenet_stem: bool) -> Result<Self> {
        let c = spec.input_shape[0];
        let k = ConvInit::KaimingFanOut;
        let conv1 = if imagenet_stem {
            Conv2d::new(&scope.pp("conv1"), c, 64, 7, 2, 3, false, k)?
        } else {
            Conv2d::new(&scope.pp("conv1"), c, 64, 3, 1, 1, false, k)?
        };
        let bn1 = BatchNorm2d::new(&scope.pp("bn1"), 64)?;
        let mut blocks = Vec::new();
        let mut cin = 64;
        for (i, cout) in [64usize, 128, 256, 512].into_iter().enumerate() {
            let layer = scope.pp(format!("layer{}", i + 1));
            let stride = if i == 0 { 1 } else { 2 };
            blocks.push(BasicBlock::new(&layer.pp(0), cin, cout, stride)?);
            blocks.push(BasicBlock::new(&layer.pp(1), cout, cout, 1)?);
            cin = cout;
        }
        Ok(Self {
            conv1,
            bn1,
            imagenet_stem,
            blocks,
        })
    }

    fn features(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut x = self
            .bn1
            .forward_act(&self.conv1.forward(x)?, train, None, true)?;
        if self.imagenet_stem {
            // max-pool 3, stride 2, padding 1 (overlapping windows, with a backward pass).
            x = crate::kernels::max_pool2d_padded(&x, 3, 2, 1)?;
        }
        for b in &self.blocks {
            x = b.forward(&x, train)?;
        }
        global_avg_pool(&x)
    }
}

impl ModuleT for ResNet18 {
    /// The 512-d pooled features; `train` selects BatchNorm's mode.
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        Ok(self.features(xs, train)?)
    }
}

#[derive(Clone, Debug)]
enum Net {
    SmallCnn(SmallCnn),
    Residual(Box<ResNet18>),
    Vit(Box<Vit>),
}

/// A classifier `f = h ∘ g` whose tensors live in a [`ParamStore`] under torchvision / HF names.
///
/// It takes images scaled to `[0, 1]` (as torchvision's `ToTensor` gives them) and applies
/// its own input normalisation first, as a frozen preprocessing step (the
/// `NormalizeByChannelMeanStd` first layer of the SalUn code's models): `(x - mean[c]) /
/// std[c]`. A model without one ([`Model::normalization`] is `None`) takes its inputs as
/// they are. The normalisation is set with [`Model::with_normalization`] and recorded in the
/// checkpoint's metadata.
///
/// It is a [`candle_nn::ModuleT`] giving logits, so `model.forward_t(&x, train)` and
/// `x.apply_t(&model, train)` equal [`Model::forward`].
#[derive(Clone, Debug)]
pub struct Model {
    spec: ModelSpec,
    store: ParamStore,
    net: Net,
    head: Linear,
    feature_dim: usize,
    input: Option<InputNormalization>,
}

/// A model's input normalisation and its per-channel tensors, `[1, C, 1, 1]`.
#[derive(Clone, Debug)]
struct InputNormalization {
    values: Normalization,
    mean: Tensor,
    std: Tensor,
}

impl Model {
    /// Builds a freshly initialised model; initial values derive from `seed` only. Its
    /// layers run the kernels [`Kernels::from_env`] chooses.
    pub fn new(spec: &ModelSpec, device: &Device, seed: u64) -> Result<Self> {
        Self::with_kernels(spec, device, seed, Kernels::from_env())
    }

    /// [`Model::new`] whose layers run `kernels`: the fast CPU kernels or candle's
    /// reference ops, chosen for this model alone.
    pub fn with_kernels(
        spec: &ModelSpec,
        device: &Device,
        seed: u64,
        kernels: Kernels,
    ) -> Result<Self> {
        if spec.num_classes < 2 {
            return Err(ModelError::BadArchConfig {
                arch: spec.arch.name().into(),
                reason: format!("{} classes (at least 2 needed)", spec.num_classes),
            });
        }
        let store = ParamStore::with_kernels(device, seed, kernels);
        let root = Scope::root(&store);
        let (net, feature_dim) = match spec.arch {
            Arch::SmallCnn => (Net::SmallCnn(SmallCnn::new(&root, spec)?), 128),
            Arch::ResNet18Cifar => (
                Net::Residual(Box::new(ResNet18::new(&root, spec, false)?)),
                512,
            ),
            Arch::ResNet18 => (
                Net::Residual(Box::new(ResNet18::new(&root, spec, true)?)),
                512,
            ),
            Arch::VitB16 | Arch::VitTiny => {
                let cfg = if spec.arch == Arch::VitB16 {
                    VitConfig::BASE_16
                } else {
                    VitConfig::TINY_4
                };
                let vit = Vit::new(&root, spec.arch.name(), spec.input_shape, &cfg)?;
                (Net::Vit(Box::new(vit)), cfg.hidden_size)
            }
        };
        let head = Linear::new(
            &root.pp(spec.arch.head_prefix()),
            feature_dim,
            spec.num_classes,
        )?;
        Ok(Self {
            spec: spec.clone(),
            store,
            net,
            head,
            feature_dim,
            input: None,
        })
    }

    /// This model with input normalisation `normalization` (`None`: inputs are used as
    /// they are). An error when it does not have one finite mean and one positive std per
    /// input channel.
    pub fn with_normalization(mut self, normalization: Option<Normalization>) -> Result<Self> {
        self.input = match normalization {
            None => None,
            Some(values) => {
                let channels = self.spec.input_shape[0];
                values
                    .check(Some(channels))
                    .map_err(|reason| ModelError::BadArchConfig {
                        arch: self.spec.arch.name().into(),
                        reason: format!("input normalisation {}: {reason}", values.to_arg()),
                    })?;
                let device = self.device().clone();
                let mean = Tensor::from_slice(&values.mean, (1, channels, 1, 1), &device)?;
                let std = Tensor::from_slice(&values.std, (1, channels, 1, 1), &device)?;
                Some(InputNormalization { values, mean, std })
            }
        };
        Ok(self)
    }

    /// The input normalisation the model applies to `[0, 1]` images before its first
    /// layer; `None` when it takes its inputs as they are.
    pub fn normalization(&self) -> Option<&Normalization> {
        self.input.as_ref().map(|n| &n.values)
    }

    /// The inputs as the first layer sees them: `(x - mean[c]) / std[c]`, in f32, the same
    /// operations in the same order as `torchvision.transforms.Normalize`.
    pub fn normalize_input(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match &self.input {
            None => x.clone(),
            Some(n) => x.broadcast_sub(&n.mean)?.broadcast_div(&n.std)?,
        })
    }

    /// Penultimate features `g(x)`, N × d, of images `x` in `[0, 1]` (normalised first, see
    /// [`Model::normalization`]). `train` selects BatchNorm's mode.
    pub fn features(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let normalized;
        let x = match &self.input {
            None => x,
            Some(_) => {
                normalized = self.normalize_input(x)?;
                &normalized
            }
        };
        match &self.net {
            Net::SmallCnn(n) => n.features(x),
            Net::Residual(n) => n.features(x, train),
            Net::Vit(n) => n.features(x),
        }
    }

    /// The head `h(z)`: logits from features.
    pub fn head(&self, z: &Tensor) -> Result<Tensor> {
        self.head.forward(z)
    }

    /// Logits `h(g(x))` of images `x` in `[0, 1]`.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.head(&self.features(x, train)?)
    }

    /// The model's description.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The named tensors.
    pub fn store(&self) -> &ParamStore {
        &self.store
    }

    /// Width `d` of the penultimate features.
    pub fn feature_dim(&self) -> usize {
        self.feature_dim
    }

    /// Whether tensor `name` belongs to the head `h`.
    pub fn is_head_tensor(&self, name: &str) -> bool {
        name.starts_with(&format!("{}.", self.spec.arch.head_prefix()))
    }

    /// Device of the model.
    pub fn device(&self) -> &Device {
        self.store.device()
    }

    /// Copies every tensor of `other` (same architecture) into this model. The input
    /// normalisation is not a tensor of the store: each model keeps its own.
    pub fn copy_from(&self, other: &Model) -> Result<()> {
        for (name, var, _) in self.store.all() {
            if let Some(src) = other.store.get(&name) {
                var.set(&src.as_tensor().copy()?)?;
            }
        }
        for (name, value) in other.store.counters() {
            self.store.set_counter(&name, value);
        }
        Ok(())
    }

    /// A deep copy with its own storage.
    pub fn deep_clone(&self) -> Result<Model> {
        let copy = Model::with_kernels(
            &self.spec,
            self.device(),
            self.store.seed(),
            self.store.kernels(),
        )?;
        copy.copy_from(self)?;
        copy.with_normalization(self.normalization().cloned())
    }
}

impl ModuleT for Model {
    /// The logits [`Model::forward`]; `train` selects BatchNorm's mode.
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        Ok(self.forward(xs, train)?)
    }
}
