//! Reading forget sets given as `.npy` index files.
//!
//! The NeurIPS 2023 unlearning challenge kit and SalUn-style code hand forget sets around as
//! `np.save("forget.npy", indices)`: a 1-D array of integer indices into the official training
//! set. Any integer dtype of either byte order is accepted; floats, booleans, negative values,
//! values above `u32::MAX` and arrays that are not 1-D are rejected.

use std::path::Path;

use npyz::{DType, NpyFile, TypeChar};

use crate::error::{DataError, Result};

fn npy_err(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::Npy {
        path: path.into(),
        reason: reason.into(),
    }
}

fn convert<T: Copy + Into<i128>>(values: Vec<T>, path: &Path) -> Result<Vec<u32>> {
    values
        .into_iter()
        .enumerate()
        .map(|(pos, v)| {
            let v: i128 = v.into();
            u32::try_from(v).map_err(|_| {
                if v < 0 {
                    npy_err(
                        path,
                        format!("negative index {v} at position {pos}; indices must be >= 0"),
                    )
                } else {
                    npy_err(
                        path,
                        format!("index {v} at position {pos} does not fit in u32"),
                    )
                }
            })
        })
        .collect()
}

/// Read a 1-D `.npy` array of integer indices.
pub fn read_npy_indices(path: &Path) -> Result<Vec<u32>> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let npy = NpyFile::new(bytes.as_slice())
        .map_err(|e| npy_err(path, format!("not a valid .npy file: {e}")))?;
    if npy.shape().len() != 1 {
        return Err(npy_err(
            path,
            format!(
                "array has shape {:?}; expected a 1-D array of indices (use `idx.ravel()`)",
                npy.shape()
            ),
        ));
    }
    let ts = match npy.dtype() {
        DType::Plain(ts) => ts,
        other => {
            return Err(npy_err(
                path,
                format!("dtype {other:?} is not a plain integer dtype"),
            ))
        }
    };
    let read_err = |e: std::io::Error| npy_err(path, format!("reading data: {e}"));
    match (ts.type_char(), ts.size_field()) {
        (TypeChar::Int, 1) => convert(npy.into_vec::<i8>().map_err(read_err)?, path),
        (TypeChar::Int, 2) => convert(npy.into_vec::<i16>().map_err(read_err)?, path),
        (TypeChar::Int, 4) => convert(npy.into_vec::<i32>().map_err(read_err)?, path),
        (TypeChar::Int, 8) => convert(npy.into_vec::<i64>().map_err(read_err)?, path),
        (TypeChar::Uint, 1) => convert(npy.into_vec::<u8>().map_err(read_err)?, path),
        (TypeChar::Uint, 2) => convert(npy.into_vec::<u16>().map_err(read_err)?, path),
        (TypeChar::Uint, 4) => convert(npy.into_vec::<u32>().map_err(read_err)?, path),
        (TypeChar::Uint, 8) => convert(npy.into_vec::<u64>().map_err(read_err)?, path),
        (TypeChar::Float, _) => Err(npy_err(
            path,
            format!(
                "dtype {ts} is floating point; expected an integer dtype \
                 (save with `np.save(path, np.asarray(idx, dtype=np.int64))`)"
            ),
        )),
        _ => Err(npy_err(
            path,
            format!("dtype {ts} is not an integer dtype; expected int8..int64 or uint8..uint64"),
        )),
    }
}
