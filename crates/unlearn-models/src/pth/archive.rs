//! The zip archives `torch.save` writes, read by this crate rather than a zip library.
//!
//! The End Of Central Directory record is searched for backwards in the file's last 65,557
//! bytes (22 bytes of record, up to 65,535 of comment); when a zip64 locator precedes it the
//! zip64 record gives the central directory instead. Every central directory entry gives a
//! name, a compression method, sizes (or 0xFFFFFFFF and the zip64 extra field 0x0001) and its
//! local header's offset; each local header is then read for the length of its name and extra
//! field (torch pads with it to align data to 64 bytes), which gives the data's offset.
//!
//! Only stored (uncompressed, unencrypted) entries are accepted. Every offset and size is
//! checked against the file's size before anything is read or allocated, every entry must lie
//! before the central directory, and entries may not overlap. `data.pkl`'s CRC-32 is checked;
//! a storage's is checked whenever a read covers the whole entry.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::bad;
use crate::error::{ModelError, Result};

const EOCD: u32 = 0x0605_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EOCD: u32 = 0x0606_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;
/// The End Of Central Directory record without its comment.
const EOCD_LEN: u64 = 22;
/// The longest a zip comment can be.
const MAX_COMMENT: u64 = 65_535;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: usize = 30;

/// One stored entry: where its bytes are and what they should hash to.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    /// The offset of the entry's first data byte.
    data: u64,
    /// Its size in bytes.
    pub size: u64,
    crc: u32,
}

/// An opened `torch.save` archive: its entries by name, and the file they are read from.
pub(super) struct Archive {
    path: PathBuf,
    file: File,
    size: u64,
    entries: BTreeMap<String, Entry>,
}

/// Little-endian fields read from a byte slice, each checked to be inside it.
struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let end = self.at.checked_add(N)?;
        let out = self.bytes.get(self.at..end)?.try_into().ok()?;
        self.at = end;
        Some(out)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        self.at = self.at.checked_add(n).filter(|e| *e <= self.bytes.len())?;
        Some(())
    }
    fn slice(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }
}

fn fields(bytes: &[u8]) -> Fields<'_> {
    Fields { bytes, at: 0 }
}

/// Reads `len` bytes at `offset`, once both are known to be inside a file of `size` bytes.
fn read_at(
    path: &Path,
    file: &mut File,
    size: u64,
    offset: u64,
    len: u64,
    what: &str,
) -> Result<Vec<u8>> {
    let end = offset.checked_add(len).filter(|e| *e <= size);
    let (Some(_), Ok(n)) = (end, usize::try_from(len)) else {
        return Err(bad(
            path,
            format!("its {what} ({len} bytes at offset {offset}) reaches past the end of the file ({size} bytes): the archive is cut short or damaged"),
        ));
    };
    let io = |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    };
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut buf = vec![0u8; n];
    file.read_exact(&mut buf).map_err(io)?;
    Ok(buf)
}

/// Where the central directory is: (offset, size, entry count), from the end records.
fn central_directory(path: &Path, file: &mut File, size: u64) -> Result<(u64, u64, u64)> {
    let tail_len = size.min(EOCD_LEN + MAX_COMMENT);
    let tail_at = size - tail_len;
    let tail = read_at(path, file, size, tail_at, tail_len, "end")?;
    let not_zip = || {
        bad(
            path,
            "no End Of Central Directory record in its last 65,557 bytes: not a zip archive, or one cut short".into(),
        )
    };
    let last = tail
        .len()
        .checked_sub(EOCD_LEN as usize)
        .ok_or_else(not_zip)?;
    let at = (0..=last)
        .rev()
        .find(|&i| {
            let mut f = fields(tail.get(i..).unwrap_or_default());
            f.u32() == Some(EOCD)
                && f.skip(16).is_some()
                && f.u16()
                    .is_some_and(|c| i + EOCD_LEN as usize + c as usize == tail.len())
        })
        .ok_or_else(not_zip)?;
    let mut f = fields(tail.get(at..).unwrap_or_default());
    f.skip(10).ok_or_else(not_zip)?;
    let (Some(count), Some(cd_size), Some(cd_at)) = (f.u16(), f.u32(), f.u32()) else {
        return Err(not_zip());
    };
    let eocd_at = tail_at + at as u64;
    // A zip64 locator sits just before the record; torch always writes one.
    let locator = eocd_at
        .checked_sub(20)
        .map(|l| read_at(path, file, size, l, 20, "zip64 end locator"))
        .transpose()?;
    if let Some(loc) = locator.filter(|l| fields(l).u32() == Some(ZIP64_LOCATOR)) {
        let mut f = fields(&loc);
        f.skip(8).ok_or_else(not_zip)?;
        let rec_at = f.u64().ok_or_else(not_zip)?;
        let rec = read_at(path, file, size, rec_at, 56, "zip64 end record")?;
        let mut f = fields(&rec);
        if f.u32() != Some(ZIP64_EOCD) {
            return Err(bad(
                path,
                format!(
                    "its zip64 locator points at offset {rec_at}, which holds no zip64 end record"
                ),
            ));
        }
        f.skip(28).ok_or_else(not_zip)?;
        let (Some(count), Some(cd_size), Some(cd_at)) = (f.u64(), f.u64(), f.u64()) else {
            return Err(not_zip());
        };
        return before(path, (cd_at, cd_size, count), rec_at);
    }
    let found = (u64::from(cd_at), u64::from(cd_size), u64::from(count));
    before(path, found, eocd_at)
}

