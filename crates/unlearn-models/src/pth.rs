//! PyTorch checkpoints (`torch.save`, zip format) read without executing anything.
//!
//! The zip archive is read by this crate's own reader ([`archive`]): End Of Central Directory
//! and zip64 records, the central directory, each local header; stored entries only, every
//! offset and size bounded by the file, entries refused if they overlap, `data.pkl`'s CRC-32
//! checked. (The `zip` crate refused valid torch archives whose root folder name is 21
//! characters long, such as the Machine-Unlearning-Comparator's `resnet18_cifar10_full.pth`.)
//!
//! The pickle inside (`<root>/data.pkl`, any pickle protocol from 0 to 5) is interpreted by
//! this crate's data-only pickle machine ([`machine`]: bounded in depth and size, no
//! recursion while it runs), and every class it names must be on an allow-list of tensor
//! rebuilders, storages and plain containers. Anything else (a pickled `nn.Module`,
//! `os.system`, any other callable) is refused by name before a tensor is read. A TorchScript
//! archive (`torch.jit.save`) is recognised and refused with what to save instead. The
//! archive's `byteorder` record is honoured: `big` storages are byte-swapped, an unknown
//! value is refused.
//! The state dict is unwrapped from `state_dict`, `model`, `net` or `model_state_dict`, and
//! the `module.` (DataParallel) and `model.` prefixes are stripped. Each tensor is rebuilt
//! from its `_rebuild_tensor_v2` call ([`rebuild`]: dtype from the storage class, any strides
//! that stay inside the storage) from exactly the bytes it needs of `<root>/data/<key>`,
//! whose size must match the storage's persistent id. The legacy (non-zip) format is read the
//! same way ([`legacy`]: its pickles through the same machine and allow-list, its storages
//! bounded by the file's size, its tensors through the same rebuild path).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use candle_core::pickle::Object;
use candle_core::{DType, Tensor};

use crate::error::{ModelError, Result};

mod archive;
mod legacy;
mod machine;
mod opcodes;
mod rebuild;

pub use machine::{MAX_DEPTH, MAX_OBJECTS, MAX_TREE_BYTES};
pub use rebuild::{MAX_EXPANDED_ELEMENTS, MAX_EXPANDED_TOTAL, MAX_TENSOR_ELEMENTS};

/// The classes a checkpoint's pickle may name: tensor rebuilders, storages, containers.
const ALLOWED: &[(&str, &str)] = &[
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._tensor", "_rebuild_from_type_v2"),
    ("torch", "Tensor"),
    ("torch.nn.parameter", "Parameter"),
    ("torch", "FloatStorage"),
    ("torch", "DoubleStorage"),
    ("torch", "HalfStorage"),
    ("torch", "BFloat16Storage"),
    ("torch", "LongStorage"),
    ("torch", "IntStorage"),
    ("torch", "ShortStorage"),
    ("torch", "CharStorage"),
    ("torch", "ByteStorage"),
    ("torch", "BoolStorage"),
];

/// Keys under which checkpoints keep their state dict.
const WRAPPERS: &[&str] = &["state_dict", "model_state_dict", "model", "net"];

/// Prefixes stripped from tensor names.
const PREFIXES: &[&str] = &["module.", "model."];

/// What a file's first bytes say it is, as far as `torch.save` goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PthFormat {
    /// A zip archive (`torch.save`'s format since PyTorch 1.6).
    Zip,
    /// A legacy pickle (before PyTorch 1.6, or `_use_new_zipfile_serialization=False`), of
    /// any pickle protocol from 2 to 5.
    LegacyPickle,
}

/// The `torch.save` format of the file at `path`, from its first bytes (one read); `None`
/// for anything else (a safetensors file, say). A legacy file starts with its pickled magic
/// number: PROTO 2 to 5, a FRAME from protocol 4 on, then `LONG1` of 10 bytes. Any other
/// file that starts with PROTO 2 to 5 and is not safetensors (whose JSON header opens at
/// byte 8) is taken for a legacy file too, so that the legacy reader names what it lacks
/// (the magic number) instead of the safetensors reader its header length.
pub fn sniff(path: &Path) -> Option<PthFormat> {
    let mut head = [0u8; 13];
    let mut file = std::fs::File::open(path).ok()?;
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) => return None,
        }
    }
    let head = &head[..got];
    let long1 = |rest: &[u8]| rest.starts_with(&[0x8a, 0x0a]);
    match head {
        [b'P', b'K', 3, 4, ..] => Some(PthFormat::Zip),
        [0x80, 2..=5, rest @ ..] if long1(rest) => Some(PthFormat::LegacyPickle),
        [0x80, 4 | 5, 0x95, rest @ ..] if rest.len() >= 10 && long1(&rest[8..]) => {
            Some(PthFormat::LegacyPickle)
        }
        [0x80, 2..=5, ..] if head.get(8) != Some(&b'{') => Some(PthFormat::LegacyPickle),
        _ => None,
    }
}

