//! A data-only pickle machine for every pickle protocol (0 to 5), bounded in what it builds.
//!
//! Python's unpickler runs the opcodes on a stack; this one does the same without calling
//! anything: a class (`GLOBAL`, `STACK_GLOBAL`) is kept as its name, a call (`REDUCE`,
//! `NEWOBJ`, `BUILD`) as the callable and its arguments, for [`super::check_object`] to judge
//! and [`super::rebuild`] to read. Objects live in an arena and refer to each other by index,
//! so the memo holds references as Python's does (a `GET` costs nothing) and building never
//! recurses. The result is then copied out into candle's [`Object`] tree, which is where the
//! bounds apply:
//!
//! - the tree may be at most [`MAX_DEPTH`] levels deep (a pickle nesting 200,000 lists, or a
//!   list that contains itself, is refused with that number instead of overflowing the
//!   stack);
//! - it may hold at most [`MAX_TREE_BYTES`] (objects counted at 64 bytes each, plus their
//!   text), so an object fetched from the memo a million times cannot multiply memory;
//! - the arena may hold at most [`MAX_OBJECTS`] objects.
//!
//! Every length an opcode announces is checked against the bytes that are left before
//! anything is allocated. Out-of-band buffers (protocol 5's `NEXT_BUFFER`) and the copyreg
//! extension registry (`EXT1/2/4`) are refused: `torch.save` writes neither.

use std::collections::HashMap;

use candle_core::pickle::Object;

/// The deepest a pickle's object may nest (containers, calls and persistent ids count one
/// level each); a state dict nests about 6.
pub const MAX_DEPTH: usize = 1000;

/// The most objects one pickle may create (a state dict of 1,000 tensors creates ~20,000).
pub const MAX_OBJECTS: usize = 1 << 20;

/// The most memory the object a pickle describes may take once shared parts are copied
/// (64 bytes per object, at least what candle's `Object` takes, plus its text): 64 MiB. A
/// state dict of 1,000 tensors takes about 1.3 MiB.
pub const MAX_TREE_BYTES: u64 = 64 << 20;

/// The cost of one object in [`MAX_TREE_BYTES`].
const OBJECT_BYTES: u64 = 64;

/// An object in the arena: leaves hold their value, containers and calls the indices of
/// their parts.
enum Node {
    /// Boxed, so that a node takes 32 bytes (the arena of [`MAX_OBJECTS`] stays at 32 MiB).
    Leaf(Box<Object>),
    List(Vec<u32>),
    Tuple(Vec<u32>),
    Dict(Vec<(u32, u32)>),
    Reduce(u32, u32),
    Build(u32, u32),
    Persistent(u32),
}

struct Machine<'a> {
    bytes: &'a [u8],
    at: usize,
    nodes: Vec<Node>,
    stack: Vec<u32>,
    /// Stack lengths at each MARK (Python's metastack).
    marks: Vec<usize>,
    memo: HashMap<u64, u32>,
}

type R<T> = Result<T, String>;

