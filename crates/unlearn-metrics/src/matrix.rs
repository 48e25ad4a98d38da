//! A minimal dense row-major matrix used for feature and logit arrays.

use crate::error::{MetricsError, Result};

/// A dense, row-major `rows × cols` matrix.
///
/// This is deliberately small: the crate only needs storage, row access and
/// validation. Heavy products go through [`crate::linalg`].
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix<T> {
    rows: usize,
    cols: usize,
    data: Vec<T>,
}

impl<T: Copy> Matrix<T> {
    /// Wraps row-major `data` as a `rows × cols` matrix.
    ///
    /// Fails with [`MetricsError::LengthMismatch`] when `data.len() != rows * cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<T>) -> Result<Self> {
        let expected = rows
            .checked_mul(cols)
            .ok_or_else(|| MetricsError::InvalidParameter {
                name: "matrix shape".into(),
                value: format!("{rows}x{cols}"),
                reason: "rows * cols overflows usize".into(),
            })?;
        if data.len() != expected {
            return Err(MetricsError::LengthMismatch {
                what: format!("matrix data for shape {rows}x{cols}"),
                expected,
                found: data.len(),
            });
        }
        Ok(Self { rows, cols, data })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The row-major data.
    pub fn data(&self) -> &[T] {
        &self.data
    }

    /// Consumes the matrix and returns its row-major data.
    pub fn into_data(self) -> Vec<T> {
        self.data
    }

    /// Row `i` as a slice. Panics never: returns an empty slice when out of range.
    pub fn row(&self, i: usize) -> &[T] {
        let start = i.saturating_mul(self.cols);
        self.data.get(start..start + self.cols).unwrap_or(&[])
    }

    /// Iterator over the rows.
    pub fn iter_rows(&self) -> impl Iterator<Item = &[T]> {
        // `chunks_exact(0)` would panic; a zero-width matrix yields `rows` empty rows.
        let cols = self.cols;
        (0..self.rows).map(move |i| &self.data[i * cols..(i + 1) * cols])
    }

    /// A new matrix made of the given rows (indices must be in range).
    pub fn select_rows(&self, idx: &[usize]) -> Result<Self> {
        let mut out = Vec::with_capacity(idx.len() * self.cols);
        for &i in idx {
            if i >= self.rows {
                return Err(MetricsError::InvalidParameter {
                    name: "row index".into(),
                    value: i.to_string(),
                    reason: format!("matrix has {} rows", self.rows),
                });
            }
            out.extend_from_slice(self.row(i));
        }
        Ok(Self {
            rows: idx.len(),
            cols: self.cols,
            data: out,
        })
    }

    /// The first `n` rows (or all of them when `n >= rows`).
    pub fn head(&self, n: usize) -> Self {
        let n = n.min(self.rows);
        Self {
            rows: n,
            cols: self.cols,
            data: self.data[..n * self.cols].to_vec(),
        }
    }

    /// Stacks `self` on top of `other`; widths must match.
    pub fn vstack(&self, other: &Self) -> Result<Self> {
        if self.cols != other.cols {
            return Err(MetricsError::WidthMismatch {
                what: "vstack".into(),
                expected: self.cols,
                found: other.cols,
            });
        }
        let mut data = self.data.clone();
        data.extend_from_slice(&other.data);
        Ok(Self {
            rows: self.rows + other.rows,
            cols: self.cols,
            data,
        })
    }
}

impl Matrix<f32> {
    /// Index of the first non-finite value, if any.
    pub fn first_non_finite(&self) -> Option<usize> {
        self.data.iter().position(|v| !v.is_finite())
    }

    /// Row-wise argmax (first maximum wins, as `numpy.argmax`).
    pub fn argmax_rows(&self) -> Vec<usize> {
        self.iter_rows().map(argmax).collect()
    }

    /// Converts to `f64`, L2-normalising every row (rows of norm 0 stay 0).
    pub fn l2_normalized_f64(&self) -> Matrix<f64> {
        let mut data = Vec::with_capacity(self.data.len());
        for r in self.iter_rows() {
            let norm = r
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
                .sqrt();
            let inv = if norm > 0.0 { 1.0 / norm } else { 0.0 };
            data.extend(r.iter().map(|&v| f64::from(v) * inv));
        }
        Matrix {
            rows: self.rows,
            cols: self.cols,
            data,
        }
    }
}

/// Index of the first maximum of a slice (0 for an empty slice).
pub(crate) fn argmax(r: &[f32]) -> usize {
    let mut best = 0;
    let mut best_v = f32::NEG_INFINITY;
    for (j, &v) in r.iter().enumerate() {
        if v > best_v || j == 0 {
            best_v = v;
            best = j;
        }
    }
    best
}
