//! Named parameters and buffers of a model, with seeded, name-keyed initialisation.
//!
//! Every tensor of a model lives here under its PyTorch `state_dict` name. Trainable
//! parameters and buffers (BatchNorm running statistics) are kept apart so an optimiser
//! never sees a buffer. Initial values are drawn from a ChaCha8 stream seeded by
//! `(seed, tensor name)`, so a tensor's initial value does not depend on the order in
//! which layers are built, and the same seed gives the same bytes on every machine.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::Result;
use crate::kernels::Kernels;

/// How a tensor is initialised (PyTorch's default schemes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// A constant value.
    Const(f32),
    /// Uniform in `[-bound, bound]`.
    Uniform {
        /// Half-width of the interval.
        bound: f32,
    },
    /// Normal with mean 0 and the given standard deviation.
    Normal {
        /// Standard deviation.
        std: f32,
    },
    /// Truncated normal in `[-2·std, 2·std]` (as `timm`/HF ViT initialisation), by rejection.
    TruncNormal {
        /// Standard deviation.
        std: f32,
    },
}

impl Init {
    /// PyTorch's default for `nn.Linear` / `nn.Conv2d` weights and biases:
    /// `kaiming_uniform_(a = √5)`, i.e. uniform with bound `1/√fan_in`.
    pub fn torch_default(fan_in: usize) -> Self {
        Init::Uniform {
            bound: 1.0 / (fan_in.max(1) as f32).sqrt(),
        }
    }

    /// `kaiming_normal_(mode = "fan_out", nonlinearity = "relu")`: normal with std `√(2/fan_out)`.
    pub fn kaiming_normal_fan_out(fan_out: usize) -> Self {
        Init::Normal {
            std: (2.0 / fan_out.max(1) as f32).sqrt(),
        }
    }

    fn sample(&self, n: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<f32> {
        match *self {
            Init::Const(v) => vec![v; n],
            Init::Uniform { bound } => (0..n)
                .map(|_| rng.random_range(-1.0f32..1.0f32) * bound)
                .collect(),
            Init::Normal { std } => (0..n)
                .map(|_| {
                    let z: f32 = StandardNormal.sample(rng);
                    z * std
                })
                .collect(),
            Init::TruncNormal { std } => (0..n)
                .map(|_| loop {
                    let z: f32 = StandardNormal.sample(rng);
                    if z.abs() <= 2.0 {
                        break z * std;
                    }
                })
                .collect(),
        }
    }
}

/// Whether a named tensor is trained by the optimiser or updated by the forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorKind {
    /// A trainable parameter.
    Parameter,
    /// A buffer (BatchNorm running mean / variance).
    Buffer,
}

#[derive(Debug)]
struct Entry {
    var: Var,
    kind: TensorKind,
}

/// The named tensors of one model. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct ParamStore {
    entries: Arc<Mutex<BTreeMap<String, Entry>>>,
    /// BatchNorm `num_batches_tracked` counters (saved as int64 for PyTorch).
    counters: Arc<Mutex<BTreeMap<String, i64>>>,
    device: Device,
    seed: u64,
    kernels: Kernels,
}

impl ParamStore {
    /// An empty store whose initial values derive from `seed`, its layers running the
    /// kernels [`Kernels::from_env`] chooses.
    pub fn new(device: &Device, seed: u64) -> Self {
        Self::with_kernels(device, seed, Kernels::from_env())
    }

    /// [`ParamStore::new`] whose layers run `kernels`.
    pub fn with_kernels(device: &Device, seed: u64, kernels: Kernels) -> Self {
        Self {
            entries: Arc::new(Mutex::new(BTreeMap::new())),
            counters: Arc::new(Mutex::new(BTreeMap::new())),
            device: device.clone(),
            seed,
            kernels,
        }
    }

    /// The kernels the layers built on this store run (fixed when the store is made).
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// The device tensors live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The initialisation seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still usable.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates (or returns the existing) tensor `name` of `shape`, initialised by `init`.
    pub fn var(&self, name: &str, shape: &[usize], init: Init, kind: TensorKind) -> Result<Var> {
        let mut map = self.lock();
        if let Some(e) = map.get(name) {
            return Ok(e.var.clone());
        }
        let n: usize = shape.iter().product();
        let mut rng = unlearn_data::rng::seeded(self.seed, &format!("init:{name}"));
        let data = init.sample(n, &mut rng);
        let t = Tensor::from_vec(data, shape, &self.device)?;
        let var = Var::from_tensor(&t)?;
        map.insert(
            name.to_string(),
            Entry {
                var: var.clone(),
                kind,
            },
        );
        Ok(var)
    }

    /// Registers an existing variable under `name`.
    pub fn adopt(&self, name: &str, var: Var, kind: TensorKind) {
        self.lock().insert(name.to_string(), Entry { var, kind });
    }

