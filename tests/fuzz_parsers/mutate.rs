//! Seeded mutations: generic byte-level ones (bit flips, interesting bytes and integers,
//! truncation, insertion and deletion of runs, chunk duplication) and structure-aware ones
//! per file kind (IDX dimensions, gzip re-wrapping, CIFAR labels, `.npy` header text and
//! length, stored-ZIP entries and header fields, the safetensors header length and JSON
//! header, JSON documents as values). A structure-aware mutation re-encodes what it changes
//! (lengths, checksums) most of the time, so the parser gets past its first checks.

use serde_json::Value;

use crate::encode;

/// A splitmix64 generator: tiny, seedable, good enough to drive mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`0` when `n == 0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    pub fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// Small lengths far more often than long ones: 1, 2, 4, … up to `max`.
    pub fn len_up_to(&mut self, max: usize) -> usize {
        let bits = self.below(13) as u32;
        1 + self.below((1usize << bits).min(max.max(1)))
    }
}

/// What a file is, which selects its structure-aware mutations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Raw IDX (images or labels).
    Idx,
    /// Gzip-compressed IDX.
    IdxGz,
    /// CIFAR binary records.
    Cifar,
    /// A text file of lines (CIFAR class names).
    Lines,
    /// A `.npy` file.
    Npy,
    /// A ZIP archive (`.npz`); stored entries are mutated as `.npy` files.
    Npz,
    /// A safetensors file.
    Safetensors,
    /// A JSON document; `rehash` recomputes split-manifest list hashes after a change.
    Json { rehash: bool },
    /// Any other binary format (images, parquet): generic mutations only.
    Binary,
}

const BYTES: [u8; 14] = [
    0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, b'0', b'9', b'"', b'\\', b'\n', b'{', b'[', b'(',
];

const INTS: [u64; 22] = [
    0,
    1,
    2,
    3,
    7,
    8,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0x8000,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    1 << 40,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
];

const DECIMALS: [&str; 36] = [
    "0",
    "1",
    "-1",
    "2",
    "3",
    "4",
    "7",
    "8",
    "9",
    "10",
    "16",
    "20",
    "99",
    "100",
    "127",
    "128",
    "255",
    "256",
    "1000",
    "4096",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "1e308",
    "-0",
    "0.5",
    "1.5",
    "-1e-300",
    "NaN",
];

const WORDS: [&str; 40] = [
    "F32",
    "F64",
    "F16",
    "BF16",
    "I64",
    "I32",
    "I8",
    "U8",
    "U64",
    "BOOL",
    "F8_E4M3",
    "C64",
    "small-cnn",
    "resnet18",
    "resnet18-cifar",
    "vit-b16",
    "vit-tiny",
    "unlearn-checkpoint/1",
    "__metadata__",
    "module.",
    "random:0.1",
    "random:1",
    "class:3",
    "class:0,1,2,3,4,5,6,7,8,9",
    "class:4294967295",
    "backdoor:0.05",
    "imported:abc:3",
    "<i8",
    ">i8",
    "|u1",
    "<f8",
    "|b1",
    "<U4",
    "|O",
    "|V8",
    "[1,4,4]",
    "[1,4,4194304]",
    "[0,0,0]",
    "",
    "retain_features",
];

/// An interesting integer, sometimes one derived from the input's length.
fn interesting(rng: &mut Rng, len: usize) -> u64 {
    let l = len as u64;
    match rng.below(6) {
        0 => *rng.pick(&[l, l.wrapping_sub(1), l + 1, l.wrapping_sub(8), l / 2]),
        1 => rng.next(),
        _ => *rng.pick(&INTS),
    }
}

fn write_int(data: &mut [u8], at: usize, value: u64, width: usize, big_endian: bool) {
    let bytes = if big_endian {
        value.to_be_bytes()[8 - width..].to_vec()
    } else {
        value.to_le_bytes()[..width].to_vec()
    };
    let end = (at + width).min(data.len());
    data[at..end].copy_from_slice(&bytes[..end - at]);
}