/// Runs the pickle in `bytes` (up to its STOP) and returns the object it leaves, within the
/// bounds of the module documentation.
pub(super) fn load(bytes: &[u8]) -> R<Object> {
    let mut m = Machine {
        bytes,
        at: 0,
        nodes: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    let root = m.run()?;
    let mut budget = MAX_TREE_BYTES;
    m.object(root, 1, &mut budget)
}

fn int(v: i64) -> Object {
    match i32::try_from(v) {
        Ok(v) => Object::Int(v),
        Err(_) => Object::Long(v),
    }
}

/// A little-endian two's complement integer of any width (LONG1, LONG4); beyond 64 bits it
/// is kept as a float (a tensor size never is one, so such a value is never read as one).
fn long(bytes: &[u8]) -> Object {
    if bytes.is_empty() {
        return Object::Long(0);
    }
    if bytes.len() <= 8 {
        let negative = bytes[bytes.len() - 1] & 0x80 != 0;
        let mut b = [if negative { 0xff } else { 0 }; 8];
        b[..bytes.len()].copy_from_slice(bytes);
        return Object::Long(i64::from_le_bytes(b));
    }
    let negative = bytes[bytes.len() - 1] & 0x80 != 0;
    let mut v = 0f64;
    for &b in bytes.iter().rev() {
        v = v * 256.0 + f64::from(if negative { !b } else { b });
    }
    Object::Float(if negative { -(v + 1.0) } else { v })
}

/// Text from bytes: UTF-8 where valid, else Latin-1 (Python 2 strings).
fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// The text of a protocol 0 `STRING` argument (`'abc'` with Python escapes) or `UNICODE`
/// one (raw-unicode-escape): quotes stripped, `\xNN`, `\uNNNN`, `\UNNNNNNNN` and the
/// one-letter escapes decoded.
fn unescape(line: &[u8], quoted: bool) -> R<String> {
    let body = if quoted {
        match line {
            [q, body @ .., e] if (*q == b'\'' || *q == b'"') && q == e => body,
            _ => return Err("a STRING opcode's argument is not quoted".into()),
        }
    } else {
        line
    };
    let mut out = String::new();
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        i += 1;
        if c != b'\\' || i >= body.len() {
            out.push(char::from(c));
            continue;
        }
        let e = body[i];
        i += 1;
        let hex = |n: usize, i: &mut usize| -> R<char> {
            let digits = body
                .get(*i..*i + n)
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| u32::from_str_radix(d, 16).ok())
                .and_then(char::from_u32)
                .ok_or("a bad escape in a protocol 0 string")?;
            *i += n;
            Ok(digits)
        };
        let decoded = match e {
            b'x' if quoted => hex(2, &mut i)?,
            b'u' if !quoted => hex(4, &mut i)?,
            b'U' if !quoted => hex(8, &mut i)?,
            b'n' if quoted => '\n',
            b't' if quoted => '\t',
            b'r' if quoted => '\r',
            b'\\' | b'\'' | b'"' if quoted => char::from(e),
            other => {
                out.push('\\');
                char::from(other)
            }
        };
        out.push(decoded);
    }
    Ok(out)
}

