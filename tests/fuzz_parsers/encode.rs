//! Small writers (and splitters) for the file formats the harness builds by hand: gzip with a
//! fixed-Huffman deflate stream, stored ZIP archives (as `np.savez` writes them), `.npy`
//! files, IDX and CIFAR records. They exist so the seed corpus is reproducible and so the
//! structure-aware mutators can re-wrap a mutated payload with valid checksums, without
//! adding dependencies to the test.

/// CRC-32 (IEEE, as used by gzip and ZIP).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}

/// LSB-first bit writer for deflate.
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// A Huffman code, which deflate stores most-significant bit first.
    fn code(&mut self, code: u32, len: u32) {
        self.put(code.reverse_bits() >> (32 - len), len);
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

fn fixed_litlen(bits: &mut Bits, sym: u32) {
    match sym {
        0..=143 => bits.code(0x30 + sym, 8),
        144..=255 => bits.code(0x190 + sym - 144, 9),
        256..=279 => bits.code(sym - 256, 7),
        _ => bits.code(0xc0 + sym - 280, 8),
    }
}

/// A single fixed-Huffman deflate block: literals, and runs of a repeated byte as
/// back-references at distance 1 (lengths 3..=10 and 258, which need no extra bits).
pub fn deflate_fixed(data: &[u8]) -> Vec<u8> {
    let mut bits = Bits {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    bits.put(1, 1); // BFINAL
    bits.put(1, 2); // BTYPE = 01, fixed Huffman
    let mut i = 0;
    while i < data.len() {
        fixed_litlen(&mut bits, u32::from(data[i]));
        let mut run = 0;
        while i + 1 + run < data.len() && data[i + 1 + run] == data[i] {
            run += 1;
        }
        let mut left = run;
        while left >= 3 {
            let len = if left >= 258 { 258 } else { left.min(10) };
            let sym = if len == 258 { 285 } else { 254 + len as u32 };
            fixed_litlen(&mut bits, sym);
            bits.code(0, 5); // distance code 0: distance 1
            left -= len;
        }
        for _ in 0..left {
            fixed_litlen(&mut bits, u32::from(data[i]));
        }
        i += 1 + run;
    }
    fixed_litlen(&mut bits, 256);
    bits.finish()
}

/// A gzip member (no file name, mtime 0) around [`deflate_fixed`].
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.extend(deflate_fixed(data));
    out.extend(crc32(data).to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out
}

/// A ZIP archive of stored (uncompressed) entries, as `numpy.savez` writes `.npz` files.
pub fn zip_stored(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let common = |v: &mut Vec<u8>| {
            v.extend(20u16.to_le_bytes()); // version needed
            v.extend(0u16.to_le_bytes()); // flags
            v.extend(0u16.to_le_bytes()); // method: stored
            v.extend(0u16.to_le_bytes()); // time
            v.extend(0x21u16.to_le_bytes()); // date: 1980-01-01
            v.extend(crc.to_le_bytes());
            v.extend((data.len() as u32).to_le_bytes());
            v.extend((data.len() as u32).to_le_bytes());
            v.extend((name.len() as u16).to_le_bytes());
            v.extend(0u16.to_le_bytes()); // extra length
        };
        out.extend(0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend(name.as_bytes());
        out.extend(data);
        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend(20u16.to_le_bytes()); // version made by
        common(&mut central);
        central.extend([0u8; 10]); // comment length, disk, internal and external attributes
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]); // this disk, disk with the central directory
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

fn le16(b: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as usize)
}

fn le32(b: &[u8], at: usize) -> Option<usize> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize)
}

/// The entries of a ZIP archive whose entries are all stored, read from the local headers;
/// `None` for anything else (compressed entries, data descriptors, damage).
pub fn unzip_stored(zip: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut entries = Vec::new();
    let mut at = 0;
    while le32(zip, at)? == 0x0403_4b50 {
        let (flags, method) = (le16(zip, at + 6)?, le16(zip, at + 8)?);
        let size = le32(zip, at + 18)?;
        let (nlen, elen) = (le16(zip, at + 26)?, le16(zip, at + 28)?);
        if method != 0 || flags & 8 != 0 {
            return None;
        }
        let name = String::from_utf8(zip.get(at + 30..at + 30 + nlen)?.to_vec()).ok()?;
        let start = at + 30 + nlen + elen;
        entries.push((name, zip.get(start..start + size)?.to_vec()));
        at = start + size;
    }
    Some(entries)
}

