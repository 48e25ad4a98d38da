//! Self-describing safetensors checkpoints with PyTorch `state_dict` names.
//!
//! The file is standard safetensors: it loads with `safetensors.torch.load_file` and then
//! `model.load_state_dict` by name (BatchNorm `num_batches_tracked` is written as int64).
//! `__metadata__` holds a flat string map describing what produced the weights
//! ([`CheckpointMeta`]). Files are written byte-deterministically (sorted header, sorted
//! tensors) and atomically (temporary file in the same folder, then rename).

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::arch::{Arch, Model, ModelSpec};
use crate::error::{ModelError, Result};

use crate::limits::{MAX_CHANNELS, MAX_CLASSES, MAX_SIDE};

pub use unlearn_data::Normalization;

/// The format tag written into every checkpoint.
pub const FORMAT: &str = "unlearn-checkpoint/1";

/// What a checkpoint says about itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Architecture (stored by its name: `small-cnn`, `resnet18-cifar`, …).
    pub arch: Arch,
    /// Number of classes.
    pub num_classes: usize,
    /// Input shape `[C, H, W]`.
    pub input_shape: [usize; 3],
    /// Width of the penultimate features.
    pub feature_dim: usize,
    /// Dataset name and source (`embedded`, `idx:/data`, …).
    pub dataset: String,
    /// SHA-256 fingerprint of the dataset.
    pub dataset_fingerprint: String,
    /// Content hash of the split manifest the model was trained with.
    pub split_sha256: String,
    /// Which part of the split it was trained on (`train`, `retain`, or a method id).
    pub subset: String,
    /// The training recipe or method parameters (JSON).
    pub recipe: String,
    /// The seed.
    pub seed: u64,
    /// Epochs completed.
    pub epochs: usize,
    /// The input normalisation the model was trained with (`None` in checkpoints written
    /// before it was recorded: the data's own is then used).
    pub normalization: Option<Normalization>,
    /// Free-form extra entries (method id, hyper-parameters, …).
    pub extra: BTreeMap<String, String>,
}

impl CheckpointMeta {
    /// Metadata for `model` with the other fields empty.
    pub fn for_model(model: &Model) -> Self {
        let spec = model.spec();
        Self {
            arch: spec.arch,
            num_classes: spec.num_classes,
            input_shape: spec.input_shape,
            feature_dim: model.feature_dim(),
            normalization: model.normalization().cloned(),
            ..Default::default()
        }
    }