impl Machine<'_> {
    fn take(&mut self, n: u64) -> R<&[u8]> {
        let start = self.at;
        let n = usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.bytes.len() - start)
            .ok_or_else(|| {
                format!(
                    "the opcode before byte {start} announces {n} bytes, but {} are left",
                    self.bytes.len() - start
                )
            })?;
        self.at += n;
        Ok(&self.bytes[start..start + n])
    }

    fn fixed<const N: usize>(&mut self) -> R<[u8; N]> {
        let b = self.take(N as u64)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// A length-prefixed argument: an `N`-byte little-endian length, then that many bytes.
    fn counted<const N: usize>(&mut self) -> R<&[u8]> {
        let len = self.fixed::<N>()?;
        let mut b = [0u8; 8];
        b[..N].copy_from_slice(&len);
        self.take(u64::from_le_bytes(b))
    }

    fn line(&mut self) -> R<&[u8]> {
        let rest = &self.bytes[self.at..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| format!("the opcode before byte {} has no line end", self.at))?;
        self.at += end + 1;
        let line = &rest[..end];
        Ok(line.strip_suffix(b"\r").unwrap_or(line))
    }

    fn line_number<T: std::str::FromStr>(&mut self, what: &str) -> R<T> {
        let at = self.at;
        let line = self.line()?;
        std::str::from_utf8(line)
            .ok()
            .map(|s| s.trim().trim_end_matches('L'))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("the {what} at byte {at} is not a number"))
    }

    fn node(&mut self, n: Node) -> R<u32> {
        if self.nodes.len() >= MAX_OBJECTS {
            return Err(format!(
                "the pickle creates more than {MAX_OBJECTS} objects (the most this reader builds)"
            ));
        }
        self.nodes.push(n);
        Ok((self.nodes.len() - 1) as u32)
    }

    fn push(&mut self, n: Node) -> R<()> {
        let id = self.node(n)?;
        self.stack.push(id);
        Ok(())
    }

    fn leaf(&mut self, o: Object) -> R<()> {
        self.push(Node::Leaf(Box::new(o)))
    }

    fn pop(&mut self) -> R<u32> {
        if self.marks.last().is_some_and(|m| *m >= self.stack.len()) {
            return Err("an opcode pops past a MARK".into());
        }
        self.stack
            .pop()
            .ok_or_else(|| "an opcode pops from an empty stack".into())
    }

    fn top(&self) -> R<u32> {
        self.stack
            .last()
            .copied()
            .ok_or_else(|| "an opcode reads an empty stack".into())
    }

    fn pop_mark(&mut self) -> R<Vec<u32>> {
        let mark = self
            .marks
            .pop()
            .ok_or("an opcode needs a MARK that is not there")?;
        Ok(self.stack.split_off(mark.min(self.stack.len())))
    }

    fn memo_get(&mut self, key: u64) -> R<()> {
        let id = *self
            .memo
            .get(&key)
            .ok_or_else(|| format!("memo entry {key} is read before it is written"))?;
        self.stack.push(id);
        Ok(())
    }

    fn memo_put(&mut self, key: u64) -> R<()> {
        let id = self.top()?;
        self.memo.insert(key, id);
        Ok(())
    }

    fn class(&mut self, module: String, name: String) -> R<()> {
        self.leaf(Object::Class {
            module_name: module,
            class_name: name,
        })
    }

    /// Appends `items` to the list at the stack's top (or, for another object, records them
    /// as its state, so every class it names is still seen).
    fn extend_list(&mut self, items: Vec<u32>) -> R<()> {
        let target = self.top()?;
        if let Node::List(v) = &mut self.nodes[target as usize] {
            v.extend(items);
            return Ok(());
        }
        let list = self.node(Node::List(items))?;
        let built = self.node(Node::Build(target, list))?;
        *self.stack.last_mut().ok_or("an empty stack")? = built;
        Ok(())
    }

    fn extend_dict(&mut self, items: Vec<u32>) -> R<()> {
        if !items.len().is_multiple_of(2) {
            return Err("SETITEMS with a key but no value".into());
        }
        let pairs: Vec<(u32, u32)> = items.chunks(2).map(|p| (p[0], p[1])).collect();
        let target = self.top()?;
        if let Node::Dict(v) = &mut self.nodes[target as usize] {
            v.extend(pairs);
            return Ok(());
        }
        let dict = self.node(Node::Dict(pairs))?;
        let built = self.node(Node::Build(target, dict))?;
        *self.stack.last_mut().ok_or("an empty stack")? = built;
        Ok(())
    }

    fn is_class(&self, id: u32, module: &str, names: &[&str]) -> bool {
        matches!(&self.nodes[id as usize], Node::Leaf(o) if matches!(o.as_ref(),
            Object::Class { module_name, class_name }
            if module_name == module && names.contains(&class_name.as_str())))
    }

    fn unicode(&self, id: u32) -> Option<String> {
        match &self.nodes[id as usize] {
            Node::Leaf(o) => match o.as_ref() {
                Object::Unicode(s) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    /// Runs opcodes up to STOP; returns the index of the object left on the stack.
    fn run(&mut self) -> R<u32> {
        loop {
            let at = self.at;
            let op = *self
                .bytes
                .get(at)
                .ok_or_else(|| format!("the pickle ends at byte {at} without its STOP opcode"))?;
            self.at += 1;
            if op == b'.' {
                return self.pop();
            }
            self.step(op)
                .map_err(|why| format!("opcode 0x{op:02x} at byte {at}: {why}"))?;
        }
    }

    fn step(&mut self, op: u8) -> R<()> {
        match op {
            // Framing and protocol.
            0x80 => {
                let [v] = self.fixed::<1>()?;
                if v > 5 {
                    return Err(format!(
                        "pickle protocol {v} is newer than 5, the newest this reader knows"
                    ));
                }
            }
            0x95 => {
                self.fixed::<8>()?;
            }
            b'(' => self.marks.push(self.stack.len()),
            b'0' => {
                self.pop()?;
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let top = self.top()?;
                self.stack.push(top);
            }
            // Memo.
            b'q' => {
                let [k] = self.fixed::<1>()?;
                self.memo_put(u64::from(k))?
            }
            b'r' => {
                let k = u32::from_le_bytes(self.fixed()?);
                self.memo_put(u64::from(k))?
            }
            b'p' => {
                let k = self.line_number("PUT index")?;
                self.memo_put(k)?
            }
            0x94 => {
                let k = self.memo.len() as u64;
                self.memo_put(k)?
            }
            b'h' => {
                let [k] = self.fixed::<1>()?;
                self.memo_get(u64::from(k))?
            }
            b'j' => {
                let k = u32::from_le_bytes(self.fixed()?);
                self.memo_get(u64::from(k))?
            }
            b'g' => {
                let k = self.line_number("GET index")?;
                self.memo_get(k)?
            }
            _ => return self.step_value(op),
        }
        Ok(())
    }

    fn step_value(&mut self, op: u8) -> R<()> {
        match op {
            b'N' => self.leaf(Object::None),
            0x88 => self.leaf(Object::Bool(true)),
            0x89 => self.leaf(Object::Bool(false)),
            b'J' => {
                let v = i32::from_le_bytes(self.fixed()?);
                self.leaf(Object::Int(v))
            }
            b'K' => {
                let [v] = self.fixed::<1>()?;
                self.leaf(Object::Int(i32::from(v)))
            }
            b'M' => {
                let v = u16::from_le_bytes(self.fixed()?);
                self.leaf(Object::Int(i32::from(v)))
            }
            b'I' => {
                let line = self.line()?;
                let o = match line {
                    b"01" => Object::Bool(true),
                    b"00" => Object::Bool(false),
                    _ => int(std::str::from_utf8(line)
                        .ok()
                        .and_then(|s| s.trim().parse().ok())
                        .ok_or("an INT that is not a 64-bit integer")?),
                };
                self.leaf(o)
            }
            b'L' => {
                let v: i64 = self.line_number("LONG")?;
                self.leaf(int(v))
            }
            0x8a => {
                let o = long(self.counted::<1>()?);
                self.leaf(o)
            }
            0x8b => {
                let o = long(self.counted::<4>()?);
                self.leaf(o)
            }
            b'G' => {
                let v = f64::from_be_bytes(self.fixed()?);
                self.leaf(Object::Float(v))
            }
            b'F' => {
                let v: f64 = self.line_number("FLOAT")?;
                self.leaf(Object::Float(v))
            }
            // Text, and bytes (kept as text: a state dict's tensors never are bytes).
            b'X' | b'T' | b'B' => {
                let s = text(self.counted::<4>()?);
                self.leaf(Object::Unicode(s))
            }
            0x8c | b'U' | b'C' => {
                let s = text(self.counted::<1>()?);
                self.leaf(Object::Unicode(s))
            }
            0x8d | 0x8e | 0x96 => {
                let s = text(self.counted::<8>()?);
                self.leaf(Object::Unicode(s))
            }
            b'S' => {
                let s = unescape(self.line()?, true)?;
                self.leaf(Object::Unicode(s))
            }
            b'V' => {
                let s = unescape(self.line()?, false)?;
                self.leaf(Object::Unicode(s))
            }
            _ => self.step_container(op),
        }
    }

    fn step_container(&mut self, op: u8) -> R<()> {
        match op {
            b']' => self.push(Node::List(Vec::new())),
            b')' => self.push(Node::Tuple(Vec::new())),
            b'}' => self.push(Node::Dict(Vec::new())),
            0x8f => self.push(Node::List(Vec::new())),
            b'l' | 0x91 => {
                let items = self.pop_mark()?;
                self.push(Node::List(items))
            }
            b't' => {
                let items = self.pop_mark()?;
                self.push(Node::Tuple(items))
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                if self.stack.len() < n + self.marks.last().copied().unwrap_or(0) {
                    return Err(format!("TUPLE{n} with fewer than {n} items"));
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.push(Node::Tuple(items))
            }
            b'd' => {
                let items = self.pop_mark()?;
                self.push(Node::Dict(Vec::new()))?;
                self.extend_dict(items)
            }
            b'a' => {
                let v = self.pop()?;
                self.extend_list(vec![v])
            }
            b'e' | 0x90 => {
                let items = self.pop_mark()?;
                self.extend_list(items)
            }
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                self.extend_dict(vec![k, v])
            }
            b'u' => {
                let items = self.pop_mark()?;
                self.extend_dict(items)
            }
            _ => self.step_call(op),
        }
    }

    fn step_call(&mut self, op: u8) -> R<()> {
        match op {
            b'c' => {
                let module = text(self.line()?);
                let name = text(self.line()?);
                self.class(module, name)
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                match (self.unicode(module), self.unicode(name)) {
                    (Some(m), Some(n)) => self.class(m, n),
                    _ => Err("STACK_GLOBAL on values that are not strings".into()),
                }
            }
            b'R' | 0x81 => {
                let args = self.pop()?;
                let callable = self.pop()?;
                if op == b'R'
                    && self.is_class(callable, "collections", &["OrderedDict", "defaultdict"])
                {
                    return self.push(Node::Dict(Vec::new()));
                }
                self.push(Node::Reduce(callable, args))
            }
            0x92 => {
                let _kwargs = self.pop()?;
                let args = self.pop()?;
                let class = self.pop()?;
                self.push(Node::Reduce(class, args))
            }
            b'i' => {
                let module = text(self.line()?);
                let name = text(self.line()?);
                let items = self.pop_mark()?;
                let class = self.node(Node::Leaf(Box::new(Object::Class {
                    module_name: module,
                    class_name: name,
                })))?;
                let args = self.node(Node::Tuple(items))?;
                self.push(Node::Reduce(class, args))
            }
            b'o' => {
                let mut items = self.pop_mark()?;
                if items.is_empty() {
                    return Err("OBJ without a class".into());
                }
                let class = items.remove(0);
                let args = self.node(Node::Tuple(items))?;
                self.push(Node::Reduce(class, args))
            }
            b'b' => {
                let state = self.pop()?;
                let obj = self.top()?;
                if let Node::Dict(extra) = &self.nodes[state as usize] {
                    let extra = extra.clone();
                    if let Node::Dict(pairs) = &mut self.nodes[obj as usize] {
                        pairs.extend(extra);
                        return Ok(());
                    }
                }
                let built = self.node(Node::Build(obj, state))?;
                *self.stack.last_mut().ok_or("an empty stack")? = built;
                Ok(())
            }
            b'Q' => {
                let id = self.pop()?;
                self.push(Node::Persistent(id))
            }
            b'P' => {
                let id = text(self.line()?);
                let id = self.node(Node::Leaf(Box::new(Object::Unicode(id))))?;
                self.push(Node::Persistent(id))
            }
            0x98 => self.top().map(|_| ()),
            0x97 => Err("an out-of-band buffer (pickle protocol 5): torch.save writes none".into()),
            0x82..=0x84 => {
                Err("a copyreg extension code: torch.save writes none, so it is not read".into())
            }
            _ => Err("not a pickle opcode".into()),
        }
    }

    /// The object at `id` as candle's tree, `depth` levels down, charged to `budget`.
    fn object(&self, id: u32, depth: usize, budget: &mut u64) -> R<Object> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "it nests deeper than {MAX_DEPTH} levels (the most this reader follows; a state dict nests about 6)"
            ));
        }
        let cost = match &self.nodes[id as usize] {
            Node::Leaf(o) => match o.as_ref() {
                Object::Unicode(s) => OBJECT_BYTES + s.len() as u64,
                Object::Class {
                    module_name,
                    class_name,
                } => OBJECT_BYTES + (module_name.len() + class_name.len()) as u64,
                _ => OBJECT_BYTES,
            },
            Node::List(v) | Node::Tuple(v) => OBJECT_BYTES * (1 + v.len() as u64),
            Node::Dict(v) => OBJECT_BYTES * (1 + 2 * v.len() as u64),
            _ => OBJECT_BYTES,
        };
        *budget = budget.checked_sub(cost).ok_or_else(|| {
            format!(
                "the object it describes would take more than {} MiB (objects fetched from the memo are copied at each use)",
                MAX_TREE_BYTES >> 20
            )
        })?;
        let sub = |i: u32, budget: &mut u64| self.object(i, depth + 1, budget);
        let many = |v: &[u32], budget: &mut u64| -> R<Vec<Object>> {
            v.iter().map(|&i| sub(i, budget)).collect()
        };
        Ok(match &self.nodes[id as usize] {
            Node::Leaf(o) => o.as_ref().clone(),
            Node::List(v) => Object::List(many(v, budget)?),
            Node::Tuple(v) => Object::Tuple(many(v, budget)?),
            Node::Dict(v) => Object::Dict(
                v.iter()
                    .map(|&(k, x)| Ok((sub(k, budget)?, sub(x, budget)?)))
                    .collect::<R<_>>()?,
            ),
            Node::Reduce(c, a) => Object::Reduce {
                callable: Box::new(sub(*c, budget)?),
                args: Box::new(sub(*a, budget)?),
            },
            Node::Build(c, a) => Object::Build {
                callable: Box::new(sub(*c, budget)?),
                args: Box::new(sub(*a, budget)?),
            },
            Node::Persistent(i) => Object::PersistentLoad(Box::new(sub(*i, budget)?)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` nested lists, `]` then `a` (APPEND) n - 1 times, protocol 2.
    fn nested(n: usize) -> Vec<u8> {
        let mut b = vec![0x80, 0x02];
        b.extend(std::iter::repeat_n(b']', n));
        b.extend(std::iter::repeat_n(b'a', n - 1));
        b.push(b'.');
        b
    }

    #[test]
    fn nesting_is_bounded_without_recursion_while_building() {
        assert!(load(&nested(MAX_DEPTH)).is_ok());
        let err = load(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(err.contains("deeper than 1000 levels"), "{err}");
        // 200,000 levels: refused, no stack overflow.
        let err = load(&nested(200_000)).unwrap_err();
        assert!(err.contains("deeper than 1000"), "{err}");
        // A list that contains itself: ] MEMOIZE GET(0) APPEND .
        let err = load(&[0x80, 0x04, b']', 0x94, b'h', 0, b'a', b'.']).unwrap_err();
        assert!(err.contains("deeper than"), "{err}");
    }

    #[test]
    fn shared_objects_cannot_multiply_memory() {
        // l0 = [] ; then 40 times: l_{k+1} = [l_k, l_k] (memo refs): 2^40 leaves if copied.
        let mut b = vec![0x80, 0x02, b']', b'q', 0];
        for k in 0..40u8 {
            b.extend([b'(', b'h', k, b'h', k, b'l', b'q', k + 1]);
        }
        b.push(b'.');
        let err = load(&b).unwrap_err();
        assert!(err.contains("more than 64 MiB"), "{err}");
    }

    #[test]
    fn protocol_4_and_5_opcodes_are_read() {
        // PROTO 4, FRAME, SHORT_BINUNICODE 'torch', MEMOIZE, SHORT_BINUNICODE 'Tensor',
        // MEMOIZE, STACK_GLOBAL, MEMOIZE, BINGET 0, TUPLE2, STOP.
        let mut b = vec![0x80, 0x04, 0x95];
        b.extend(20u64.to_le_bytes());
        b.extend([0x8c, 5]);
        b.extend(b"torch");
        b.extend([0x94, 0x8c, 6]);
        b.extend(b"Tensor");
        b.extend([0x94, 0x93, 0x94, b'h', 0, 0x86, b'.']);
        let got = load(&b).unwrap();
        assert_eq!(
            got,
            Object::Tuple(vec![
                Object::Class {
                    module_name: "torch".into(),
                    class_name: "Tensor".into()
                },
                Object::Unicode("torch".into())
            ])
        );
        assert!(load(&[0x80, 0x05, 0x97, b'.'])
            .unwrap_err()
            .contains("out-of-band"));
        assert!(load(&[0x80, 0x06, b'N', b'.'])
            .unwrap_err()
            .contains("protocol 6"));
        // A length past the end, a pop from an empty stack, a missing memo entry.
        assert!(load(&[0x8c, 9, b'a', b'.'])
            .unwrap_err()
            .contains("announces 9 bytes"));
        assert!(load(b"a.").unwrap_err().contains("empty stack"));
        assert!(load(&[b'h', 3, b'.']).unwrap_err().contains("memo entry 3"));
        assert_eq!(long(&[0xff]), Object::Long(-1));
        assert_eq!(load(b"I01\n.").unwrap(), Object::Bool(true));
        assert_eq!(load(b"S'a\\x41'\n.").unwrap(), Object::Unicode("aA".into()));
    }
}