/// A PyTorch checkpoint's tensors, by their cleaned names.
#[derive(Debug)]
pub struct PthCheckpoint {
    /// Float tensors (as f32) by name, prefixes stripped.
    pub tensors: BTreeMap<String, Tensor>,
    /// Integer scalars (BatchNorm `num_batches_tracked`).
    pub counters: BTreeMap<String, i64>,
    /// The key the state dict was unwrapped from, if any.
    pub unwrapped_from: Option<String>,
    /// Names whose prefix was stripped: (in the file, kept as).
    pub renamed: Vec<(String, String)>,
}

fn bad(path: &Path, reason: String) -> ModelError {
    ModelError::BadCheckpoint {
        path: path.to_path_buf(),
        reason,
    }
}

/// Every class the object names that is not on the allow-list, as `module.class`.
fn foreign_classes(obj: &Object, found: &mut Vec<String>) {
    match obj {
        Object::Class {
            module_name,
            class_name,
        } => {
            // Every storage class is data (an unread dtype is refused by name where its
            // tensor is read).
            let allowed = ALLOWED
                .iter()
                .any(|(m, c)| m == module_name && c == class_name)
                || (module_name == "torch" && class_name.ends_with("Storage"));
            let name = format!("{module_name}.{class_name}");
            if !allowed && !found.contains(&name) {
                found.push(name);
            }
        }
        Object::Tuple(items) | Object::List(items) => {
            items.iter().for_each(|o| foreign_classes(o, found))
        }
        Object::Dict(pairs) => pairs.iter().for_each(|(k, v)| {
            foreign_classes(k, found);
            foreign_classes(v, found);
        }),
        Object::Reduce { callable, args } | Object::Build { callable, args } => {
            foreign_classes(callable, found);
            foreign_classes(args, found);
        }
        Object::PersistentLoad(o) => foreign_classes(o, found),
        _ => {}
    }
}

/// The pickle of an opened archive (`<root>/data.pkl`), CRC-checked, parsed as data.
fn read_pickle(path: &Path, zip: &mut archive::Archive, root: &str) -> Result<Object> {
    let name = format!("{root}data.pkl");
    let size = zip.entry(&name).map_or(0, |e| e.size);
    let bytes = zip.read(&name, 0, size)?;
    machine::load(&bytes).map_err(|why| {
        bad(
            path,
            format!("{name} is not a pickle this reader accepts: {why}"),
        )
    })
}

/// Whether the archive's storages are big-endian: its `<root>/byteorder` record says
/// `little` (or is absent, as before PyTorch 1.13) or `big`; anything else is refused.
fn big_endian(path: &Path, zip: &mut archive::Archive, root: &str) -> Result<bool> {
    let name = format!("{root}byteorder");
    let Some(entry) = zip.entry(&name) else {
        return Ok(false);
    };
    let bytes = if entry.size <= 16 {
        zip.read(&name, 0, entry.size)?
    } else {
        Vec::new()
    };
    match String::from_utf8_lossy(&bytes).trim() {
        "little" => Ok(false),
        "big" => Ok(true),
        other => Err(bad(
            path,
            format!(
                "its '{name}' record says '{}' ({} bytes): expected 'little' or 'big'",
                other.chars().take(16).collect::<String>(),
                entry.size
            ),
        )),
    }
}

/// The state dict's tensors of an archive, each read from `<root>/data/<key>`.
fn archive_tensors(
    path: &Path,
    zip: &mut archive::Archive,
    root: &str,
    obj: &Object,
    key: Option<&str>,
) -> Result<Vec<(rebuild::Spec, Tensor)>> {
    let big = big_endian(path, zip, root)?;
    let specs = rebuild::specs(path, rebuild::state_dict(path, obj, key)?)?;
    specs
        .into_iter()
        .map(|spec| {
            let entry_name = format!("{root}data/{}", spec.key);
            let entry = zip.entry(&entry_name).ok_or_else(|| {
                bad(
                    path,
                    format!(
                        "tensor '{}': its storage '{}' is not in the archive (no entry '{entry_name}')",
                        spec.name, spec.key
                    ),
                )
            })?;
            if spec.storage_bytes() != Some(entry.size) {
                return Err(bad(
                    path,
                    format!(
                        "tensor '{}': storage '{}' has {} elements of {} bytes by its id, but entry '{entry_name}' holds {} bytes",
                        spec.name,
                        spec.key,
                        spec.storage_numel,
                        spec.dtype.size_in_bytes(),
                        entry.size
                    ),
                ));
            }
            let (start, len) = spec.byte_range(path, entry.size)?;
            let bytes = zip.read(&entry_name, start, len)?;
            let t = rebuild::tensor(&spec, &bytes, big)?;
            Ok((spec, t))
        })
        .collect()
}