/// The central directory `found` (offset, size, count), checked to end by `end` (the end record).
fn before(path: &Path, found: (u64, u64, u64), end: u64) -> Result<(u64, u64, u64)> {
    let (at, len, _) = found;
    if at.checked_add(len).is_none_or(|e| e > end) {
        return Err(bad(
            path,
            format!("its central directory ({len} bytes at offset {at}) overlaps the end record at offset {end}"),
        ));
    }
    Ok(found)
}

/// One central directory record (at `f`'s position): name, method, flags, sizes, crc and the
/// local header offset, the zip64 extra field applied.
struct Central {
    name: String,
    method: u16,
    flags: u16,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    local: u64,
}

fn central(f: &mut Fields<'_>) -> Option<std::result::Result<Central, String>> {
    if f.u32()? != CENTRAL {
        return Some(Err("a central directory entry without its signature".into()));
    }
    f.skip(4)?;
    let flags = f.u16()?;
    let method = f.u16()?;
    f.skip(4)?;
    let crc = f.u32()?;
    let mut compressed = u64::from(f.u32()?);
    let mut uncompressed = u64::from(f.u32()?);
    let (name_len, extra_len, comment_len) = (f.u16()?, f.u16()?, f.u16()?);
    f.skip(8)?;
    let mut local = u64::from(f.u32()?);
    let name = f.slice(name_len.into())?;
    let Ok(name) = String::from_utf8(name.to_vec()) else {
        return Some(Err("an entry whose name is not UTF-8".into()));
    };
    let mut extra = fields(f.slice(extra_len.into())?);
    f.skip(comment_len.into())?;
    while let (Some(id), Some(len)) = (extra.u16(), extra.u16()) {
        let mut data = fields(extra.slice(len.into())?);
        if id == 0x0001 {
            for v in [&mut uncompressed, &mut compressed, &mut local] {
                if *v == u64::from(u32::MAX) {
                    *v = data.u64()?;
                }
            }
        }
    }
    Some(Ok(Central {
        name,
        method,
        flags,
        crc,
        compressed,
        uncompressed,
        local,
    }))
}

/// The offset of an entry's data, from its local header (which must name it too).
fn data_offset(path: &Path, file: &mut File, size: u64, c: &Central) -> Result<u64> {
    let what = format!("local header of '{}'", c.name);
    let head = read_at(path, file, size, c.local, LOCAL_LEN as u64, &what)?;
    let mut f = fields(&head);
    let bad_head = || {
        bad(
            path,
            format!("its {what} at offset {} is not a local header", c.local),
        )
    };
    if f.u32() != Some(LOCAL) {
        return Err(bad_head());
    }
    f.skip(22).ok_or_else(bad_head)?;
    let (Some(name_len), Some(extra_len)) = (f.u16(), f.u16()) else {
        return Err(bad_head());
    };
    let name_at = c.local + LOCAL_LEN as u64;
    let name = read_at(path, file, size, name_at, name_len.into(), &what)?;
    if name != c.name.as_bytes() {
        return Err(bad(
            path,
            format!(
                "its {what} names '{}' instead",
                String::from_utf8_lossy(&name)
            ),
        ));
    }
    Ok(name_at + u64::from(name_len) + u64::from(extra_len))
}

/// Why an archive with these entries is TorchScript (`torch.jit.save`: a `code/` folder
/// and `constants.pkl` beside `data.pkl`), `None` for any other archive.
fn torchscript(records: &[Central]) -> Option<String> {
    let has = |part: &str| {
        records.iter().find_map(|c| {
            let mut parts = c.name.splitn(2, '/');
            let (_root, rest) = (parts.next()?, parts.next()?);
            (rest == part || rest.starts_with(&format!("{part}/"))).then(|| c.name.clone())
        })
    };
    let code = has("code")?;
    let constants = has("constants.pkl")?;
    Some(format!(
        "this is a TorchScript archive (torch.jit.save: it holds '{code}' and '{constants}'), which is compiled code, not a state dict; in Python, load it and save its tensors: torch.save(torch.jit.load(f).state_dict(), 'model.pth')"
    ))
}

