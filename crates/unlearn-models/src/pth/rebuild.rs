//! Tensors rebuilt from their `_rebuild_tensor_v2` calls, shared by both `torch.save` formats.
//!
//! A state dict's value is `_rebuild_tensor_v2(storage, storage_offset, size, stride, …)`,
//! possibly wrapped in `_rebuild_parameter(…)` or `_rebuild_from_type_v2(…)`. The storage is a
//! persistent id `('storage', <storage class>, key, location, numel)`. [`specs`] reads those
//! arguments without indexing anything the file controls; [`Spec::byte_range`] gives the bytes
//! of the storage a tensor needs (checked against the storage's own size) and [`tensor`] builds
//! it from exactly those bytes. Only contiguous and Fortran-order strides are read.

use std::path::Path;

use candle_core::pickle::Object;
use candle_core::{DType, Device, Tensor};

use super::bad;
use crate::error::Result;

/// One tensor of a state dict, as its rebuild call describes it.
#[derive(Debug, Clone)]
pub(super) struct Spec {
    /// The tensor's name in the state dict.
    pub name: String,
    /// The key of the storage it views.
    pub key: String,
    /// Its element type, from the storage class.
    pub dtype: DType,
    /// The storage's element count, from the persistent id.
    pub storage_numel: u64,
    /// The first element of the storage the tensor uses.
    pub offset: u64,
    /// The tensor's shape.
    pub shape: Vec<usize>,
    /// Whether its strides are Fortran-order (column-major) rather than contiguous.
    pub fortran: bool,
}

/// The element type and size of a storage class, `None` for one this reader does not know.
pub(super) fn storage_dtype(class: &str) -> Option<(DType, usize)> {
    Some(match class {
        "FloatStorage" => (DType::F32, 4),
        "DoubleStorage" => (DType::F64, 8),
        "HalfStorage" => (DType::F16, 2),
        "BFloat16Storage" => (DType::BF16, 2),
        "LongStorage" => (DType::I64, 8),
        "IntStorage" => (DType::I32, 4),
        "ShortStorage" => (DType::I16, 2),
        "ByteStorage" | "BoolStorage" => (DType::U8, 1),
        _ => return None,
    })
}