/// Sets every entry's modification time in a ZIP archive to 1980-01-01 00:00 (the writer of
/// `.npz` files stamps the current time), so a generated archive is reproducible. Walks the
/// central directory from the end record; leaves anything it cannot follow unchanged.
pub fn zip_fixed_times(zip: &mut [u8]) {
    let Some(eocd) = zip.len().checked_sub(22) else {
        return;
    };
    if le32(zip, eocd) != Some(0x0605_4b50) {
        return;
    }
    let (Some(count), Some(mut at)) = (le16(zip, eocd + 10), le32(zip, eocd + 16)) else {
        return;
    };
    let stamp = |zip: &mut [u8], time_at: usize| {
        if time_at + 4 <= zip.len() {
            zip[time_at..time_at + 4].copy_from_slice(&[0, 0, 0x21, 0]);
        }
    };
    for _ in 0..count {
        if le32(zip, at) != Some(0x0201_4b50) {
            return;
        }
        stamp(zip, at + 12);
        if let Some(local) = le32(zip, at + 42) {
            if le32(zip, local) == Some(0x0403_4b50) {
                stamp(zip, local + 10);
            }
        }
        let lens = [28, 30, 32].map(|o| le16(zip, at + o).unwrap_or(0));
        at += 46 + lens.iter().sum::<usize>();
    }
}

/// A `.npy` file: format `version` (1, 2 or 3) with the given header dictionary text.
pub fn npy(version: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let prefix = if version == 1 { 10 } else { 12 };
    let mut header = dict.to_string();
    while !(prefix + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend([version, 0]);
    if version == 1 {
        out.extend((header.len() as u16).to_le_bytes());
    } else {
        out.extend((header.len() as u32).to_le_bytes());
    }
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

/// A `.npy` file split into its version byte, header text and data; `None` when the magic
/// or the header length does not fit.
pub fn split_npy(file: &[u8]) -> Option<(u8, Vec<u8>, Vec<u8>)> {
    if file.get(..6)? != b"\x93NUMPY" {
        return None;
    }
    let version = *file.get(6)?;
    let (len, start): (usize, usize) = if version == 1 {
        (le16(file, 8)?, 10)
    } else {
        (le32(file, 8)?, 12)
    };
    let header = file.get(start..start.checked_add(len)?)?.to_vec();
    Some((version, header, file[start + len..].to_vec()))
}

/// An IDX file of `u8` with the given dimensions (magic `0x0800_0000 | ndim`).
pub fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend(data);
    out
}

/// A safetensors file split into its 8-byte header length, header text and data; `None`
/// when the length does not fit the file.
pub fn split_safetensors(file: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let n = usize::try_from(u64::from_le_bytes(file.get(..8)?.try_into().ok()?)).ok()?;
    let header = file.get(8..8usize.checked_add(n)?)?.to_vec();
    Some((header, file[8 + n..].to_vec()))
}

/// A safetensors file from a header text (padded to 8 bytes with spaces) and data.
pub fn join_safetensors(header: &[u8], data: &[u8]) -> Vec<u8> {
    let mut h = header.to_vec();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    out
}

#[test]
fn crc32_matches_the_reference_value() {
    assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
}

#[test]
fn gzip_round_trips_through_the_idx_reader() {
    let data: Vec<u8> = (0..2000u32)
        .map(|i| if i % 300 < 200 { 0 } else { i as u8 })
        .collect();
    let path = std::path::Path::new("x.gz");
    let back = unlearn_data::idx::maybe_gunzip(gzip(&data), path).expect("valid gzip");
    assert_eq!(back, data);
}