/// Reads a `torch.save` checkpoint at `path` (see the module documentation).
pub fn read(path: &Path) -> Result<PthCheckpoint> {
    read_as(path, sniff(path))
}

/// Refuses an object naming a class off the allow-list, or a tensor rebuild call whose
/// arguments are not shaped as `torch.save` writes them (candle's reader indexes them).
fn check_object(path: &Path, obj: &Object) -> Result<()> {
    let mut foreign = Vec::new();
    foreign_classes(obj, &mut foreign);
    if !foreign.is_empty() {
        return Err(bad(
            path,
            format!(
                "its pickle names {} — only tensors and plain containers are read (a pickled model or code is refused, never run); save a state dict: torch.save(model.state_dict(), f)",
                foreign.join(", ")
            ),
        ));
    }
    // Tensor rebuild calls are checked where they are read (`rebuild::specs`), without
    // indexing anything the file controls.
    Ok(())
}

/// The key of `obj` (a dict) under which the state dict sits, if any.
fn wrapper_key(obj: &Object) -> Option<String> {
    match obj {
        Object::Dict(pairs) => WRAPPERS.iter().find_map(|w| {
            pairs.iter().find_map(|(k, v)| {
                (matches!(k, Object::Unicode(s) if s == w) && matches!(v, Object::Dict(_)))
                    .then(|| w.to_string())
            })
        }),
        _ => None,
    }
}

/// [`read`] of a file whose format [`sniff`] already gave (no second look at its head).
pub fn read_as(path: &Path, format: Option<PthFormat>) -> Result<PthCheckpoint> {
    let raw: Vec<(rebuild::Spec, Tensor)>;
    let unwrapped_from;
    if format == Some(PthFormat::LegacyPickle) {
        let file = legacy::open(path)?;
        check_object(path, &file.object)?;
        unwrapped_from = wrapper_key(&file.object);
        raw = legacy::tensors(path, file, unwrapped_from.as_deref())?;
    } else {
        let mut zip = archive::open(path)?;
        let root = zip.root()?;
        let obj = read_pickle(path, &mut zip, &root)?;
        check_object(path, &obj)?;
        unwrapped_from = wrapper_key(&obj);
        raw = archive_tensors(path, &mut zip, &root, &obj, unwrapped_from.as_deref())?;
    }
    collect(path, raw, unwrapped_from)
}

/// Sorts the file's tensors into float tensors and counters under their cleaned names.
fn collect(
    path: &Path,
    mut raw: Vec<(rebuild::Spec, Tensor)>,
    unwrapped_from: Option<String>,
) -> Result<PthCheckpoint> {
    let mut out = PthCheckpoint {
        tensors: BTreeMap::new(),
        counters: BTreeMap::new(),
        unwrapped_from,
        renamed: Vec::new(),
    };
    raw.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    for (spec, t) in raw {
        let name = spec.name;
        let mut clean = name.as_str();
        while let Some(rest) = PREFIXES.iter().find_map(|p| clean.strip_prefix(p)) {
            clean = rest;
        }
        let clean = clean.to_string();
        if clean != name {
            out.renamed.push((name.clone(), clean.clone()));
        }
        if out.tensors.contains_key(&clean) || out.counters.contains_key(&clean) {
            return Err(bad(
                path,
                format!("two tensors are named '{clean}' once prefixes are stripped"),
            ));
        }
        match t.dtype() {
            DType::I64 if t.elem_count() == 1 => {
                let v = t.flatten_all()?.to_vec1::<i64>()?[0];
                out.counters.insert(clean, v);
            }
            DType::F32 | DType::F64 | DType::F16 | DType::BF16 => {
                let t = t.to_dtype(DType::F32)?;
                // Normalisation buffers are judged by `adapt`, after `--normalize` has had
                // the chance to replace them.
                if !crate::adapt::NORMALIZATION_TENSORS.contains(&clean.as_str()) {
                    crate::checkpoint::check_finite(
                        &format!("checkpoint {}", path.display()),
                        &clean,
                        &t,
                        "the file is damaged or the model diverged before it was saved",
                    )?;
                }
                out.tensors.insert(clean, t);
            }
            _ => return Err(bad(path, rebuild::unread_dtype(&name, &spec.class))),
        }
    }
    Ok(out)
}
