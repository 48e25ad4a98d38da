//! Tensors rebuilt from their `_rebuild_tensor_v2` calls, shared by both `torch.save` formats.
//!
//! A state dict's value is `_rebuild_tensor_v2(storage, storage_offset, size, stride, …)`,
//! possibly wrapped in `_rebuild_parameter(…)` or `_rebuild_from_type_v2(…)`. The storage is a
//! persistent id `('storage', <storage class>, key, location, numel)`. [`specs`] reads those
//! arguments without indexing anything the file controls; [`Spec::byte_range`] gives the bytes
//! of the storage a tensor needs (checked against the storage's own size) and [`tensor`] builds
//! it from exactly those bytes. Any strides are read whose elements stay inside the storage:
//! contiguous, Fortran-order, channels_last, views with steps and offsets, and expanded
//! (stride 0) tensors. Sizes are bounded before anything is allocated: a tensor may hold at
//! most [`MAX_TENSOR_ELEMENTS`] elements, a tensor that repeats storage elements (stride 0)
//! at most [`MAX_EXPANDED_ELEMENTS`], and the repeated elements of one file add up to at
//! most [`MAX_EXPANDED_TOTAL`].

use std::path::Path;

use candle_core::pickle::Object;
use candle_core::{DType, Device, Tensor};

use super::bad;
use crate::error::Result;

/// The most elements one tensor may hold: 2^28 (1 GiB as f32).
pub const MAX_TENSOR_ELEMENTS: u64 = 1 << 28;

/// The most elements of a tensor that repeats elements of its storage (an expanded, stride-0
/// tensor): 2^22 (16 MiB as f32). A stored tensor is bounded by the file; this one is not.
pub const MAX_EXPANDED_ELEMENTS: u64 = 1 << 22;

/// The most elements the expanded tensors of one file may add beyond the storage elements
/// they use: 2^24 (64 MiB as f32).
pub const MAX_EXPANDED_TOTAL: u64 = 1 << 24;

/// One tensor of a state dict, as its rebuild call describes it.
#[derive(Debug, Clone)]
pub(super) struct Spec {
    /// The tensor's name in the state dict.
    pub name: String,
    /// The key of the storage it views.
    pub key: String,
    /// The storage class (`FloatStorage`, `BoolStorage`, …).
    pub class: String,
    /// Its element type, from the storage class.
    pub dtype: DType,
    /// The storage's element count, from the persistent id.
    pub storage_numel: u64,
    /// The first element of the storage the tensor uses.
    pub offset: u64,
    /// The tensor's shape.
    pub shape: Vec<usize>,
    /// Its strides, in elements.
    pub stride: Vec<usize>,
}

/// PyTorch's name of the element type of a storage class (`ComplexFloatStorage` →
/// `complex64`), for messages.
pub(super) fn torch_dtype(class: &str) -> &str {
    match class {
        "FloatStorage" => "float32",
        "DoubleStorage" => "float64",
        "HalfStorage" => "float16",
        "BFloat16Storage" => "bfloat16",
        "LongStorage" => "int64",
        "IntStorage" => "int32",
        "ShortStorage" => "int16",
        "CharStorage" => "int8",
        "ByteStorage" => "uint8",
        "BoolStorage" => "bool",
        "ComplexFloatStorage" => "complex64",
        "ComplexDoubleStorage" => "complex128",
        "ComplexHalfStorage" => "complex32",
        "QInt8Storage" => "qint8",
        "QUInt8Storage" => "quint8",
        "QInt32Storage" => "qint32",
        "QUInt4x2Storage" => "quint4x2",
        "QUInt2x4Storage" => "quint2x4",
        other => other.strip_suffix("Storage").unwrap_or(other),
    }
}

