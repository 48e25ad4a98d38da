//! The toolkit's own reader of `torch.save` zip archives, on damaged copies of a real one
//! (`tests/fixtures/pth/small-cnn-1x4x4.pth`): a file cut short in its central directory or in
//! a storage, a central directory entry pointing past the end of the file, an entry whose
//! size reaches past it, and a deflated entry are each refused with an error that names the
//! file and the problem, and nothing panics.

use std::path::{Path, PathBuf};

use unlearn_models::{pth, ModelError};

fn fixture() -> Vec<u8> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pth/small-cnn-1x4x4.pth");
    std::fs::read(path).expect("fixture")
}

fn u16_at(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]) as usize
}

fn u32_at(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as u64
}

/// The central directory's offset, from the (zip64, when present) end record.
fn central_directory(b: &[u8]) -> usize {
    let eocd = (0..=b.len() - 22)
        .rev()
        .find(|&i| b[i..i + 4] == *b"PK\x05\x06")
        .expect("end record");
    let at = u32_at(b, eocd + 16);
    if at != u64::from(u32::MAX) {
        return at as usize;
    }
    let record = u64::from_le_bytes(b[eocd - 12..eocd - 4].try_into().unwrap()) as usize;
    u64::from_le_bytes(b[record + 48..record + 56].try_into().unwrap()) as usize
}

/// The offset of the central directory entry named `suffix` (its name's end).
fn central_entry(b: &[u8], suffix: &str) -> usize {
    let mut at = central_directory(b);
    while b[at..at + 4] == *b"PK\x01\x02" {
        let (n, e, c) = (u16_at(b, at + 28), u16_at(b, at + 30), u16_at(b, at + 32));
        if b[at + 46..at + 46 + n].ends_with(suffix.as_bytes()) {
            return at;
        }
        at += 46 + n + e + c;
    }
    panic!("no entry {suffix}");
}

/// Writes `bytes` as `name` in `dir` and reads it, expecting a refusal naming the file.
fn refused(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let err = pth::read(&path).expect_err("a damaged archive is refused");
    assert!(
        matches!(err, ModelError::BadCheckpoint { .. }),
        "{name}: {err:?}"
    );
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    println!("{name}: {text}");
    text
}

#[test]
fn the_undamaged_fixture_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whole.pth");
    std::fs::write(&path, fixture()).unwrap();
    assert!(!pth::read(&path).unwrap().tensors.is_empty());
}

#[test]
fn an_archive_cut_in_its_central_directory_is_refused() {
    let b = fixture();
    let dir = tempfile::tempdir().unwrap();
    let cut = central_directory(&b) + 100;
    let text = refused(dir.path(), "cut-cd.pth", &b[..cut]);
    assert!(text.contains("End Of Central Directory"), "{text}");
}

#[test]
fn an_archive_cut_in_a_storage_is_refused() {
    let b = fixture();
    let dir = tempfile::tempdir().unwrap();
    let text = refused(dir.path(), "cut-storage.pth", &b[..b.len() / 2]);
    assert!(text.contains("End Of Central Directory"), "{text}");
}

#[test]
fn a_central_directory_entry_pointing_past_the_end_is_refused() {
    let mut b = fixture();
    let at = central_entry(&b, "/data.pkl");
    let past = (b.len() as u32 + 4096).to_le_bytes();
    b[at + 42..at + 46].copy_from_slice(&past);
    let dir = tempfile::tempdir().unwrap();
    let text = refused(dir.path(), "past-end.pth", &b);
    assert!(
        text.contains("local header of") && text.contains("past the end"),
        "{text}"
    );
}

#[test]
fn an_entry_whose_size_reaches_past_the_central_directory_is_refused() {
    let mut b = fixture();
    let at = central_entry(&b, "/data/0");
    let huge = (b.len() as u32).to_le_bytes();
    b[at + 20..at + 24].copy_from_slice(&huge);
    b[at + 24..at + 28].copy_from_slice(&huge);
    let dir = tempfile::tempdir().unwrap();
    let text = refused(dir.path(), "too-long.pth", &b);
    assert!(
        text.contains("data/0") && text.contains("reaches past"),
        "{text}"
    );
}

#[test]
fn a_deflated_entry_is_refused_by_name() {
    let mut b = fixture();
    let at = central_entry(&b, "/data.pkl");
    b[at + 10..at + 12].copy_from_slice(&8u16.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let text = refused(dir.path(), "deflated.pth", &b);
    assert!(
        text.contains("data.pkl") && text.contains("deflate"),
        "{text}"
    );
}

#[test]
fn a_damaged_pickle_fails_its_crc() {
    let mut b = fixture();
    let at = central_entry(&b, "/data.pkl");
    let local = u32_at(&b, at + 42) as usize;
    let data = local + 30 + u16_at(&b, local + 26) + u16_at(&b, local + 28);
    b[data + 5] ^= 0x01;
    let dir = tempfile::tempdir().unwrap();
    let text = refused(dir.path(), "crc.pth", &b);
    assert!(text.contains("CRC-32"), "{text}");
}