    /// The flat `__metadata__` map.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("format".into(), FORMAT.into());
        m.insert(
            "created_by".into(),
            format!("unlearn {}", env!("CARGO_PKG_VERSION")),
        );
        m.insert("arch".into(), self.arch.name().to_string());
        m.insert("num_classes".into(), self.num_classes.to_string());
        m.insert(
            "input_shape".into(),
            format!(
                "[{},{},{}]",
                self.input_shape[0], self.input_shape[1], self.input_shape[2]
            ),
        );
        m.insert("feature_dim".into(), self.feature_dim.to_string());
        m.insert("dataset".into(), self.dataset.clone());
        m.insert(
            "dataset_fingerprint".into(),
            self.dataset_fingerprint.clone(),
        );
        m.insert("split_sha256".into(), self.split_sha256.clone());
        m.insert("subset".into(), self.subset.clone());
        m.insert("recipe".into(), self.recipe.clone());
        m.insert("seed".into(), self.seed.to_string());
        m.insert("epochs".into(), self.epochs.to_string());
        if let Some(n) = &self.normalization {
            m.insert(
                "input_mean".into(),
                serde_json::to_string(&n.mean).unwrap_or_default(),
            );
            m.insert(
                "input_std".into(),
                serde_json::to_string(&n.std).unwrap_or_default(),
            );
        }
        for (k, v) in &self.extra {
            m.insert(format!("x.{k}"), v.clone());
        }
        m
    }

    /// Parses the `__metadata__` map of a checkpoint written by this crate.
    pub fn from_map(map: &BTreeMap<String, String>, path: &Path) -> Result<Self> {
        let bad = |reason: String| ModelError::BadCheckpoint {
            path: path.to_path_buf(),
            reason,
        };
        let get = |k: &str| -> Result<String> {
            map.get(k)
                .cloned()
                .ok_or_else(|| bad(format!("metadata has no '{k}' entry")))
        };
        let num = |k: &str| -> Result<u64> {
            let v = get(k)?;
            v.parse::<u64>()
                .map_err(|_| bad(format!("metadata '{k}' = '{v}' is not a whole number")))
        };
        let shape_s = get("input_shape")?;
        let shape: Vec<usize> = serde_json::from_str(&shape_s).map_err(|_| {
            bad(format!(
                "metadata 'input_shape' = '{shape_s}' is not [C,H,W]"
            ))
        })?;
        let input_shape: [usize; 3] = shape.try_into().map_err(|_| {
            bad(format!(
                "metadata 'input_shape' = '{shape_s}' is not [C,H,W]"
            ))
        })?;
        // The architecture is built from these numbers before the tensors are compared with
        // it, so they must be sizes a model can have (a damaged header must not make the
        // loader allocate terabytes).
        let [c, h, w] = input_shape;
        if !(1..=MAX_CHANNELS).contains(&c)
            || !(1..=MAX_SIDE).contains(&h)
            || !(1..=MAX_SIDE).contains(&w)
        {
            return Err(bad(format!(
                "metadata 'input_shape' = {input_shape:?} is not an image shape (channels 1..={MAX_CHANNELS}, sides 1..={MAX_SIDE})"
            )));
        }
        let classes = num("num_classes")?;
        if !(1..=MAX_CLASSES as u64).contains(&classes) {
            return Err(bad(format!(
                "metadata 'num_classes' = {classes} is not in 1..={MAX_CLASSES}"
            )));
        }
        let extra = map
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("x.").map(|k| (k.to_string(), v.clone())))
            .collect();
        let normalization = match (map.get("input_mean"), map.get("input_std")) {
            (None, None) => None,
            (Some(mean), Some(std)) => {
                let parse = |k: &str, v: &str| -> Result<Vec<f32>> {
                    serde_json::from_str(v).map_err(|_| {
                        bad(format!("metadata '{k}' = '{v}' is not a list of numbers"))
                    })
                };
                let n = Normalization {
                    mean: parse("input_mean", mean)?,
                    std: parse("input_std", std)?,
                };
                n.check(Some(c))
                    .map_err(|why| bad(format!("metadata input normalisation: {why}")))?;
                Some(n)
            }
            _ => {
                return Err(bad(
                    "metadata has one of 'input_mean' and 'input_std' but not the other".into(),
                ))
            }
        };
        let arch_name = get("arch")?;
        let arch: Arch = arch_name
            .parse()
            .map_err(|e: ModelError| bad(format!("metadata 'arch': {e}")))?;
        Ok(Self {
            arch,
            num_classes: num("num_classes")? as usize,
            input_shape,
            feature_dim: num("feature_dim")? as usize,
            dataset: map.get("dataset").cloned().unwrap_or_default(),
            dataset_fingerprint: map.get("dataset_fingerprint").cloned().unwrap_or_default(),
            split_sha256: map.get("split_sha256").cloned().unwrap_or_default(),
            subset: map.get("subset").cloned().unwrap_or_default(),
            recipe: map.get("recipe").cloned().unwrap_or_default(),
            seed: num("seed").unwrap_or(0),
            epochs: num("epochs").unwrap_or(0) as usize,
            normalization,
            extra,
        })
    }

    /// The model description this metadata names.
    pub fn spec(&self) -> ModelSpec {
        ModelSpec {
            arch: self.arch,
            input_shape: self.input_shape,
            num_classes: self.num_classes,
        }
    }
}