/// A non-negative pickled integer.
fn count(o: &Object) -> Option<u64> {
    match o {
        Object::Int(n) => u64::try_from(*n).ok(),
        Object::Long(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// A tuple of non-negative integers (a size or a stride).
fn counts(o: &Object) -> Option<Vec<usize>> {
    match o {
        Object::Tuple(items) => items
            .iter()
            .map(|i| count(i).and_then(|n| usize::try_from(n).ok()))
            .collect(),
        _ => None,
    }
}

/// A storage persistent id: (key, storage class, element count).
pub(super) fn storage_id(id: &Object) -> Option<(String, String, u64)> {
    let Object::Tuple(items) = id else {
        return None;
    };
    match items.as_slice() {
        [Object::Unicode(kind), Object::Class { class_name, .. }, Object::Unicode(key), _, numel, ..]
            if kind == "storage" =>
        {
            Some((key.clone(), class_name.clone(), count(numel)?))
        }
        _ => None,
    }
}

/// The `_rebuild_tensor_v2` arguments inside a state dict value, unwrapping parameters and
/// subclasses; `None` when the value is not a tensor.
fn rebuild_args(value: &Object) -> Option<&[Object]> {
    let Object::Reduce { callable, args } = value else {
        return None;
    };
    call_args(callable, args)
}

/// The `_rebuild_tensor_v2` arguments of the call `callable(*args)`, if it rebuilds a tensor.
fn call_args<'a>(callable: &Object, args: &'a Object) -> Option<&'a [Object]> {
    let Object::Class {
        module_name,
        class_name,
    } = callable
    else {
        return None;
    };
    let Object::Tuple(args) = args else {
        return None;
    };
    match (module_name.as_str(), class_name.as_str()) {
        ("torch._utils", "_rebuild_tensor_v2") => Some(args.as_slice()),
        ("torch._utils", "_rebuild_parameter") => rebuild_args(args.first()?),
        // _rebuild_from_type_v2(func, new_type, args, state)
        ("torch._tensor", "_rebuild_from_type_v2") => call_args(args.first()?, args.get(2)?),
        _ => None,
    }
}

/// Whether `stride` is the contiguous (row-major) layout of `shape`; with `reverse`, whether it
/// is the Fortran (column-major) one. Dimensions of size one may have any stride.
fn strides_match(shape: &[usize], stride: &[usize], reverse: bool) -> bool {
    let mut want = 1usize;
    let mut pairs: Vec<(usize, usize)> =
        shape.iter().copied().zip(stride.iter().copied()).collect();
    if !reverse {
        pairs.reverse();
    }
    for (dim, s) in pairs {
        if dim != 1 && s != want {
            return false;
        }
        want = match want.checked_mul(dim) {
            Some(w) => w,
            None => return false,
        };
    }
    true
}

/// The spec of one state dict entry, `Ok(None)` for a value that is not a tensor.
fn spec(path: &Path, name: &str, value: &Object) -> Result<Option<Spec>> {
    let Some(args) = rebuild_args(value) else {
        return Ok(None);
    };
    let [Object::PersistentLoad(id), offset, size, stride, ..] = args else {
        return Err(bad(
            path,
            format!("tensor '{name}': its _rebuild_tensor_v2 call is not (storage, storage_offset, size, stride, …)"),
        ));
    };
    let (key, class, storage_numel) = storage_id(id).ok_or_else(|| {
        bad(
            path,
            format!("tensor '{name}': its storage id {id:?} is not ('storage', class, key, location, numel)"),
        )
    })?;
    let (dtype, _) = storage_dtype(&class).ok_or_else(|| {
        bad(
            path,
            format!("tensor '{name}': storage '{key}' is a {class}, not a storage class this reader knows"),
        )
    })?;
    let (Some(offset), Some(shape), Some(stride)) = (count(offset), counts(size), counts(stride))
    else {
        return Err(bad(
            path,
            format!("tensor '{name}': its offset, size and stride are not non-negative integers"),
        ));
    };
    if shape.len() != stride.len() {
        return Err(bad(
            path,
            format!("tensor '{name}': size {shape:?} and stride {stride:?} differ in length"),
        ));
    }
    let fortran = if strides_match(&shape, &stride, false) {
        false
    } else if strides_match(&shape, &stride, true) {
        true
    } else {
        return Err(bad(
            path,
            format!("tensor '{name}' has size {shape:?} and stride {stride:?}: only contiguous or Fortran-order tensors are read (save t.contiguous())"),
        ));
    };
    Ok(Some(Spec {
        name: name.to_string(),
        key,
        dtype,
        storage_numel,
        offset,
        shape,
        fortran,
    }))
}

/// The tensor specs of a state dict (a dict of name → rebuild call); values that are not
/// tensors are skipped.
pub(super) fn specs(path: &Path, dict: &Object) -> Result<Vec<Spec>> {
    let Object::Dict(pairs) = dict else {
        return Err(bad(
            path,
            "the saved object is not a dict of tensors".into(),
        ));
    };
    let mut out = Vec::new();
    for (name, value) in pairs {
        let Object::Unicode(name) = name else {
            continue;
        };
        if let Some(s) = spec(path, name, value)? {
            out.push(s);
        }
    }
    Ok(out)
}

/// The state dict inside the saved object: under `key` when given, else the object itself.
pub(super) fn state_dict<'a>(
    path: &Path,
    obj: &'a Object,
    key: Option<&str>,
) -> Result<&'a Object> {
    match (obj, key) {
        (Object::Dict(pairs), Some(key)) => pairs
            .iter()
            .find(|(k, _)| matches!(k, Object::Unicode(k) if k == key))
            .map(|(_, v)| v)
            .ok_or_else(|| bad(path, format!("no '{key}' entry"))),
        (obj, _) => Ok(obj),
    }
}

impl Spec {
    /// The element size in bytes.
    fn elem(&self) -> u64 {
        self.dtype.size_in_bytes() as u64
    }

    /// The storage's size in bytes, as its persistent id says (`None` on overflow).
    pub fn storage_bytes(&self) -> Option<u64> {
        self.storage_numel.checked_mul(self.elem())
    }

    /// The bytes of the storage this tensor reads: (start, length), checked to lie inside a
    /// storage of `storage_bytes` bytes.
    pub fn byte_range(&self, path: &Path, storage_bytes: u64) -> Result<(u64, u64)> {
        let numel = self
            .shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64));
        let range = numel
            .and_then(|n| n.checked_mul(self.elem()))
            .and_then(|len| Some((self.offset.checked_mul(self.elem())?, len)))
            .filter(|(start, len)| start.checked_add(*len).is_some_and(|e| e <= storage_bytes));
        range.ok_or_else(|| {
            bad(
                path,
                format!(
                    "tensor '{}' (size {:?} from element {}) reaches past its storage '{}' of {storage_bytes} bytes",
                    self.name, self.shape, self.offset, self.key
                ),
            )
        })
    }
}

/// The tensor of `spec` from exactly the bytes [`Spec::byte_range`] named.
pub(super) fn tensor(spec: &Spec, bytes: &[u8]) -> Result<Tensor> {
    let dims = &spec.shape;
    if dims.len() > 1 && spec.fortran {
        let reversed: Vec<usize> = dims.iter().rev().copied().collect();
        let t = Tensor::from_raw_buffer(bytes, spec.dtype, &reversed, &Device::Cpu)?;
        let order: Vec<usize> = (0..dims.len()).rev().collect();
        return Ok(t.permute(order)?.contiguous()?);
    }
    Ok(Tensor::from_raw_buffer(
        bytes,
        spec.dtype,
        dims,
        &Device::Cpu,
    )?)
}