/// One generic byte-level mutation.
pub fn havoc_once(rng: &mut Rng, data: &mut Vec<u8>) {
    let len = data.len();
    if len == 0 {
        let n = rng.len_up_to(64);
        data.extend((0..n).map(|_| rng.next() as u8));
        return;
    }
    let at = rng.below(len);
    match rng.below(10) {
        0 => data[at] ^= 1 << rng.below(8),
        1 => data[at] = *rng.pick(&BYTES),
        2 => data[at] = rng.next() as u8,
        3 => {
            let width = *rng.pick(&[2, 4, 8]);
            let v = interesting(rng, len);
            let be = rng.one_in(2);
            write_int(data, at, v, width, be);
        }
        4 => data.truncate(at),
        5 => {
            let n = rng.len_up_to(len - at);
            data.drain(at..(at + n).min(len));
        }
        6 => {
            let n = rng.len_up_to(4096);
            let run: Vec<u8> = match rng.below(3) {
                0 => (0..n).map(|_| rng.next() as u8).collect(),
                1 => vec![*rng.pick(&BYTES); n],
                _ => rng.pick(&WORDS).as_bytes().repeat(n.min(256)),
            };
            data.splice(at..at, run);
        }
        7 => {
            let from = rng.below(len);
            let n = rng.len_up_to(len - from);
            let chunk = data[from..from + n].to_vec();
            data.splice(at..at, chunk);
        }
        8 => data[at] = data[at].wrapping_add(rng.below(33) as u8).wrapping_sub(16),
        _ => {
            let n = rng.len_up_to(256);
            data.extend((0..n).map(|_| rng.next() as u8));
        }
    }
}

/// 1 to 8 stacked generic mutations.
pub fn havoc(rng: &mut Rng, data: &mut Vec<u8>) {
    let rounds = 1 << rng.below(4);
    for _ in 0..rounds {
        havoc_once(rng, data);
    }
}

