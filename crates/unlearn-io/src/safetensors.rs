//! The one check of a safetensors file's length field, before anything else is read.

/// Why a safetensors file with these first bytes (`head`, up to 8) and this real `size`
/// must not be read further, if it must not: it is shorter than the 8-byte length field, or
/// the length field claims more header than the file holds (a truncated file, another
/// format such as a PyTorch `.pth`, or an endless stream).
pub fn safetensors_header_problem(head: &[u8], size: u64) -> Option<String> {
    let Some(len) = head.get(..8) else {
        return Some(format!(
            "truncated: {size} bytes; a safetensors file starts with an 8-byte header length"
        ));
    };
    let mut le = [0u8; 8];
    le.copy_from_slice(len);
    let claimed = u64::from_le_bytes(le);
    let available = size.saturating_sub(8);
    (claimed > available).then(|| {
        format!(
            "not a valid safetensors file: its header claims {claimed} bytes but the file has {available} after the length field (truncated, or not safetensors, e.g. a PyTorch .pth)"
        )
    })
}

/// The header length of a file that passed [`safetensors_header_problem`].
pub fn safetensors_header_len(head: &[u8; 8]) -> u64 {
    u64::from_le_bytes(*head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_files_and_lying_lengths_are_named() {
        assert!(safetensors_header_problem(b"abc", 3)
            .is_some_and(|w| w.starts_with("truncated: 3 bytes")));
        let lie = (1u64 << 40).to_le_bytes();
        assert!(safetensors_header_problem(&lie, 10)
            .is_some_and(|w| w.contains("claims 1099511627776 bytes but the file has 2")));
        assert_eq!(safetensors_header_problem(&2u64.to_le_bytes(), 10), None);
    }
}
