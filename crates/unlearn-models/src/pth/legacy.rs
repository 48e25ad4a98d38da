//! The legacy (pre-1.6, non-zip) `torch.save` format, read as data.
//!
//! The file is consecutive pickles: the magic number, the protocol version (1001), a dict of
//! system information, the saved object (its tensors name their storages by persistent id
//! `('storage', <class>, key, location, numel, view)`), and the sorted list of storage keys.
//! Each storage's bytes follow in that order: an 8-byte little-endian element count, then
//! the elements. Any pickle protocol from 2 to 5 is read. The magic number is compared as
//! the 10-byte integer it is; the other pickles go through the data-only [`machine`]. Every
//! storage size is checked against its persistent id and against what is left of the file
//! before anything is allocated.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::Path;

use candle_core::pickle::Object;
use candle_core::Tensor;

use super::{bad, machine, rebuild};
use crate::error::{ModelError, Result};

/// The end of `pickle.dumps(0x1950a86a20f9469cfc6c)` in any protocol: `LONG1` of 10 bytes,
/// then STOP.
const MAGIC: &[u8] = &[
    0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
];
/// The legacy protocol version.
const VERSION: i32 = 1001;

/// The saved object of a legacy file and a reader positioned at its storages.
pub(super) struct Legacy {
    /// The saved object (a state dict or a dict wrapping one).
    pub object: Object,
    keys: Vec<String>,
    reader: BufReader<std::fs::File>,
    size: u64,
}

