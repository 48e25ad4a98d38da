//! Feature space: the energy of feature rows outside a retain subspace.

use super::{check_finite, invalid, ORTHONORMAL_TOL};
use crate::error::{MetricsError, Result};
use crate::matrix::Matrix;

/// Per row of `features` (`n × d`), the energy outside the span of `basis` (`d × k`,
/// row-major, orthonormal columns): `1 − ‖V_kᵀ z‖²` with `z` the row L2-normalised in
/// `f64`, clipped to `[0, 1]` against rounding. Rows of norm 0 stay 0 (the crate's
/// convention), so their value is 1.
///
/// Fails when the widths disagree, `k` is 0 or above `d`, a value is not finite, or
/// `max |V_kᵀ V_k − I|` exceeds [`ORTHONORMAL_TOL`] (error naming `basis`).
pub fn outside_energy<T, U>(features: &Matrix<T>, basis: &Matrix<U>) -> Result<Vec<f64>>
where
    T: Copy + Into<f64>,
    U: Copy + Into<f64>,
{
    let (d, k) = (basis.rows(), basis.cols());
    if features.cols() != d {
        return Err(MetricsError::WidthMismatch {
            what: "features vs basis rows".into(),
            expected: d,
            found: features.cols(),
        });
    }
    if k == 0 || k > d {
        return Err(invalid(
            "basis",
            format!("{d}x{k}"),
            "needs 1 <= k <= d columns",
        ));
    }
    check_finite("features", features.data())?;
    check_finite("basis", basis.data())?;
    let v: Vec<f64> = basis.data().iter().map(|&x| x.into()).collect();
    let mut worst = 0.0f64;
    for a in 0..k {
        for b in 0..k {
            let dot: f64 = (0..d).map(|i| v[i * k + a] * v[i * k + b]).sum();
            worst = worst.max((dot - if a == b { 1.0 } else { 0.0 }).abs());
        }
    }
    if worst > ORTHONORMAL_TOL {
        return Err(invalid(
            "basis",
            format!("{d}x{k}"),
            &format!("columns are not orthonormal: max |VᵀV − I| = {worst:e}"),
        ));
    }
    let mut proj = vec![0.0f64; k];
    let out = features
        .iter_rows()
        .map(|row| {
            let z: Vec<f64> = row.iter().map(|&x| x.into()).collect();
            let norm = z.iter().map(|x| x * x).sum::<f64>().sqrt();
            let inv = if norm > 0.0 { 1.0 / norm } else { 0.0 };
            proj.iter_mut().for_each(|p| *p = 0.0);
            for (i, &zi) in z.iter().enumerate() {
                let zi = zi * inv;
                for (p, &vij) in proj.iter_mut().zip(&v[i * k..(i + 1) * k]) {
                    *p += zi * vij;
                }
            }
            let inside: f64 = proj.iter().map(|p| p * p).sum();
            (1.0 - inside).clamp(0.0, 1.0)
        })
        .collect();
    Ok(out)
}
