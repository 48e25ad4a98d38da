//! The deterministic generator (and two fixture readers) shared with the Python references' `uniform()` and
//! `summary()` (`crates/unlearn-models/tests/reference/gradient_parity.py`): splitmix64 of an
//! FNV-1a hash of a name. Included by `tests/gradient_parity.rs` here and by
//! `crates/unlearn-methods/tests/parity.rs` (`#[path]`).
#![allow(dead_code)]

use candle_core::{DType, Tensor};
use serde_json::Value;

/// FNV-1a of `name`.
pub fn fnv1a(name: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01B3);
    }
    h
}

/// One splitmix64 step.
pub fn splitmix(z: u64) -> u64 {
    let mut z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `u_i ∈ [-1, 1)`, as `uniform` in the script.
pub fn uniform(name: &str, n: usize) -> Vec<f64> {
    let key = fnv1a(name);
    (0..n as u64)
        .map(|i| {
            let z = key.wrapping_add(i.wrapping_mul(0xD1B5_4A32_D192_ED03));
            (splitmix(z) >> 40) as f64 / (1u64 << 24) as f64 * 2.0 - 1.0
        })
        .collect()
}

/// A tensor's values as f64, flattened.
pub fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

/// A JSON number of a fixture.
pub fn num(v: &Value) -> f64 {
    v.as_f64().unwrap()
}
