//! Reading `.npz` feature files: each member's sizes and `.npy` header are checked before
//! `npyz` reads it, and an array's shape may not describe more bytes than the member has.

use std::fs;
use std::path::{Path, PathBuf};

use super::{ArraySource, Loaded};
use crate::error::{MetricsError, Result};

pub(super) struct NpzSource {
    pub(super) path: PathBuf,
    pub(super) archive: npyz::npz::NpzArchive<std::io::BufReader<fs::File>>,
}

fn read_npy<R: std::io::Read>(
    npy: npyz::NpyFile<R>,
    name: &str,
    path: &Path,
    available: u64,
) -> Result<Loaded> {
    use npyz::TypeChar;
    let io_err = |source| MetricsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
    let fortran = npy.order() == npyz::Order::Fortran;
    let dtype = npy.dtype();
    let bad = || MetricsError::BadDtype {
        name: name.to_string(),
        dtype: dtype.descr(),
        expected: "f4/f8 for features and logits, an integer dtype for labels".into(),
    };
    let ts = match &dtype {
        npyz::DType::Plain(ts) => ts.clone(),
        _ => return Err(bad()),
    };
    let size = ts.size_field();
    // The shape decides the allocation: it must describe at most the bytes the member has.
    let bytes = shape
        .iter()
        .try_fold(size, |acc, &d| acc.checked_mul(d as u64));
    if bytes.is_none_or(|b| b > available) {
        return Err(MetricsError::Format {
            path: path.to_path_buf(),
            reason: format!(
                "array {name} has shape {shape:?} of {size}-byte items, more than its {available} bytes"
            ),
        });
    }
    let mut loaded = match (ts.type_char(), size) {
        (TypeChar::Float, 4) => Loaded::Float {
            shape,
            data: npy.into_vec::<f32>().map_err(io_err)?,
        },
        (TypeChar::Float, 8) => Loaded::Float {
            shape,
            data: npy
                .into_vec::<f64>()
                .map_err(io_err)?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
        },
        (TypeChar::Int, 1) => int_loaded(shape, npy.into_vec::<i8>().map_err(io_err)?),
        (TypeChar::Int, 2) => int_loaded(shape, npy.into_vec::<i16>().map_err(io_err)?),
        (TypeChar::Int, 4) => int_loaded(shape, npy.into_vec::<i32>().map_err(io_err)?),
        (TypeChar::Int, 8) => int_loaded(shape, npy.into_vec::<i64>().map_err(io_err)?),
        (TypeChar::Uint, 1) => int_loaded(shape, npy.into_vec::<u8>().map_err(io_err)?),
        (TypeChar::Uint, 2) => int_loaded(shape, npy.into_vec::<u16>().map_err(io_err)?),
        (TypeChar::Uint, 4) => int_loaded(shape, npy.into_vec::<u32>().map_err(io_err)?),
        (TypeChar::Uint, 8) => Loaded::Int {
            shape,
            data: npy
                .into_vec::<u64>()
                .map_err(io_err)?
                .into_iter()
                .map(|v| i64::try_from(v).unwrap_or(-1))
                .collect(),
        },
        _ => return Err(bad()),
    };
    if fortran {
        // Column-major 2-D data: transpose into row-major.
        if let Loaded::Float { shape, data } = &mut loaded {
            if shape.len() == 2 && shape[0].checked_mul(shape[1]) == Some(data.len()) {
                let (r, c) = (shape[0], shape[1]);
                let mut t = vec![0.0f32; data.len()];
                for i in 0..r {
                    for j in 0..c {
                        t[i * c + j] = data[j * r + i];
                    }
                }
                *data = t;
            }
        }
    }
    Ok(loaded)
}

fn int_loaded<T: Into<i64>>(shape: Vec<usize>, v: Vec<T>) -> Loaded {
    Loaded::Int {
        shape,
        data: v.into_iter().map(Into::into).collect(),
    }
}

impl ArraySource for NpzSource {
    fn path(&self) -> &Path {
        &self.path
    }
    fn names(&self) -> Vec<String> {
        self.archive.array_names().map(str::to_string).collect()
    }
    fn get(&mut self, name: &str) -> Result<Option<Loaded>> {
        let path = self.path.clone();
        let Some(available) = self.check_member(name)? else {
            return Ok(None);
        };
        let npy = self
            .archive
            .by_name(name)
            .map_err(|source| MetricsError::Io {
                path: path.clone(),
                source,
            })?;
        match npy {
            None => Ok(None),
            Some(npy) => read_npy(npy, name, &path, available).map(Some),
        }
    }
}

impl NpzSource {
    /// Checks member `name`'s sizes and `.npy` header before the reader sees them, and
    /// returns its real (uncompressed) size; `None` when there is no such member.
    fn check_member(&mut self, name: &str) -> Result<Option<u64>> {
        use std::io::Read;
        let path = self.path.clone();
        let bad = |reason: String| MetricsError::Format {
            path: path.clone(),
            reason,
        };
        let zip = self.archive.zip_archive();
        let Ok(member) = zip.by_name(&format!("{name}.npy")) else {
            return Ok(None);
        };
        let (declared, compressed) = (member.size(), member.compressed_size());
        // Deflate expands at most about 1032:1; a member that claims more lies.
        if declared > compressed.saturating_mul(1100).saturating_add(1 << 20) {
            return Err(bad(format!(
                "member {name}.npy claims {declared} bytes from {compressed} compressed: more than deflate can expand"
            )));
        }
        let mut prefix = Vec::new();
        member
            .take(12 + unlearn_io::npy::MAX_NPY_HEADER_BYTES)
            .read_to_end(&mut prefix)
            .map_err(|e| bad(format!("member {name}.npy: {e}")))?;
        if let Some(why) = unlearn_io::npy::npy_header_problem(&prefix, declared) {
            return Err(bad(format!("member {name}.npy: {why}")));
        }
        Ok(Some(declared))
    }
}