/// One tensor to write: dtype tag, shape and little-endian bytes.
pub struct RawTensor {
    /// `F32`, `I64`, …
    pub dtype: &'static str,
    /// Shape.
    pub shape: Vec<usize>,
    /// Little-endian bytes.
    pub bytes: Vec<u8>,
}

impl RawTensor {
    /// From an f32 candle tensor.
    pub fn from_tensor(t: &Tensor) -> Result<Self> {
        let t = t.to_dtype(DType::F32)?.to_device(&Device::Cpu)?;
        let shape = t.dims().to_vec();
        let data = t.flatten_all()?.to_vec1::<f32>()?;
        let mut bytes = Vec::with_capacity(data.len() * 4);
        for v in data {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        Ok(Self {
            dtype: "F32",
            shape,
            bytes,
        })
    }

    /// A scalar int64 (PyTorch `num_batches_tracked`).
    pub fn scalar_i64(v: i64) -> Self {
        Self {
            dtype: "I64",
            shape: vec![],
            bytes: v.to_le_bytes().to_vec(),
        }
    }
}

/// The metadata entry holding the SHA-256 of a file's tensor bytes; [`read`] checks it, so a
/// damaged payload is refused rather than loaded.
pub const PAYLOAD_SHA256: &str = "payload_sha256";

/// Serialises tensors and metadata into safetensors bytes, deterministically; the metadata
/// gains [`PAYLOAD_SHA256`].
pub fn safetensors_bytes(
    tensors: &BTreeMap<String, RawTensor>,
    metadata: &BTreeMap<String, String>,
) -> Vec<u8> {
    // 8-byte dtypes first (alignment), then by name, as the reference implementation does.
    let mut order: Vec<(&String, &RawTensor)> = tensors.iter().collect();
    order.sort_by(|a, b| {
        let wa = if a.1.dtype == "I64" || a.1.dtype == "F64" {
            0
        } else {
            1
        };
        let wb = if b.1.dtype == "I64" || b.1.dtype == "F64" {
            0
        } else {
            1
        };
        wa.cmp(&wb).then(a.0.cmp(b.0))
    });
    let payload_sha256 = {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for (_, t) in &order {
            h.update(&t.bytes);
        }
        hex::encode(h.finalize())
    };
    let mut metadata = metadata.clone();
    metadata.insert(PAYLOAD_SHA256.into(), payload_sha256);
    let mut header = serde_json::Map::new();
    header.insert(
        "__metadata__".into(),
        serde_json::Value::Object(
            metadata
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        ),
    );
    let mut offset = 0usize;
    for (name, t) in &order {
        let end = offset + t.bytes.len();
        header.insert(
            (*name).clone(),
            serde_json::json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    // serde_json's Map is a BTreeMap here (no preserve_order feature): keys come out sorted.
    let mut header_bytes = serde_json::Value::Object(header).to_string().into_bytes();
    while !header_bytes.len().is_multiple_of(8) {
        header_bytes.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + header_bytes.len() + offset);
    out.extend_from_slice(&(header_bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(&header_bytes);
    for (_, t) in order {
        out.extend_from_slice(&t.bytes);
    }
    out
}

/// Writes `bytes` to `path` atomically ([`unlearn_io::write_atomic`]: a temporary file in
/// the same folder, fsync, rename; a symbolic link is written through, a device refused).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(unlearn_io::write_atomic(path, bytes)?)
}

/// The first non-finite element of `values`: its index and `NaN` or `an infinity`.
pub fn first_non_finite(values: &[f32]) -> Option<(usize, &'static str)> {
    values.iter().position(|v| !v.is_finite()).map(|i| {
        let kind = if values[i].is_nan() {
            "NaN"
        } else {
            "an infinity"
        };
        (i, kind)
    })
}

/// Refuses a tensor holding NaN or an infinity: [`ModelError::NonFinite`] names `what` (the
/// file or `the model to be written`), the tensor and the first such element.
pub fn check_finite(what: &str, name: &str, t: &Tensor, hint: &'static str) -> Result<()> {
    let values = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    match first_non_finite(&values) {
        None => Ok(()),
        Some((index, kind)) => Err(ModelError::NonFinite {
            what: what.to_string(),
            tensor: name.to_string(),
            kind,
            index,
            count: values.len(),
            hint,
        }),
    }
}

/// Every tensor of `model` (and BatchNorm counters) in safetensors form.
pub fn model_tensors(model: &Model) -> Result<BTreeMap<String, RawTensor>> {
    let mut tensors = BTreeMap::new();
    for (name, var, _) in model.store().all() {
        check_finite(
            "the model to be written",
            &name,
            var.as_tensor(),
            "nothing was written (a diverged model is not saved)",
        )?;
        tensors.insert(name, RawTensor::from_tensor(var.as_tensor())?);
    }
    for (name, v) in model.store().counters() {
        tensors.insert(name, RawTensor::scalar_i64(v));
    }
    Ok(tensors)
}

/// Saves `model` with `meta` to `path` (atomic, deterministic). The input normalisation
/// recorded is the model's own ([`Model::normalization`]), whatever `meta` says.
pub fn save(model: &Model, meta: &CheckpointMeta, path: &Path) -> Result<()> {
    let mut meta = meta.clone();
    meta.normalization = model.normalization().cloned();
    let bytes = safetensors_bytes(&model_tensors(model)?, &meta.to_map());
    write_atomic(path, &bytes)
}

/// A checkpoint read into memory: its tensors (as f32 candle tensors on CPU), its int64
/// counters and its metadata.
pub struct LoadedCheckpoint {
    /// Float tensors by name.
    pub tensors: BTreeMap<String, Tensor>,
    /// Integer scalars (BatchNorm `num_batches_tracked`).
    pub counters: BTreeMap<String, i64>,
    /// The raw `__metadata__` map.
    pub metadata: BTreeMap<String, String>,
    /// Input normalisation found in the file's tensors (SalUn-style `normalize.mean` /
    /// `normalize.std` buffers, removed from `tensors`); `None` when it has none.
    pub normalization: Option<Normalization>,
    /// Tensors renamed on reading: (name in the file, name kept), e.g. a stripped
    /// `module.` prefix or a kuangliu `shortcut.0` → torchvision `downsample.0`.
    pub renamed: Vec<(String, String)>,
    /// Entries of the file that were not kept as tensors, with why (e.g. consumed as the
    /// input normalisation).
    pub dropped: Vec<(String, String)>,
    /// The naming scheme the file's tensors were in ([`crate::adapt`] maps kuangliu names
    /// to torchvision's); this toolkit's own files are torchvision-named.
    pub naming: crate::adapt::Naming,
}

/// Reads a safetensors file into memory after checking its 8-byte header length against the
/// file's real size, so a damaged or endless input (`/dev/zero`) is refused before any
/// payload is read, and no allocation exceeds the file's size.
fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let bad = |reason: String| ModelError::BadCheckpoint {
        path: path.to_path_buf(),
        reason,
    };
    let (mut file, size) = unlearn_io::open_regular(path, "checkpoint")?;
    let mut head = [0u8; 8];
    let got = size.min(8) as usize;
    std::io::Read::read_exact(&mut file, &mut head[..got]).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if let Some(why) = unlearn_io::safetensors_header_problem(&head[..got], size) {
        return Err(bad(why));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    bytes.extend_from_slice(&head);
    std::io::Read::read_to_end(&mut std::io::Read::take(file, size - 8), &mut bytes).map_err(
        |source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        },
    )?;
    Ok(bytes)
}

/// Reads a safetensors file, or a PyTorch `torch.save` file through [`crate::pth`] (any
/// float dtype is converted to f32). Every float tensor must
/// be finite ([`ModelError::NonFinite`] names the first that is not).
pub fn read(path: &Path) -> Result<LoadedCheckpoint> {
    read_with(path, false)
}

/// [`read`]; with `normalization_given` (the caller has `--normalize`) a foreign file's own
/// normalisation buffers are replaced without their values being judged
/// ([`crate::adapt::adapt_with`]).
pub fn read_with(path: &Path, normalization_given: bool) -> Result<LoadedCheckpoint> {
    if let Some(format) = crate::pth::sniff(path) {
        // A PyTorch checkpoint: read without running its pickle (`pth`); it has none of
        // this toolkit's metadata, so it loads with an explicit architecture.
        let pth = crate::pth::read_as(path, Some(format))?;
        let mut ckpt = LoadedCheckpoint {
            tensors: pth.tensors,
            counters: pth.counters,
            metadata: BTreeMap::new(),
            normalization: None,
            renamed: pth.renamed,
            dropped: Vec::new(),
            naming: crate::adapt::Naming::Torchvision,
        };
        crate::adapt::adapt_with(&mut ckpt, path, normalization_given)?;
        return Ok(ckpt);
    }
    let bad = |reason: String| ModelError::BadCheckpoint {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = read_bounded(path)?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(format!("not a valid safetensors file ({e})")))?;
    let metadata: BTreeMap<String, String> = header
        .metadata()
        .clone()
        .map(|m| m.into_iter().collect())
        .unwrap_or_default();
    if let Some(recorded) = metadata.get(PAYLOAD_SHA256) {
        use sha2::{Digest, Sha256};
        let header_len =
            unlearn_io::safetensors_header_len(&bytes[..8].try_into().unwrap_or_default()) as usize;
        let actual = hex::encode(Sha256::digest(&bytes[8 + header_len..]));
        if *recorded != actual {
            return Err(bad(format!(
                "the tensor bytes have SHA-256 {actual}, but the file records {recorded}: the file is damaged"
            )));
        }
    }
    let own = metadata.get("format").map(String::as_str) == Some(FORMAT);
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(format!("not a valid safetensors file ({e})")))?;
    let mut tensors = BTreeMap::new();
    let mut counters = BTreeMap::new();
    let mut renamed = Vec::new();
    for (file_name, view) in st.tensors() {
        let name = file_name
            .strip_prefix("module.")
            .unwrap_or(&file_name)
            .to_string();
        if name != file_name {
            renamed.push((file_name.clone(), name.clone()));
        }
        use safetensors::Dtype;
        let shape = view.shape().to_vec();
        let data = view.data();
        match view.dtype() {
            Dtype::I64 if shape.is_empty() || shape == [1] => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[..8]);
                counters.insert(name, i64::from_le_bytes(b));
            }
            Dtype::F32 | Dtype::F64 | Dtype::F16 | Dtype::BF16 => {
                let dtype = match view.dtype() {
                    Dtype::F32 => DType::F32,
                    Dtype::F64 => DType::F64,
                    Dtype::F16 => DType::F16,
                    _ => DType::BF16,
                };
                let t = Tensor::from_raw_buffer(data, dtype, &shape, &Device::Cpu)?
                    .to_dtype(DType::F32)?;
                // A foreign file's normalisation buffers are judged by `adapt`, after
                // `--normalize` has had the chance to replace them.
                if own || !crate::adapt::NORMALIZATION_TENSORS.contains(&name.as_str()) {
                    check_finite(
                        &format!("checkpoint {}", path.display()),
                        &name,
                        &t,
                        "the file is damaged or the model diverged before it was saved",
                    )?;
                }
                tensors.insert(name, t);
            }
            other => {
                return Err(bad(format!(
                    "tensor '{name}' has dtype {other:?}; expected a float tensor"
                )))
            }
        }
    }
    let mut ckpt = LoadedCheckpoint {
        tensors,
        counters,
        metadata,
        normalization: None,
        renamed,
        dropped: Vec::new(),
        naming: crate::adapt::Naming::Torchvision,
    };
    if !own {
        // A safetensors file from elsewhere: the same adaptation as a `.pth` file.
        crate::adapt::adapt_with(&mut ckpt, path, normalization_given)?;
    }
    Ok(ckpt)
}