    /// Registers a BatchNorm step counter.
    pub fn register_counter(&self, name: &str) {
        self.counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_string())
            .or_insert(0);
    }

    /// Adds one to a BatchNorm step counter.
    pub fn bump_counter(&self, name: &str) {
        if let Some(c) = self
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(name)
        {
            *c += 1;
        }
    }

    /// All counters by name.
    pub fn counters(&self) -> BTreeMap<String, i64> {
        self.counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sets a counter (when loading a checkpoint).
    pub fn set_counter(&self, name: &str, value: i64) {
        if let Some(c) = self
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(name)
        {
            *c = value;
        }
    }

    /// Trainable parameters, sorted by name.
    pub fn parameters(&self) -> Vec<(String, Var)> {
        self.lock()
            .iter()
            .filter(|(_, e)| e.kind == TensorKind::Parameter)
            .map(|(k, e)| (k.clone(), e.var.clone()))
            .collect()
    }

    /// Every tensor (parameters and buffers), sorted by name.
    pub fn all(&self) -> Vec<(String, Var, TensorKind)> {
        self.lock()
            .iter()
            .map(|(k, e)| (k.clone(), e.var.clone(), e.kind))
            .collect()
    }

    /// The variable called `name`, if any.
    pub fn get(&self, name: &str) -> Option<Var> {
        self.lock().get(name).map(|e| e.var.clone())
    }

    /// The kind of the tensor called `name`, if any.
    pub fn kind(&self, name: &str) -> Option<TensorKind> {
        self.lock().get(name).map(|e| e.kind)
    }

    /// Number of trainable scalars.
    pub fn num_parameters(&self) -> usize {
        self.parameters()
            .iter()
            .map(|(_, v)| v.as_tensor().elem_count())
            .sum()
    }

    /// A deep copy (new storage) of every tensor, by name, for snapshots and teachers.
    pub fn snapshot(&self) -> Result<BTreeMap<String, Tensor>> {
        let mut out = BTreeMap::new();
        for (name, var, _) in self.all() {
            out.insert(name, var.as_tensor().copy()?.detach());
        }
        Ok(out)
    }

    /// Removes a tensor (e.g. a temporary shadow-class row); returns it.
    pub fn remove(&self, name: &str) -> Option<Var> {
        self.lock().remove(name).map(|e| e.var)
    }

    /// Data type of the parameters (always f32 for training here).
    pub fn dtype(&self) -> DType {
        DType::F32
    }

    /// A candle [`VarBuilder`] whose tensors are this store's trainable variables, so layers
    /// written against candle-nn's `VarBuilder` train the store's tensors.
    /// Asking for a name creates its variable with the initialisation `init_for(name)`
    /// returns (seeded by name, as [`ParamStore::var`]), or returns the existing one.
    pub fn var_builder(&self, init_for: fn(&str) -> Init) -> VarBuilder<'static> {
        let backend = StoreBackend {
            store: self.clone(),
            init_for,
        };
        VarBuilder::from_backend(Box::new(backend), self.dtype(), self.device.clone())
    }
}

/// The [`SimpleBackend`] behind [`ParamStore::var_builder`].
struct StoreBackend {
    store: ParamStore,
    init_for: fn(&str) -> Init,
}

impl StoreBackend {
    fn check(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<()> {
        if dtype != self.store.dtype() {
            candle_core::bail!(
                "{name}: the parameter store holds {:?} variables, {dtype:?} was asked for",
                self.store.dtype()
            );
        }
        if !dev.same_device(self.store.device()) {
            candle_core::bail!(
                "{name}: the parameter store lives on {:?}, not {dev:?}",
                self.store.device()
            );
        }
        Ok(())
    }
}

impl SimpleBackend for StoreBackend {
    /// The store's variable `name`, created with `init_for(name)` (candle's hint is not
    /// used: this crate's initial values are its own seeded draws) when it does not exist.
    fn get(
        &self,
        s: Shape,
        name: &str,
        _hint: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.check(name, dtype, dev)?;
        let init = (self.init_for)(name);
        let var = self
            .store
            .var(name, s.dims(), init, TensorKind::Parameter)?;
        if var.shape() != &s {
            candle_core::bail!(
                "{name}: shape {s:?} asked for, the store holds {:?}",
                var.shape()
            );
        }
        Ok(var.as_tensor().clone())
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.check(name, dtype, dev)?;
        match self.store.get(name) {
            Some(var) => Ok(var.as_tensor().clone()),
            None => Err(candle_core::Error::CannotFindTensor {
                path: name.to_string(),
            }
            .bt()),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.store.get(name).is_some()
    }
}

/// A naming scope into a [`ParamStore`], as `VarBuilder::pp` in candle-nn: `scope.pp("layer1").pp(0)`
/// names tensors `layer1.0.*`.
#[derive(Clone, Debug)]
pub struct Scope {
    store: ParamStore,
    prefix: String,
}

impl Scope {
    /// The root scope of a store.
    pub fn root(store: &ParamStore) -> Self {
        Self {
            store: store.clone(),
            prefix: String::new(),
        }
    }

    /// A child scope.
    pub fn pp<S: ToString>(&self, name: S) -> Self {
        let name = name.to_string();
        Self {
            store: self.store.clone(),
            prefix: if self.prefix.is_empty() {
                name
            } else {
                format!("{}.{}", self.prefix, name)
            },
        }
    }

    /// Full name of `leaf` in this scope.
    pub fn name(&self, leaf: &str) -> String {
        if self.prefix.is_empty() {
            leaf.to_string()
        } else {
            format!("{}.{}", self.prefix, leaf)
        }
    }

    /// A trainable parameter `leaf` in this scope.
    pub fn param(&self, leaf: &str, shape: &[usize], init: Init) -> Result<Var> {
        self.store
            .var(&self.name(leaf), shape, init, TensorKind::Parameter)
    }

    /// A buffer `leaf` in this scope.
    pub fn buffer(&self, leaf: &str, shape: &[usize], init: Init) -> Result<Var> {
        self.store
            .var(&self.name(leaf), shape, init, TensorKind::Buffer)
    }

    /// The store.
    pub fn store(&self) -> &ParamStore {
        &self.store
    }
}
