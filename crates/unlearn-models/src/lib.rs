//! Models for the unlearning toolkit: architectures with a separate feature extractor and
//! head, self-describing checkpoints, and Hugging Face Hub loading.
//!
//! # Design
//! - A classifier is `f = h ∘ g`: [`Model::features`] gives the penultimate features
//!   (N × d, after global average pooling for CNNs), [`Model::head`] the logits. The metrics
//!   and MUDA need `g` on its own, so it is a first-class call, not a hook.
//! - Every tensor lives in a [`ParamStore`] under its PyTorch `state_dict` name
//!   (`conv1.weight`, `layer1.0.bn1.running_mean`, `fc.bias`, …), so a checkpoint loads into
//!   torchvision by name and back. BatchNorm really trains: running statistics update in
//!   training mode, as in PyTorch.
//! - Initial values come from this crate's own seeded ChaCha8 streams, keyed by tensor
//!   name (candle's CPU RNG cannot be seeded), following PyTorch's default schemes.
//! - The ViTs are this crate's own (Hugging Face `transformers` names and semantics) with
//!   softmax and layer norm composed of differentiable operations: candle-nn's fused
//!   versions have no backward pass and would leave the queries, keys and layer norms
//!   untrained. Every parameter's gradient is checked against PyTorch for every
//!   architecture (`tests/gradient_parity.rs`).
//! - The layers and [`Model`] are candle modules: [`candle_nn::Module`] for the stateless
//!   layers, [`candle_nn::ModuleT`] (`train` selects BatchNorm's mode) for BatchNorm, the
//!   nets and the model, whose `forward_t` gives the logits. The inherent methods return
//!   this crate's [`Result`]; a [`ModelError`] converts into a candle error with `?`.
//! - Checkpoints ([`checkpoint`]) are safetensors files, written atomically and
//!   byte-deterministically, whose `__metadata__` says what produced them.
//!
//! # Example
//! ```
//! use candle_core::{Device, Tensor};
//! use candle_nn::ModuleT;
//! use unlearn_models::{checkpoint, Arch, CheckpointMeta, Model, ModelSpec};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let spec = ModelSpec { arch: Arch::SmallCnn, input_shape: [1, 28, 28], num_classes: 10 };
//! let model = Model::new(&spec, &Device::Cpu, 42)?;
//! let x = Tensor::zeros((2, 1, 28, 28), candle_core::DType::F32, &Device::Cpu)?;
//! assert_eq!(model.features(&x, false)?.dims(), &[2, 128]);
//! assert_eq!(model.forward(&x, false)?.dims(), &[2, 10]);
//!
//! // The model is a candle `ModuleT` (`train = false`: eval mode) giving the same logits.
//! let logits = model.forward_t(&x, false)?;
//! assert_eq!(logits.to_vec2::<f32>()?, model.forward(&x, false)?.to_vec2::<f32>()?);
//! assert_eq!(x.apply_t(&model, false)?.to_vec2::<f32>()?, logits.to_vec2::<f32>()?);
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("model.safetensors");
//! checkpoint::save(&model, &CheckpointMeta::for_model(&model), &path)?;
//! let (loaded, meta) = checkpoint::load(&path, &Device::Cpu)?;
//! assert_eq!(meta.arch, unlearn_models::Arch::SmallCnn);
//! assert_eq!(loaded.forward(&x, false)?.to_vec2::<f32>()?, model.forward(&x, false)?.to_vec2::<f32>()?);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod adapt;
pub mod arch;
pub mod checkpoint;
pub mod device;
pub mod error;
pub mod hub;
pub mod kernels;
pub mod layers;
pub mod limits;
pub mod pth;
pub mod registry;
pub mod store;
mod vit;

pub use adapt::Naming;
pub use arch::{Arch, Model, ModelSpec};
pub use checkpoint::{CheckpointMeta, Normalization};
pub use device::device;
pub use error::{ModelError, Result, ShaDigests, ShaSource};
pub use store::{Init, ParamStore, Scope, TensorKind};