/// Copies a read checkpoint into `model`, refusing on any missing, unexpected or
/// mis-shaped tensor (all of them are listed in the error).
pub fn load_into(model: &Model, ckpt: &LoadedCheckpoint, path: &Path) -> Result<()> {
    let mut problems = Vec::new();
    let params = model.store().all();
    for (name, var, _) in &params {
        match ckpt.tensors.get(name) {
            None => problems.push(format!("missing tensor '{name}' {:?}", var.dims())),
            Some(t) if t.dims() != var.dims() => problems.push(format!(
                "tensor '{name}' has shape {:?}, the architecture expects {:?}",
                t.dims(),
                var.dims()
            )),
            Some(_) => {}
        }
    }
    let known: std::collections::BTreeSet<&str> =
        params.iter().map(|(n, _, _)| n.as_str()).collect();
    let counters = model.store().counters();
    for name in ckpt.tensors.keys() {
        if !known.contains(name.as_str()) {
            problems.push(format!("unexpected tensor '{name}'"));
        }
    }
    for name in ckpt.counters.keys() {
        if !counters.contains_key(name) {
            problems.push(format!("unexpected tensor '{name}'"));
        }
    }
    if !problems.is_empty() {
        return Err(ModelError::CheckpointMismatch {
            path: path.to_path_buf(),
            arch: model.spec().arch.name().to_string(),
            details: problems.iter().map(|p| format!("\n  - {p}")).collect(),
        });
    }
    for (name, var, _) in params {
        if let Some(t) = ckpt.tensors.get(&name) {
            var.set(&t.to_device(model.device())?)?;
        }
    }
    for (name, v) in &ckpt.counters {
        model.store().set_counter(name, *v);
    }
    Ok(())
}

