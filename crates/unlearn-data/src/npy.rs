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

/// Checks the header before the `.npy` reader sees it ([`unlearn_io::npy`]): its length
/// field must fit in the file and it must not nest too deeply.
fn check_header(bytes: &[u8], path: &Path) -> Result<()> {
    match unlearn_io::npy::npy_header_problem(bytes, bytes.len() as u64) {
        Some(why) => Err(npy_err(path, why)),
        None => Ok(()),
    }
}

/// Read a 1-D `.npy` array of integer indices.
pub fn read_npy_indices(path: &Path) -> Result<Vec<u32>> {
    let bytes = unlearn_io::read_regular(path, "forget list", u64::MAX)?;
    check_header(&bytes, path)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `tests/fuzz_parsers.rs`: a format-2 header length of ~4 GiB in a 20-byte file
    /// made the reader allocate it before noticing the file was too short.
    #[test]
    fn header_length_past_the_end_is_refused_before_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("forget.npy");
        let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
        bytes.extend(0xffff_fff0u32.to_le_bytes());
        bytes.extend(b"{'descr'");
        std::fs::write(&path, &bytes).unwrap();
        let err = read_npy_indices(&path).unwrap_err().to_string();
        assert!(err.contains("forget.npy"), "{err}");
        assert!(err.contains("header claims 4294967280 bytes"), "{err}");
        assert!(err.contains("has 8 after the length field"), "{err}");
    }

    /// Found by `tests/fuzz_parsers.rs`: 33 nested `{"a":` in the header hung the parser
    /// (its time doubles with every level).
    #[test]
    fn deeply_nested_header_is_refused_quickly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("forget.npy");
        let deep = format!("{}False{}", "{\"a\":".repeat(33), "}".repeat(33));
        let header = format!("{{'descr': '<i8', 'fortran_order': {deep}, 'shape': (1,), }}\n");
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        bytes.extend(0i64.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let start = std::time::Instant::now();
        let err = read_npy_indices(&path).unwrap_err().to_string();
        assert!(start.elapsed().as_secs() < 5, "took {:?}", start.elapsed());
        assert!(err.contains("nests brackets 34 levels deep"), "{err}");
    }
}
