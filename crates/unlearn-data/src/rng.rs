//! Seeded, portable randomness.
//!
//! Every random choice in the toolkit draws from a [`ChaCha8Rng`] derived from a user seed
//! and a *purpose* string, so independent choices (the validation split, the forget set,
//! each epoch's order) never share a stream and adding one never shifts another. The
//! derivation is `sha256(seed.to_le_bytes() ++ purpose.as_bytes())` used as the 32-byte
//! ChaCha key, and shuffling is a hand-written Fisher–Yates over `u64` ranges, so results
//! are identical on every platform and do not depend on `rand`'s `SliceRandom` internals.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// A ChaCha8 generator seeded from `seed` and a purpose label.
///
/// ```
/// use rand::Rng;
/// let mut a = unlearn_data::rng::seeded(7, "val");
/// let mut b = unlearn_data::rng::seeded(7, "val");
/// let mut c = unlearn_data::rng::seeded(7, "forget");
/// let (x, y, z): (u64, u64, u64) = (a.random(), b.random(), c.random());
/// assert_eq!(x, y);
/// assert_ne!(x, z);
/// ```
pub fn seeded(seed: u64, purpose: &str) -> ChaCha8Rng {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(purpose.as_bytes());
    let key: [u8; 32] = h.finalize().into();
    ChaCha8Rng::from_seed(key)
}

/// A uniformly shuffled copy of `indices` (Fisher–Yates, drawn from `rng`).
pub fn shuffled(indices: &[u32], rng: &mut ChaCha8Rng) -> Vec<u32> {
    let mut v = indices.to_vec();
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i as u64) as usize;
        v.swap(i, j);
    }
    v
}

/// The order in which to visit `indices` in epoch `epoch`: `indices` shuffled with
/// `seeded(seed, "epoch-{epoch}")`.
pub fn epoch_order(indices: &[u32], seed: u64, epoch: usize) -> Vec<u32> {
    let mut rng = seeded(seed, &format!("epoch-{epoch}"));
    shuffled(indices, &mut rng)
}

/// `k` distinct elements of `indices` drawn uniformly without replacement, sorted ascending.
///
/// Returns `None` when `k > indices.len()`.
pub fn sample_sorted(indices: &[u32], k: usize, rng: &mut ChaCha8Rng) -> Option<Vec<u32>> {
    if k > indices.len() {
        return None;
    }
    let mut v = shuffled(indices, rng);
    v.truncate(k);
    v.sort_unstable();
    Some(v)
}