/// Loads a checkpoint written by this crate: builds the architecture its metadata names and
/// fills it, with the input normalisation the metadata records. Returns the model and the
/// metadata.
pub fn load(path: &Path, device: &Device) -> Result<(Model, CheckpointMeta)> {
    let ckpt = read(path)?;
    if ckpt.metadata.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(ModelError::BadCheckpoint {
            path: path.to_path_buf(),
            reason: format!(
                "no '{FORMAT}' metadata (a checkpoint from elsewhere: load it with an explicit --arch)"
            ),
        });
    }
    let meta = CheckpointMeta::from_map(&ckpt.metadata, path)?;
    let spec = meta.spec();
    // The model is built from the metadata before its tensors are compared with the file's:
    // a model the file cannot hold is refused first (a damaged input_shape must not make
    // the loader allocate far more than the file).
    let held: u64 = ckpt.tensors.values().map(|t| t.elem_count() as u64).sum();
    let needed = spec.size_dependent_parameters();
    if needed > held {
        return Err(ModelError::BadCheckpoint {
            path: path.to_path_buf(),
            reason: format!(
                "metadata says {} for input {:?} and {} classes, a model of at least {needed} parameters, but the file holds {held}",
                spec.arch.name(),
                spec.input_shape,
                spec.num_classes
            ),
        });
    }
    let model = Model::new(&spec, device, meta.seed)?;
    load_into(&model, &ckpt, path)?;
    let model = model.with_normalization(meta.normalization.clone())?;
    Ok((model, meta))
}

/// Loads a checkpoint into a given architecture (for files without this crate's metadata,
/// e.g. a PyTorch `state_dict` saved with safetensors), with the input normalisation the
/// file's `normalize.*` buffers hold, if any.
pub fn load_with_spec(path: &Path, spec: &ModelSpec, device: &Device) -> Result<Model> {
    let ckpt = read(path)?;
    if let Some(n) = &ckpt.normalization {
        n.check(Some(spec.input_shape[0]))
            .map_err(|why| ModelError::BadCheckpoint {
                path: path.to_path_buf(),
                reason: format!("its input normalisation: {why}"),
            })?;
    }
    let model = Model::new(spec, device, 0)?;
    load_into(&model, &ckpt, path)?;
    model.with_normalization(ckpt.normalization)
}