/// Byte ranges of runs of ASCII digits (with a leading `-` when there is one).
fn numbers(text: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i].is_ascii_digit() {
            let start = if i > 0 && text[i - 1] == b'-' {
                i - 1
            } else {
                i
            };
            let mut end = i;
            while end < text.len() && (text[end].is_ascii_digit() || text[end] == b'.') {
                end += 1;
            }
            out.push((start, end));
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// Byte ranges of the contents of quoted strings (`"…"` or `'…'`, no escapes).
fn strings(text: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut open: Option<(u8, usize)> = None;
    for (i, &b) in text.iter().enumerate() {
        match open {
            None if b == b'"' || b == b'\'' => open = Some((b, i + 1)),
            Some((q, start)) if b == q => {
                out.push((start, i));
                open = None;
            }
            _ => {}
        }
    }
    out
}

/// One mutation of a textual header (JSON, a Python dict literal): numbers, strings,
/// keywords, deep nesting, span deletion and duplication, or a generic byte mutation.
pub fn mutate_text(rng: &mut Rng, text: &mut Vec<u8>) {
    match rng.below(8) {
        0 | 1 => {
            let spans = numbers(text);
            if spans.is_empty() {
                return havoc_once(rng, text);
            }
            let (s, e) = *rng.pick(&spans);
            text.splice(s..e, rng.pick(&DECIMALS).bytes());
        }
        2 => {
            let spans = strings(text);
            if spans.is_empty() {
                return havoc_once(rng, text);
            }
            let (s, e) = *rng.pick(&spans);
            text.splice(s..e, rng.pick(&WORDS).bytes());
        }
        3 => {
            let words: [&[u8]; 6] = [b"True", b"False", b"true", b"false", b"null", b"None"];
            let from = *rng.pick(&words);
            let to = *rng.pick(&words);
            if let Some(at) = text.windows(from.len()).position(|w| w == from) {
                text.splice(at..at + from.len(), to.iter().copied());
            } else {
                havoc_once(rng, text);
            }
        }
        4 => {
            let units: [&[u8]; 4] = [b"[", b"(", b"{\"a\":", b"{'a':"];
            let unit = *rng.pick(&units);
            let at = rng.below(text.len() + 1);
            let n = rng.len_up_to(20_000);
            text.splice(at..at, unit.repeat(n));
        }
        5 => {
            let at = rng.below(text.len() + 1);
            let n = rng.len_up_to(text.len() - at);
            text.drain(at..(at + n).min(text.len()));
        }
        6 => {
            let from = rng.below(text.len() + 1);
            let n = rng.len_up_to(text.len() - from).min(text.len() - from);
            let chunk = text[from..from + n].to_vec();
            let at = rng.below(text.len() + 1);
            text.splice(at..at, chunk);
        }
        _ => havoc_once(rng, text),
    }
}

fn idx_aware(rng: &mut Rng, data: &mut Vec<u8>) {
    let ndim = data.get(3).map_or(1, |&d| usize::from(d).clamp(1, 3));
    let header = 4 + 4 * ndim;
    if data.len() < header {
        return havoc(rng, data);
    }
    match rng.below(4) {
        0 | 1 => {
            let at = 4 + 4 * rng.below(ndim);
            let old = u32::from_be_bytes(data[at..at + 4].try_into().unwrap_or([0; 4]));
            let v = match rng.below(3) {
                0 => old.wrapping_add(rng.below(5) as u32).wrapping_sub(2),
                1 => interesting(rng, data.len()) as u32,
                _ => 0,
            };
            write_int(data, at, u64::from(v), 4, true);
            if rng.one_in(2) {
                // Make the payload agree with the new dimensions, when that stays small.
                let dims = (0..ndim).map(|d| {
                    u32::from_be_bytes(data[4 + 4 * d..8 + 4 * d].try_into().unwrap_or([0; 4]))
                });
                let want = dims.fold(1u64, |acc, d| acc.saturating_mul(u64::from(d)));
                if want <= 1 << 20 {
                    data.resize(header + want as usize, 0);
                }
            }
        }
        2 => {
            let at = 2 + rng.below(2);
            data[at] = *rng.pick(&[0, 1, 2, 3, 4, 8, 9, 0x0b, 0x0d, 0x0e, 0xff]);
        }
        _ => {
            if data.len() > header {
                let at = header + rng.below(data.len() - header);
                data[at] = *rng.pick(&[9, 10, 11, 0x7f, 0x80, 0xff]);
            }
        }
    }
}

fn idx_gz_aware(rng: &mut Rng, data: &mut Vec<u8>) {
    let path = std::path::Path::new("seed.gz");
    let Ok(mut inner) = unlearn_data::idx::maybe_gunzip(data.clone(), path) else {
        return havoc(rng, data);
    };
    if rng.one_in(3) {
        havoc(rng, &mut inner);
    } else {
        idx_aware(rng, &mut inner);
    }
    *data = encode::gzip(&inner);
    match rng.below(6) {
        0 => {
            let n = data.len();
            let at = n - 8 + 4 * rng.below(2);
            let v = interesting(rng, inner.len());
            write_int(data, at, v, 4, false);
        }
        1 => data.extend(encode::gzip(&inner[..rng.below(inner.len() + 1)])),
        2 => data.extend((0..rng.len_up_to(64)).map(|_| rng.next() as u8)),
        3 => havoc_once(rng, data),
        _ => {}
    }
}

fn cifar_aware(rng: &mut Rng, data: &mut Vec<u8>) {
    let rs = if data.len().is_multiple_of(3073) {
        3073
    } else {
        3074
    };
    let records = data.len() / rs;
    match rng.below(3) {
        0 if records > 0 => {
            let at = rng.below(records) * rs + rng.below(rs - 3072);
            data[at] = *rng.pick(&[9, 10, 19, 20, 99, 100, 0x7f, 0x80, 0xff]);
        }
        1 => {
            let n = data.len();
            let new = match rng.below(4) {
                0 => n.saturating_sub(1),
                1 => n + 1,
                2 => n.saturating_sub(rs),
                _ => n + rs,
            };
            data.resize(new, 0);
        }
        _ => havoc(rng, data),
    }
}

fn lines_aware(rng: &mut Rng, data: &mut Vec<u8>) {
    let mut lines: Vec<Vec<u8>> = data.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    let at = rng.below(lines.len());
    match rng.below(5) {
        0 => {
            lines.remove(at);
        }
        1 => {
            let l = lines[at].clone();
            lines.insert(at, l);
        }
        2 => lines.insert(
            at,
            rng.pick(&[&b""[..], b"  ", b"\r", b"\xff\xfe"]).to_vec(),
        ),
        3 => lines.insert(at, vec![b'x'; rng.len_up_to(100_000)]),
        _ => havoc_once(rng, &mut lines[at]),
    }
    *data = lines.join(&b'\n');
}

fn npy_aware(rng: &mut Rng, data: &mut Vec<u8>) {
    let Some((version, mut header, mut body)) = encode::split_npy(data) else {
        return havoc(rng, data);
    };
    match rng.below(6) {
        0..=2 => {
            mutate_text(rng, &mut header);
            let v = if rng.one_in(4) {
                *rng.pick(&[1, 2, 3])
            } else {
                version
            };
            let text = String::from_utf8_lossy(&header).trim_end().to_string();
            *data = encode::npy(v, &text, &body);
        }
        3 => {
            let width = if version == 1 { 2 } else { 4 };
            let v = interesting(rng, data.len());
            write_int(data, 8, v, width, false);
        }
        4 => data[6] = *rng.pick(&[0, 1, 2, 3, 4, 0xff]),
        _ => {
            havoc(rng, &mut body);
            let text = String::from_utf8_lossy(&header).trim_end().to_string();
            *data = encode::npy(version, &text, &body);
        }
    }
}

/// A ZIP record's signature and the (offset, width) of its integer fields.
type ZipRecord = (&'static [u8], &'static [(usize, usize)]);

fn zip_fields(rng: &mut Rng, data: &mut Vec<u8>) {
    const RECORDS: [ZipRecord; 3] = [
        (
            b"PK\x03\x04",
            &[(6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2)],
        ),
        (
            b"PK\x01\x02",
            &[
                (8, 2),
                (10, 2),
                (16, 4),
                (20, 4),
                (24, 4),
                (28, 2),
                (30, 2),
                (42, 4),
            ],
        ),
        (b"PK\x05\x06", &[(8, 2), (10, 2), (12, 4), (16, 4), (20, 2)]),
    ];
    let (sig, fields) = *rng.pick(&RECORDS);
    let hits: Vec<usize> = (0..data.len().saturating_sub(3))
        .filter(|&i| &data[i..i + 4] == sig)
        .collect();
    if hits.is_empty() {
        return havoc_once(rng, data);
    }
    let at = *rng.pick(&hits);
    let (off, width) = *rng.pick(fields);
    if at + off < data.len() {
        let v = interesting(rng, data.len());
        write_int(data, at + off, v, width, false);
    }
}

fn npz_aware(rng: &mut Rng, data: &mut Vec<u8>) {
    if rng.one_in(2) {
        if let Some(mut entries) = encode::unzip_stored(data) {
            if !entries.is_empty() {
                let at = rng.below(entries.len());
                match rng.below(6) {
                    0 => {
                        entries.remove(at);
                    }
                    1 => {
                        let e = entries[at].clone();
                        entries.push(e);
                    }
                    2 => entries[at].0 = format!("{}.npy", rng.pick(&WORDS)),
                    _ => npy_aware(rng, &mut entries[at].1),
                }
                *data = encode::zip_stored(&entries);
                return;
            }
        }
    }
    if rng.one_in(2) {
        zip_fields(rng, data);
    } else {
        havoc(rng, data);
    }
}

/// Every node of a JSON value, as paths of object keys and array indices.
fn node_paths(v: &Value, path: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(path.clone());
    match v {
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(Value::from(i));
                node_paths(x, path, out);
                path.pop();
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                path.push(Value::from(k.as_str()));
                node_paths(x, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn node_mut<'a>(mut v: &'a mut Value, path: &[Value]) -> Option<&'a mut Value> {
    for seg in path {
        v = match seg {
            Value::String(k) => v.get_mut(k.as_str())?,
            _ => v.get_mut(seg.as_u64()? as usize)?,
        };
    }
    Some(v)
}

fn replace_node(rng: &mut Rng, node: &mut Value, len: usize) {
    match node {
        Value::Number(_) if rng.one_in(2) => {
            *node = match rng.below(3) {
                0 => Value::from(interesting(rng, len)),
                1 => Value::from(-(rng.below(3) as i64) - 1),
                _ => Value::from(*rng.pick(&[0.5, -0.0, 1e308, -1e-300, 1.0])),
            };
        }
        Value::String(s) if rng.one_in(2) => {
            let mut b = s.clone().into_bytes();
            mutate_text(rng, &mut b);
            *s = String::from_utf8_lossy(&b).into_owned();
        }
        Value::Array(a) if !a.is_empty() && rng.one_in(2) => {
            let i = rng.below(a.len());
            match rng.below(4) {
                0 => {
                    a.remove(i);
                }
                1 => {
                    let x = a[i].clone();
                    a.insert(i, x);
                }
                2 => {
                    let j = rng.below(a.len());
                    a.swap(i, j);
                }
                _ => a.push(Value::from(interesting(rng, len))),
            }
        }
        Value::Object(o) if !o.is_empty() && rng.one_in(2) => {
            let key = o
                .keys()
                .nth(rng.below(o.len()))
                .cloned()
                .unwrap_or_default();
            if rng.one_in(2) {
                o.remove(&key);
            } else if let Some(x) = o.get(&key).cloned() {
                o.insert(rng.pick(&WORDS).to_string(), x);
            }
        }
        _ => {
            *node = match rng.below(6) {
                0 => Value::Null,
                1 => Value::Bool(rng.one_in(2)),
                2 => Value::from(*rng.pick(&WORDS)),
                3 => Value::Array(vec![]),
                4 => Value::Object(Default::default()),
                _ => Value::from(interesting(rng, len)),
            };
        }
    }
}

/// Recompute the `sha256` entries of a split manifest's lists, so a mutated list reaches the
/// checks after the hash comparison.
fn rehash(doc: &mut Value) {
    for name in ["train", "val", "retain", "forget", "test"] {
        let Some(list) = doc.get(name).and_then(Value::as_array) else {
            continue;
        };
        let Some(ids) = list
            .iter()
            .map(|x| x.as_u64().and_then(|v| u32::try_from(v).ok()))
            .collect::<Option<Vec<u32>>>()
        else {
            continue;
        };
        let hash = unlearn_data::split::list_hash(&ids);
        if let Some(slot) = doc.get_mut("sha256").and_then(|h| h.get_mut(name)) {
            *slot = Value::from(hash);
        }
    }
}

/// A mutated JSON document: a change to one value (then re-serialised), or a text mutation.
fn json_aware(rng: &mut Rng, data: &mut Vec<u8>, rehash_lists: bool) {
    let Ok(mut doc) = serde_json::from_slice::<Value>(data) else {
        return mutate_text(rng, data);
    };
    if rng.one_in(4) {
        return mutate_text(rng, data);
    }
    let mut paths = Vec::new();
    node_paths(&doc, &mut Vec::new(), &mut paths);
    for _ in 0..1 + rng.below(3) {
        let path = rng.pick(&paths).clone();
        if let Some(node) = node_mut(&mut doc, &path) {
            replace_node(rng, node, data.len());
        }
    }
    if rehash_lists && !rng.one_in(4) {
        rehash(&mut doc);
    }
    let text = if rng.one_in(2) {
        serde_json::to_vec(&doc)
    } else {
        serde_json::to_vec_pretty(&doc)
    };
    *data = text.unwrap_or_default();
}

fn safetensors_aware(rng: &mut Rng, data: &mut Vec<u8>) {
    let Some((mut header, mut body)) = encode::split_safetensors(data) else {
        return havoc(rng, data);
    };
    match rng.below(5) {
        0 => {
            let v = interesting(rng, data.len());
            write_int(data, 0, v, 8, false);
        }
        1 | 2 => {
            json_aware(rng, &mut header, false);
            *data = encode::join_safetensors(&header, &body);
        }
        3 => {
            mutate_text(rng, &mut header);
            if rng.one_in(4) {
                let mut raw = (header.len() as u64).to_le_bytes().to_vec();
                raw.extend(&header);
                raw.extend(&body);
                *data = raw;
            } else {
                *data = encode::join_safetensors(&header, &body);
            }
        }
        _ => {
            havoc(rng, &mut body);
            *data = encode::join_safetensors(&header, &body);
        }
    }
}

/// A mutant of `seed` of the given kind, at most `2 × len + 64 KiB` long.
pub fn mutate(rng: &mut Rng, kind: Kind, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    if rng.one_in(3) {
        havoc(rng, &mut data);
    } else {
        match kind {
            Kind::Idx => idx_aware(rng, &mut data),
            Kind::IdxGz => idx_gz_aware(rng, &mut data),
            Kind::Cifar => cifar_aware(rng, &mut data),
            Kind::Lines => lines_aware(rng, &mut data),
            Kind::Npy => npy_aware(rng, &mut data),
            Kind::Npz => npz_aware(rng, &mut data),
            Kind::Safetensors => safetensors_aware(rng, &mut data),
            Kind::Json { rehash } => json_aware(rng, &mut data, rehash),
            Kind::Binary => havoc(rng, &mut data),
        }
        if rng.one_in(8) {
            havoc_once(rng, &mut data);
        }
    }
    data.truncate(2 * seed.len() + 64 * 1024);
    data
}
