//! Bounded reads of `.npy` headers (standalone files and `.npz` members), checked before a
//! reader sees them.

/// Most bracket levels a header may nest. The header is a Python literal whose parser
/// backtracks exponentially in the nesting depth (each level about doubles the time; 33
/// levels hung for minutes); a plain array's header nests 2 (`{'shape': (n, d)}`),
/// structured dtypes a few more.
pub const MAX_NPY_HEADER_NESTING: usize = 8;

/// The longest header accepted (1 MiB; numpy writes about 128 bytes).
pub const MAX_NPY_HEADER_BYTES: u64 = 1 << 20;

/// Deepest bracket nesting of a Python literal, outside quoted strings.
pub fn nesting(text: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    for &b in text {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if b == b'\\' => escaped = true,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'\'' | b'"' => quote = Some(b),
                b'(' | b'[' | b'{' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    deepest
}

/// Where a `.npy` header lies: `(start, length)` from its first 12 bytes, or `None` when
/// `prefix` is not a `.npy` start (the reader reports that itself).
pub fn npy_header_span(prefix: &[u8]) -> Option<(u64, u64)> {
    if prefix.len() < 10 || !prefix.starts_with(b"\x93NUMPY") {
        return None;
    }
    if prefix[6] == 1 {
        Some((10, u64::from(u16::from_le_bytes([prefix[8], prefix[9]]))))
    } else if prefix.len() >= 12 {
        let len = u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]);
        Some((12, u64::from(len)))
    } else {
        None
    }
}

/// Why a `.npy` header must not reach the reader, if it must not: `bytes` holds the file's
/// (or the member's) first bytes, at least up to the end of the header when it fits, and
/// `total` is its real length. The header's length field must fit in `total` and in
/// [`MAX_NPY_HEADER_BYTES`] (the reader allocates the header it announces, up to 4 GiB,
/// before reading it), and the header must not nest deeper than
/// [`MAX_NPY_HEADER_NESTING`].
pub fn npy_header_problem(bytes: &[u8], total: u64) -> Option<String> {
    let (start, len) = npy_header_span(bytes)?;
    if start + len > total || len > MAX_NPY_HEADER_BYTES {
        return Some(format!(
            "not a valid .npy file: its header claims {len} bytes but the file has {} after the length field (truncated, or not a .npy file)",
            total.saturating_sub(start)
        ));
    }
    let end = ((start + len) as usize).min(bytes.len());
    let depth = nesting(&bytes[(start as usize).min(end)..end]);
    (depth > MAX_NPY_HEADER_NESTING).then(|| {
        format!(
            "not a valid .npy file: its header nests brackets {depth} levels deep, more than {MAX_NPY_HEADER_NESTING}; expected a dict like {{'descr': '<f4', 'fortran_order': False, 'shape': (n, d), }}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lying_lengths_and_deep_nesting_are_named() {
        let mut b = b"\x93NUMPY\x02\x00".to_vec();
        b.extend(0xffff_fff0u32.to_le_bytes());
        b.extend(b"{'descr'");
        let why = npy_header_problem(&b, b.len() as u64).unwrap();
        assert!(why.contains("header claims 4294967280 bytes"), "{why}");
        let deep = format!("{}1{}", "(".repeat(9), ")".repeat(9));
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend((deep.len() as u16).to_le_bytes());
        b.extend(deep.as_bytes());
        assert!(npy_header_problem(&b, b.len() as u64)
            .unwrap()
            .contains("9 levels"));
        assert_eq!(nesting(b"{'a': '(((', 'b': ('x\\'[', (1,))}"), 3);
    }
}