fn io(path: &Path, source: std::io::Error) -> ModelError {
    ModelError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn pickle(path: &Path, r: &mut impl BufRead, size: u64, what: &str) -> Result<Object> {
    // Every announced length is checked against the file before candle allocates it.
    let bytes = super::opcodes::read_checked(r, size)
        .map_err(|why| bad(path, format!("its {what}: {why}")))?;
    machine::load(&bytes).map_err(|why| {
        bad(
            path,
            format!("its {what} is not a pickle this reader accepts: {why}"),
        )
    })
}

/// Reads the pickles of the legacy file at `path`, leaving its storages unread.
pub(super) fn open(path: &Path) -> Result<Legacy> {
    let (file, size) = unlearn_io::open_regular(path, "checkpoint")?;
    let mut reader = BufReader::new(file);
    let starts = |what: &str| {
        bad(
            path,
            format!("a legacy torch.save file starts with the pickled {what}; this one does not"),
        )
    };
    let magic = super::opcodes::read_checked(&mut reader, size.min(64))
        .map_err(|_| starts("magic number"))?;
    if !magic.ends_with(MAGIC) {
        return Err(starts("magic number"));
    }
    if pickle(path, &mut reader, size, "protocol version")? != Object::Int(VERSION) {
        return Err(starts("protocol version 1001"));
    }
    let info = pickle(path, &mut reader, size, "system information")?;
    let little = matches!(&info, Object::Dict(pairs) if pairs.iter().any(|(k, v)|
        matches!(k, Object::Unicode(k) if k == "little_endian") && *v == Object::Bool(true)));
    if !little {
        return Err(bad(
            path,
            "its system information does not say little_endian: True (a big-endian save is not read)".into(),
        ));
    }
    let object = pickle(path, &mut reader, size, "saved object")?;
    let keys = match pickle(path, &mut reader, size, "storage key list")? {
        Object::List(items) => items
            .into_iter()
            .map(|k| match k {
                Object::Unicode(k) => Ok(k),
                other => Err(bad(path, format!("storage key {other:?} is not a string"))),
            })
            .collect::<Result<Vec<_>>>()?,
        other => {
            return Err(bad(
                path,
                format!(
                    "expected the list of storage keys after the saved object, found {other:?}"
                ),
            ))
        }
    };
    Ok(Legacy {
        object,
        keys,
        reader,
        size,
    })
}

/// Every storage the object names by persistent id: key → (element size, element count).
fn storages(path: &Path, obj: &Object, out: &mut BTreeMap<String, (usize, u64)>) -> Result<()> {
    match obj {
        Object::PersistentLoad(id) => {
            if let Some((key, class, numel)) = rebuild::storage_id(id) {
                let (_, size) = rebuild::storage_dtype(&class).ok_or_else(|| {
                    bad(
                        path,
                        format!(
                            "storage '{key}' holds {} elements (storage class {class}); only float tensors (float32, float64, float16, bfloat16) and int64 counters are read",
                            rebuild::torch_dtype(&class)
                        ),
                    )
                })?;
                out.insert(key, (size, numel));
            }
            Ok(())
        }
        Object::Tuple(items) | Object::List(items) => {
            items.iter().try_for_each(|o| storages(path, o, out))
        }
        Object::Dict(pairs) => pairs.iter().try_for_each(|(k, v)| {
            storages(path, k, out)?;
            storages(path, v, out)
        }),
        Object::Reduce { callable, args } | Object::Build { callable, args } => {
            storages(path, callable, out)?;
            storages(path, args, out)
        }
        _ => Ok(()),
    }
}

/// The state dict's tensors of a legacy file (`key`: the wrapper it sits under).
pub(super) fn tensors(
    path: &Path,
    mut legacy: Legacy,
    key: Option<&str>,
) -> Result<Vec<(rebuild::Spec, Tensor)>> {
    let mut wanted = BTreeMap::new();
    storages(path, &legacy.object, &mut wanted)?;
    let specs = rebuild::specs(path, rebuild::state_dict(path, &legacy.object, key)?)?;
    let data = read_storages(path, &mut legacy.reader, legacy.size, &legacy.keys, &wanted)?;
    specs
        .into_iter()
        .map(|spec| {
            let bytes = data.get(&spec.key).ok_or_else(|| {
                bad(
                    path,
                    format!(
                        "tensor '{}': storage '{}' is not in the file",
                        spec.name, spec.key
                    ),
                )
            })?;
            let (start, len) = spec.byte_range(path, bytes.len() as u64)?;
            // byte_range checked start + len against the storage's length.
            let slice = usize::try_from(start)
                .ok()
                .zip(usize::try_from(len).ok())
                .and_then(|(s, l)| bytes.get(s..s.checked_add(l)?))
                .ok_or_else(|| {
                    bad(
                        path,
                        format!("tensor '{}' reaches past its storage", spec.name),
                    )
                })?;
            let t = rebuild::tensor(&spec, slice, false)?;
            Ok((spec, t))
        })
        .collect()
}

/// Reads every storage in `keys` order, each bounded by its persistent id and the file size.
fn read_storages(
    path: &Path,
    r: &mut BufReader<std::fs::File>,
    size: u64,
    keys: &[String],
    wanted: &BTreeMap<String, (usize, u64)>,
) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for key in keys {
        let &(elem, numel) = wanted.get(key).ok_or_else(|| {
            bad(
                path,
                format!("storage '{key}' is listed but no object names it"),
            )
        })?;
        let mut head = [0u8; 8];
        r.read_exact(&mut head).map_err(|e| {
            bad(
                path,
                format!("storage '{key}': the file ends before its size ({e})"),
            )
        })?;
        let count = u64::from_le_bytes(head);
        let at = r.stream_position().map_err(|e| io(path, e))?;
        let left = size.saturating_sub(at);
        let bytes = count.checked_mul(elem as u64).filter(|b| *b <= left);
        let Some(bytes) = bytes.filter(|_| count == numel) else {
            return Err(bad(
                path,
                format!("storage '{key}' says {count} elements of {elem} bytes; its tensor says {numel}, and {left} bytes are left in the file"),
            ));
        };
        let mut buf = Vec::with_capacity(bytes as usize);
        r.by_ref()
            .take(bytes)
            .read_to_end(&mut buf)
            .map_err(|e| io(path, e))?;
        if buf.len() as u64 != bytes {
            return Err(bad(path, format!("storage '{key}' is cut short")));
        }
        out.insert(key.clone(), buf);
    }
    Ok(out)
}