/// Why a tensor of storage class `class` is not read, naming its PyTorch dtype.
pub(super) fn unread_dtype(name: &str, class: &str) -> String {
    format!(
        "tensor '{name}' is a {} tensor (storage class {class}); only float tensors (float32, float64, float16, bfloat16) and int64 counters are read",
        torch_dtype(class)
    )
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
        "ByteStorage" | "BoolStorage" | "CharStorage" => (DType::U8, 1),
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

/// Whether `stride` is the contiguous (row-major) layout of `shape`. Dimensions of size one
/// may have any stride.
fn contiguous(shape: &[usize], stride: &[usize]) -> bool {
    let mut want = 1usize;
    for (&dim, &s) in shape.iter().zip(stride).rev() {
        if dim != 1 && s != want {
            return false;
        }
        want = want.saturating_mul(dim);
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
    let (dtype, _) = storage_dtype(&class).ok_or_else(|| bad(path, unread_dtype(name, &class)))?;
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
    Ok(Some(Spec {
        name: name.to_string(),
        key,
        class,
        dtype,
        storage_numel,
        offset,
        shape,
        stride,
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
    let mut repeated = 0u64;
    for s in &out {
        let (numel, span) = s.counts(path)?;
        repeated = repeated.saturating_add(numel.saturating_sub(span));
    }
    if repeated > MAX_EXPANDED_TOTAL {
        return Err(bad(
            path,
            format!("its expanded (stride-0) tensors repeat {repeated} storage elements in all; at most {MAX_EXPANDED_TOTAL} are read (64 MiB as f32)"),
        ));
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

    /// The tensor's element count and the storage elements its view spans (from its first
    /// element to its last), each checked against this module's limits.
    fn counts(&self, path: &Path) -> Result<(u64, u64)> {
        let too_big = |what: String| {
            bad(
                path,
                format!("tensor '{}' has size {:?}: {what}", self.name, self.shape),
            )
        };
        let numel = self
            .shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
            .filter(|n| *n <= MAX_TENSOR_ELEMENTS)
            .ok_or_else(|| {
                too_big(format!(
                    "more than {MAX_TENSOR_ELEMENTS} elements (1 GiB as f32), the most one tensor may hold"
                ))
            })?;
        if numel == 0 {
            return Ok((0, 0));
        }
        let last = self
            .shape
            .iter()
            .zip(&self.stride)
            .try_fold(0u64, |acc, (&d, &s)| {
                (d as u64 - 1)
                    .checked_mul(s as u64)
                    .and_then(|x| acc.checked_add(x))
            })
            .ok_or_else(|| too_big(format!("its strides {:?} overflow", self.stride)))?;
        let span = last.saturating_add(1);
        if numel > span && numel > MAX_EXPANDED_ELEMENTS {
            return Err(too_big(format!(
                "an expanded (stride {:?}) tensor of {numel} elements; one that repeats storage elements may hold at most {MAX_EXPANDED_ELEMENTS} (16 MiB as f32)",
                self.stride
            )));
        }
        Ok((numel, span))
    }

    /// The bytes of the storage this tensor reads, from its first element to its last:
    /// (start, length), checked to lie inside a storage of `storage_bytes` bytes.
    pub fn byte_range(&self, path: &Path, storage_bytes: u64) -> Result<(u64, u64)> {
        let (_, span) = self.counts(path)?;
        let range = span
            .checked_mul(self.elem())
            .and_then(|len| Some((self.offset.checked_mul(self.elem())?, len)))
            .filter(|(start, len)| start.checked_add(*len).is_some_and(|e| e <= storage_bytes));
        range.ok_or_else(|| {
            bad(
                path,
                format!(
                    "tensor '{}' (size {:?}, stride {:?} from element {}) reaches past its storage '{}' of {storage_bytes} bytes",
                    self.name, self.shape, self.stride, self.offset, self.key
                ),
            )
        })
    }
}

/// Reverses the byte order of every `elem`-byte element of `bytes`.
fn swap_bytes(bytes: &mut [u8], elem: usize) {
    if elem > 1 {
        bytes.chunks_exact_mut(elem).for_each(|c| c.reverse());
    }
}

/// The tensor of `spec` from exactly the bytes [`Spec::byte_range`] named (`big_endian`:
/// stored most significant byte first, as `archive/byteorder` = `big` says).
pub(super) fn tensor(spec: &Spec, bytes: &[u8], big_endian: bool) -> Result<Tensor> {
    let elem = spec.dtype.size_in_bytes();
    let numel: usize = spec.shape.iter().product();
    let mut out = if contiguous(&spec.shape, &spec.stride) {
        bytes.get(..numel * elem).unwrap_or(bytes).to_vec()
    } else {
        gather(spec, bytes, elem, numel)
    };
    if big_endian {
        swap_bytes(&mut out, elem);
    }
    Ok(Tensor::from_raw_buffer(
        &out,
        spec.dtype,
        &spec.shape,
        &Device::Cpu,
    )?)
}

/// The elements of a strided view in row-major order: element `i` of the output is the
/// storage element `sum(index_d * stride_d)` (relative to the view's first element).
fn gather(spec: &Spec, bytes: &[u8], elem: usize, numel: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(numel * elem);
    let dims = spec.shape.len();
    let mut index = vec![0usize; dims];
    let mut at = 0usize;
    for _ in 0..numel {
        let start = at * elem;
        out.extend_from_slice(bytes.get(start..start + elem).unwrap_or(&[]));
        // The next index, last dimension fastest.
        for d in (0..dims).rev() {
            index[d] += 1;
            at += spec.stride[d];
            if index[d] < spec.shape[d] {
                break;
            }
            at -= spec.stride[d] * spec.shape[d];
            index[d] = 0;
        }
    }
    out
}
