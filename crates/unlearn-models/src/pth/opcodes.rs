//! A pickle's opcodes walked before candle's pickle machine sees them: every opcode must be
//! one of the pickle protocols' (0–5), and every length an opcode announces (a string, a
//! byte string, a long, a frame) must fit in the bytes that are really there. Candle's
//! machine allocates the length an opcode announces before reading it, so without this walk
//! a 30-byte file could ask for gigabytes (found by `tests/fuzz_parsers.rs`).

use std::io::{BufRead, Read};

/// How an opcode's argument is laid out.
#[derive(Clone, Copy)]
enum Arg {
    /// No argument.
    None,
    /// A fixed number of bytes.
    Fixed(usize),
    /// A little-endian length of this many bytes, then that many bytes.
    Counted(usize),
    /// This many newline-terminated lines.
    Lines(usize),
}

/// The argument layout of `op`, or `None` when it is no pickle opcode.
fn arg_of(op: u8) -> Option<Arg> {
    use Arg::*;
    Some(match op {
        // Protocol 0 and 1.
        b'(' | b'.' | b'0' | b'1' | b'2' | b'N' | b'Q' | b'R' | b'a' | b'b' | b'd' | b'}'
        | b'e' | b'l' | b']' | b'o' | b's' | b't' | b')' | b'u' => None,
        b'F' | b'I' | b'L' | b'P' | b'S' | b'V' | b'g' | b'p' => Lines(1),
        b'c' | b'i' => Lines(2),
        b'J' | b'j' | b'r' => Fixed(4),
        b'K' | b'h' | b'q' => Fixed(1),
        b'M' => Fixed(2),
        b'G' => Fixed(8),
        b'T' | b'X' | b'B' => Counted(4),
        b'U' | b'C' => Counted(1),
        // Protocol 2.
        0x80 | 0x82 => Fixed(1),
        0x83 => Fixed(2),
        0x84 => Fixed(4),
        0x81 | 0x85..=0x89 => None,
        0x8a => Counted(1),
        0x8b => Counted(4),
        // Protocol 4 and 5.
        0x8c => Counted(1),
        0x8d | 0x8e | 0x96 => Counted(8),
        0x8f..=0x94 | 0x97 | 0x98 => None,
        0x95 => Fixed(8),
        _ => return Option::None,
    })
}

/// Reads one pickle (up to and including its STOP opcode) from `r`, checking every opcode
/// and every announced length against `limit`, the most bytes the pickle can hold (what is
/// left of its file). Returns its bytes, never more than `limit`.
pub(super) fn read_checked(r: &mut impl BufRead, limit: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let room = |out: &Vec<u8>| limit.saturating_sub(out.len() as u64);
    loop {
        let at = out.len();
        let mut op = [0u8; 1];
        r.read_exact(&mut op)
            .map_err(|_| format!("the pickle ends at byte {at} without its STOP opcode"))?;
        out.push(op[0]);
        let arg = arg_of(op[0])
            .ok_or_else(|| format!("byte {at} (0x{:02x}) is not a pickle opcode", op[0]))?;
        let take = |r: &mut dyn Read, n: u64, out: &mut Vec<u8>| -> Result<(), String> {
            let before = out.len() as u64;
            r.take(n)
                .read_to_end(out)
                .map_err(|e| format!("reading the pickle: {e}"))?;
            if out.len() as u64 - before < n {
                return Err(format!(
                    "the pickle ends inside the argument of the opcode at byte {at}"
                ));
            }
            Ok(())
        };
        match arg {
            Arg::None if op[0] == b'.' => return Ok(out),
            Arg::None => {}
            Arg::Fixed(n) => take(r, n as u64, &mut out)?,
            Arg::Counted(n) => {
                take(r, n as u64, &mut out)?;
                let mut len = [0u8; 8];
                len[..n].copy_from_slice(&out[out.len() - n..]);
                let len = u64::from_le_bytes(len);
                if len > room(&out) {
                    return Err(format!(
                        "the opcode at byte {at} announces {len} bytes, but at most {} follow",
                        room(&out)
                    ));
                }
                take(r, len, &mut out)?;
            }
            Arg::Lines(n) => {
                for _ in 0..n {
                    let before = out.len();
                    r.take(room(&out))
                        .read_until(b'\n', &mut out)
                        .map_err(|e| format!("reading the pickle: {e}"))?;
                    if out.len() == before || out.last() != Some(&b'\n') {
                        return Err(format!(
                            "the opcode at byte {at} has no line end within the file"
                        ));
                    }
                }
            }
        }
        if out.len() as u64 > limit {
            return Err(format!("the pickle is longer than its {limit} bytes"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::read_checked;

    #[test]
    fn announced_lengths_must_fit_in_the_file() {
        // PROTO 2, BINUNICODE of 3.7 GB, in a 12-byte input.
        let evil = [
            0x80, 0x02, b'X', 0x05, 0x05, 0x13, 0xe0, b'a', b'b', b'c', b'.', 0,
        ];
        let err = read_checked(&mut &evil[..], evil.len() as u64).unwrap_err();
        assert!(err.contains("announces 3759342853 bytes"), "{err}");
        // A string that fits, then STOP.
        let ok = [0x80, 0x02, 0x8c, 0x03, b'a', b'b', b'c', b'.'];
        assert_eq!(read_checked(&mut &ok[..], 8).unwrap(), ok);
        // Not an opcode; no STOP; a line without its end.
        assert!(read_checked(&mut &[0xff][..], 1)
            .unwrap_err()
            .contains("0xff"));
        assert!(read_checked(&mut &[0x80, 0x02][..], 2)
            .unwrap_err()
            .contains("without its STOP"));
        assert!(read_checked(&mut &b"cos\nsys"[..], 7)
            .unwrap_err()
            .contains("no line end"));
    }
}