/// Reads the central directory of the archive at `path` (see the module documentation).
pub(super) fn open(path: &Path) -> Result<Archive> {
    let (mut file, size) = unlearn_io::open_regular(path, "checkpoint")?;
    let (cd_at, cd_size, count) = central_directory(path, &mut file, size)?;
    if count > cd_size / CENTRAL_LEN as u64 {
        return Err(bad(
            path,
            format!(
                "its end record claims {count} entries in a central directory of {cd_size} bytes"
            ),
        ));
    }
    let cd = read_at(path, &mut file, size, cd_at, cd_size, "central directory")?;
    let mut f = fields(&cd);
    let mut spans: Vec<(u64, u64, String)> = Vec::new();
    let mut entries = BTreeMap::new();
    let mut records = Vec::new();
    for i in 0..count {
        records.push(match central(&mut f) {
            Some(Ok(c)) => c,
            Some(Err(why)) => return Err(bad(path, format!("central directory entry {i}: {why}"))),
            None => {
                return Err(bad(
                    path,
                    format!("its central directory ends inside entry {i} of {count}"),
                ))
            }
        });
    }
    if let Some(why) = torchscript(&records) {
        return Err(bad(path, why));
    }
    for c in records {
        if c.method != 0 {
            return Err(bad(
                path,
                format!("entry '{}' is compressed (method {}{}); torch.save stores entries uncompressed and only stored entries are read", c.name, c.method, if c.method == 8 { ", deflate" } else { "" }),
            ));
        }
        if c.flags & 1 != 0 || c.compressed != c.uncompressed {
            return Err(bad(
                path,
                format!(
                    "entry '{}' is encrypted or its stored sizes disagree ({} vs {} bytes)",
                    c.name, c.compressed, c.uncompressed
                ),
            ));
        }
        let data = data_offset(path, &mut file, size, &c)?;
        let end = data.checked_add(c.compressed).filter(|e| *e <= cd_at);
        let Some(end) = end else {
            return Err(bad(
                path,
                format!("entry '{}' ({} bytes at offset {data}) reaches past the start of the central directory (offset {cd_at}) in a file of {size} bytes", c.name, c.compressed),
            ));
        };
        spans.push((c.local, end, c.name.clone()));
        let entry = Entry {
            data,
            size: c.compressed,
            crc: c.crc,
        };
        if entries.insert(c.name.clone(), entry).is_some() {
            return Err(bad(path, format!("two entries are named '{}'", c.name)));
        }
    }
    spans.sort();
    for pair in spans.windows(2) {
        if let [(_, end, a), (start, _, b)] = pair {
            if start < end {
                return Err(bad(path, format!("entries '{a}' and '{b}' overlap")));
            }
        }
    }
    Ok(Archive {
        path: path.to_path_buf(),
        file,
        size,
        entries,
    })
}

impl Archive {
    /// The entry named `name`, if the archive has one.
    pub fn entry(&self, name: &str) -> Option<Entry> {
        self.entries.get(name).copied()
    }

    /// The archive's root folder: the one holding `data.pkl` (`""` for a top-level one).
    pub fn root(&self) -> Result<String> {
        let mut roots = self.entries.keys().filter_map(|n| {
            if n == "data.pkl" {
                Some(String::new())
            } else {
                n.strip_suffix("/data.pkl")
                    .filter(|r| !r.contains('/'))
                    .map(|r| format!("{r}/"))
            }
        });
        match (roots.next(), roots.next()) {
            (Some(root), None) => Ok(root),
            (None, _) => Err(bad(
                &self.path,
                "a zip archive without <folder>/data.pkl: not a torch.save file".into(),
            )),
            (Some(a), Some(b)) => Err(bad(
                &self.path,
                format!("a zip archive with two data.pkl files ('{a}data.pkl', '{b}data.pkl')"),
            )),
        }
    }

    /// `len` bytes of the entry `name` from byte `start`, checked against the entry's size;
    /// its CRC-32 is checked when the read covers the whole entry.
    pub fn read(&mut self, name: &str, start: u64, len: u64) -> Result<Vec<u8>> {
        let entry = self
            .entry(name)
            .ok_or_else(|| bad(&self.path, format!("the archive has no entry '{name}'")))?;
        if start.checked_add(len).is_none_or(|e| e > entry.size) {
            return Err(bad(
                &self.path,
                format!(
                    "{len} bytes from byte {start} of entry '{name}' were asked for; it holds {}",
                    entry.size
                ),
            ));
        }
        let what = format!("entry '{name}'");
        let bytes = read_at(
            &self.path,
            &mut self.file,
            self.size,
            entry.data + start,
            len,
            &what,
        )?;
        if start == 0 && len == entry.size && crc32fast::hash(&bytes) != entry.crc {
            return Err(bad(
                &self.path,
                format!("entry '{name}' does not match its CRC-32: the archive is damaged"),
            ));
        }
        Ok(bytes)
    }
}
