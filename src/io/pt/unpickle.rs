//! A pickle reader that runs no code: the opcodes and globals
//! `torch.load(weights_only=True)` accepts (PyTorch's `torch/_weights_only_unpickler.py`),
//! and of those only the ones a kiln value can hold.
//!
//! Globals are never imported or called: each allowed `module.name` maps to a fixed
//! Rust meaning (see `globals.rs`); every other name is refused with the name, before any
//! later opcode is read. Memory is bounded by the input: every opcode reads at most
//! its bytes' worth, strings are checked against the bytes left before they are
//! copied, and containers hold shared handles (as Python's memo does), so a `BINGET`
//! costs nothing.

use super::globals::{Global, resolve_global};
pub(crate) use super::object::teardown;
use super::object::{DictKind, ListCell, Obj, StorageRef, TensorRef};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// What went wrong, before the file's path is attached.
#[derive(Debug)]
pub(crate) enum PickleError {
    /// Malformed or unsupported pickle bytes.
    Format(String),
    /// A global `torch.load(weights_only=True)` refuses.
    Forbidden(String),
    /// Something PyTorch allows that kiln does not hold.
    Unsupported(String),
}

pub(crate) fn bad<T>(msg: impl Into<String>) -> Result<T, PickleError> {
    Err(PickleError::Format(msg.into()))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                PickleError::Format(format!(
                    "truncated: {n} bytes wanted at offset {}, {} left",
                    self.pos,
                    self.bytes.len() - self.pos
                ))
            })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn line(&mut self) -> Result<&'a str, PickleError> {
        let rest = &self.bytes[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| PickleError::Format("truncated GLOBAL name".into()))?;
        let s = std::str::from_utf8(&rest[..n])
            .map_err(|_| PickleError::Format("a GLOBAL name is not UTF-8".into()))?;
        self.pos += n + 1;
        Ok(s)
    }
}

/// The deepest MARK nesting accepted (Python's own stack would overflow long before).
const MAX_MARKS: usize = 10_000;

/// The unpickler's state, torn down without recursion however it ends.
#[derive(Default)]
struct Machine {
    stack: Vec<Obj>,
    marks: Vec<Vec<Obj>>,
    memo: HashMap<u32, Obj>,
}

impl Machine {
    fn take_all(&mut self) -> Vec<Obj> {
        let stack = std::mem::take(&mut self.stack);
        let marks = std::mem::take(&mut self.marks);
        let memo = std::mem::take(&mut self.memo);
        stack
            .into_iter()
            .chain(marks.into_iter().flatten())
            .chain(memo.into_values())
            .collect()
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        teardown(self.take_all());
    }
}

/// A parsed pickle: the object `STOP` found, and everything else the parse still held
/// (the memo), which may share containers with it. Drop both with [`teardown`] once
/// `root` is no longer needed.
pub(crate) struct Parsed {
    pub root: Obj,
    pub rest: Vec<Obj>,
}

/// Reads one pickle.
pub(crate) fn unpickle(bytes: &[u8]) -> Result<Parsed, PickleError> {
    let mut r = Reader { bytes, pos: 0 };
    let mut m = Machine::default();
    let Machine { stack, marks, memo } = &mut m;
    // Elements REDUCE may copy out of shared (memoised) arguments, in all: without a
    // bound, one large memoised string or tuple passed to many REDUCEs would cost the
    // square of the input's size.
    let mut budget = 8 * bytes.len() + 4096;

    fn pop(stack: &mut Vec<Obj>, op: &str) -> Result<Obj, PickleError> {
        stack
            .pop()
            .ok_or_else(|| PickleError::Format(format!("{op} on an empty stack")))
    }
    fn pop_mark(
        stack: &mut Vec<Obj>,
        marks: &mut Vec<Vec<Obj>>,
        op: &str,
    ) -> Result<Vec<Obj>, PickleError> {
        let outer = marks
            .pop()
            .ok_or_else(|| PickleError::Format(format!("{op} without a MARK")))?;
        Ok(std::mem::replace(stack, outer))
    }
    fn top<'s>(stack: &'s mut [Obj], op: &str) -> Result<&'s mut Obj, PickleError> {
        stack
            .last_mut()
            .ok_or_else(|| PickleError::Format(format!("{op} on an empty stack")))
    }

    loop {
        let op = r.u8()?;
        match op {
            // PROTO
            0x80 => {
                let p = r.u8()?;
                if p > 5 {
                    return bad(format!("pickle protocol {p} is unknown"));
                }
            }
            // STOP
            b'.' => {
                let root = pop(stack, "STOP")?;
                return Ok(Parsed {
                    root,
                    rest: m.take_all(),
                });
            }
            // GLOBAL
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                stack.push(Obj::Global(resolve_global(module, name)?));
            }
            // STACK_GLOBAL: not in PyTorch's list; name the global when we can.
            0x93 => {
                let name = stack.pop();
                let module = stack.pop();
                return match (module, name) {
                    (Some(Obj::Str(m)), Some(Obj::Str(n))) => match resolve_global(&m, &n) {
                        Err(e) => Err(e),
                        Ok(_) => bad("opcode STACK_GLOBAL (pickle protocol 4) is not supported"),
                    },
                    _ => bad("opcode STACK_GLOBAL (pickle protocol 4) is not supported"),
                };
            }
            // REDUCE
            b'R' => {
                let args = pop(stack, "REDUCE")?;
                let func = pop(stack, "REDUCE")?;
                stack.push(reduce(func, args, &mut budget)?);
            }
            // BUILD: only an OrderedDict's attributes (state_dict()._metadata).
            b'b' => {
                let state = pop(stack, "BUILD")?;
                match (top(stack, "BUILD")?, state) {
                    (Obj::Dict(_, DictKind::Ordered), Obj::Dict(..)) => {}
                    (inst, state) => {
                        return Err(PickleError::Unsupported(format!(
                            "BUILD of a {} with a {} state",
                            inst.kind(),
                            state.kind()
                        )));
                    }
                }
            }
            // NEWOBJ: PyTorch allows it for Parameter and user-allowed classes only.
            0x81 => {
                return Err(PickleError::Unsupported(
                    "opcode NEWOBJ (object construction)".into(),
                ));
            }
            // APPEND, APPENDS
            b'a' => {
                let item = pop(stack, "APPEND")?;
                match top(stack, "APPEND")? {
                    Obj::List(l) => l.borrow_mut().push(item),
                    o => return bad(format!("APPEND to a {}", o.kind())),
                }
            }
            b'e' => {
                let items = pop_mark(stack, marks, "APPENDS")?;
                match top(stack, "APPENDS")? {
                    Obj::List(l) => l.borrow_mut().extend(items),
                    o => return bad(format!("APPENDS to a {}", o.kind())),
                }
            }
            // SETITEM, SETITEMS
            b's' => {
                let v = pop(stack, "SETITEM")?;
                let k = pop(stack, "SETITEM")?;
                match top(stack, "SETITEM")? {
                    Obj::Dict(d, _) => d.borrow_mut().set(k, v)?,
                    o => return bad(format!("SETITEM on a {}", o.kind())),
                }
            }
            b'u' => {
                let items = pop_mark(stack, marks, "SETITEMS")?;
                if items.len() % 2 != 0 {
                    return bad("SETITEMS with an odd number of items");
                }
                match top(stack, "SETITEMS")? {
                    Obj::Dict(d, _) => {
                        let mut d = d.borrow_mut();
                        let mut it = items.into_iter();
                        while let (Some(k), Some(v)) = (it.next(), it.next()) {
                            d.set(k, v)?;
                        }
                    }
                    o => return bad(format!("SETITEMS on a {}", o.kind())),
                }
            }
            // MARK
            b'(' => {
                if marks.len() >= MAX_MARKS {
                    return bad("MARKs nested too deeply");
                }
                marks.push(std::mem::take(stack));
            }
            // TUPLE, TUPLE1..3, EMPTY_TUPLE
            b't' => {
                let items = pop_mark(stack, marks, "TUPLE")?;
                stack.push(Obj::tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return bad(format!("TUPLE{n} with {} items on the stack", stack.len()));
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(Obj::tuple(items));
            }
            b')' => stack.push(Obj::tuple(Vec::new())),
            b'N' => stack.push(Obj::None),
            0x88 => stack.push(Obj::Bool(true)),
            0x89 => stack.push(Obj::Bool(false)),
            b']' => stack.push(Obj::List(Rc::default())),
            b'}' => stack.push(Obj::Dict(Rc::default(), DictKind::Plain)),
            // EMPTY_SET: kept as a list (PyTorch allows no ADDITEMS, so it stays empty).
            0x8f => stack.push(Obj::List(Rc::default())),
            // BININT, BININT1, BININT2
            b'J' => stack.push(Obj::Int(r.u32()? as i32 as i64)),
            b'K' => stack.push(Obj::Int(r.u8()? as i64)),
            b'M' => {
                let b = r.take(2)?;
                stack.push(Obj::Int(u16::from_le_bytes([b[0], b[1]]) as i64));
            }
            // LONG1
            0x8a => {
                let n = r.u8()? as usize;
                let b = r.take(n)?;
                stack.push(Obj::Int(decode_long(b)?));
            }
            // BINFLOAT (big-endian)
            b'G' => {
                let b = r.take(8)?;
                stack.push(Obj::Float(f64::from_be_bytes(
                    b.try_into().expect("8 bytes"),
                )));
            }
            // BINUNICODE
            b'X' => {
                let n = r.u32()? as usize;
                let b = r.take(n)?;
                let s = std::str::from_utf8(b)
                    .map_err(|_| PickleError::Format("a string is not UTF-8".into()))?;
                stack.push(Obj::Str(s.into()));
            }
            // SHORT_BINSTRING: bytes (PyTorch's default encoding for them).
            b'U' => {
                let n = r.u8()? as usize;
                stack.push(Obj::Bytes(r.take(n)?.into()));
            }
            // BINPERSID
            b'Q' => {
                let pid = pop(stack, "BINPERSID")?;
                stack.push(Obj::Storage(Rc::new(persistent_storage(&pid)?)));
            }
            // BINGET, LONG_BINGET
            b'h' | b'j' => {
                let i = if op == b'h' { r.u8()? as u32 } else { r.u32()? };
                let v = memo
                    .get(&i)
                    .ok_or_else(|| PickleError::Format(format!("memo {i} was never stored")))?;
                stack.push(v.clone());
            }
            // BINPUT, LONG_BINPUT
            b'q' | b'r' => {
                let i = if op == b'q' { r.u8()? as u32 } else { r.u32()? };
                let v = top(stack, "BINPUT")?.clone();
                memo.insert(i, v);
            }
            other => {
                return bad(format!(
                    "opcode 0x{other:02x} at offset {} is not one torch.load(weights_only=True) accepts",
                    r.pos - 1
                ));
            }
        }
    }
}

fn decode_long(b: &[u8]) -> Result<i64, PickleError> {
    if b.is_empty() {
        return Ok(0);
    }
    let negative = b[b.len() - 1] & 0x80 != 0;
    // Sign-extend to 8 bytes; longer encodings must be pure sign extension.
    let fill = if negative { 0xff } else { 0x00 };
    if b.len() > 8 && b[8..].iter().any(|&x| x != fill) {
        return Err(PickleError::Unsupported(
            "an integer that does not fit in 64 bits".into(),
        ));
    }
    let mut buf = [fill; 8];
    let n = b.len().min(8);
    buf[..n].copy_from_slice(&b[..n]);
    let v = i64::from_le_bytes(buf);
    if b.len() > 8 && ((v < 0) != negative) {
        return Err(PickleError::Unsupported(
            "an integer that does not fit in 64 bits".into(),
        ));
    }
    Ok(v)
}

fn persistent_storage(pid: &Obj) -> Result<StorageRef, PickleError> {
    let Obj::Tuple(t) = pid else {
        return bad(format!("a persistent id is a {}, not a tuple", pid.kind()));
    };
    match t.as_slice() {
        [
            Obj::Str(tag),
            Obj::Global(g),
            Obj::Str(key),
            Obj::Str(_location),
            Obj::Int(n),
        ] if &**tag == "storage" => {
            let Global::Storage(dtype) = g else {
                return bad(format!("persistent storage of type {g:?}"));
            };
            let numel = u64::try_from(*n)
                .map_err(|_| PickleError::Format(format!("storage of {n} elements")))?;
            Ok(StorageRef {
                dtype: *dtype,
                key: key.to_string(),
                numel,
            })
        }
        [Obj::Str(tag), ..] if &**tag != "storage" => bad(format!(
            "only persistent ids of storages are allowed, got '{tag}'"
        )),
        _ => bad("a malformed storage persistent id"),
    }
}

fn uint(o: &Obj, what: &str) -> Result<u64, PickleError> {
    match o {
        Obj::Int(i) if *i >= 0 => Ok(*i as u64),
        o => bad(format!(
            "{what} is {}, not a non-negative int",
            match o {
                Obj::Int(i) => i.to_string(),
                o => o.kind().to_string(),
            }
        )),
    }
}

/// PyTorch's limit on a tensor's dimensions.
const MAX_DIMS: usize = 64;

fn charge(budget: &mut usize, n: usize) -> Result<(), PickleError> {
    *budget = budget
        .checked_sub(n)
        .ok_or_else(|| PickleError::Format("the pickle builds more than its size allows".into()))?;
    Ok(())
}

fn uints(o: &Obj, what: &str) -> Result<Vec<u64>, PickleError> {
    let n = match o {
        Obj::Tuple(t) => t.len(),
        Obj::List(l) => l.borrow().len(),
        _ => 0,
    };
    if n > MAX_DIMS {
        return bad(format!("{what} has {n} dimensions (at most {MAX_DIMS})"));
    }
    match o {
        Obj::Tuple(t) => t.iter().map(|x| uint(x, what)).collect(),
        Obj::List(l) => l.borrow().iter().map(|x| uint(x, what)).collect(),
        o => bad(format!("{what} is a {}, not a tuple", o.kind())),
    }
}

fn reduce(func: Obj, args: Obj, budget: &mut usize) -> Result<Obj, PickleError> {
    let Obj::Global(g) = func else {
        return bad(format!("REDUCE of a {}, not a global", func.kind()));
    };
    let Obj::Tuple(args) = args else {
        return bad(format!(
            "REDUCE arguments are a {}, not a tuple",
            args.kind()
        ));
    };
    let args = args.as_slice();
    // Kinds only: an argument may be huge, deeply nested or contain itself.
    let kinds: Vec<&str> = args.iter().map(Obj::kind).collect();
    let wrong = || PickleError::Format(format!("bad arguments to {g:?}: ({})", kinds.join(", ")));
    Ok(match &g {
        Global::OrderedDict => match args {
            [] => Obj::Dict(Rc::default(), DictKind::Ordered),
            _ => return Err(wrong()),
        },
        Global::RebuildTensorV2 | Global::RebuildTensor => {
            let (storage, offset, size, stride) = match args {
                [Obj::Storage(s), offset, size, stride, ..] => (s, offset, size, stride),
                _ => return Err(wrong()),
            };
            let size = uints(size, "a tensor size")?;
            let stride = uints(stride, "a tensor stride")?;
            if size.len() != stride.len() {
                return bad(format!(
                    "tensor size {size:?} and stride {stride:?} differ in length"
                ));
            }
            Obj::Tensor(Rc::new(TensorRef {
                storage: storage.clone(),
                offset: uint(offset, "a storage offset")?,
                size,
                stride,
            }))
        }
        Global::RebuildParameter | Global::RebuildParameterWithState => match args {
            [t @ Obj::Tensor(_), ..] => t.clone(),
            _ => return Err(wrong()),
        },
        Global::Size => match args {
            [t @ Obj::Tuple(_)] => t.clone(),
            _ => return Err(wrong()),
        },
        Global::Device => match args {
            [s @ Obj::Str(_)] => s.clone(),
            [Obj::Str(s), Obj::Int(i)] => Obj::Str(format!("{s}:{i}").into()),
            _ => return Err(wrong()),
        },
        // bytes pickle as _codecs.encode('\x00...', 'latin1').
        Global::CodecsEncode => match args {
            [Obj::Str(s), Obj::Str(enc)] if &**enc == "latin1" || &**enc == "latin-1" => {
                charge(budget, s.len())?;
                let b: Option<Vec<u8>> = s.chars().map(|c| u8::try_from(c as u32).ok()).collect();
                Obj::Bytes(b.ok_or_else(wrong)?.into())
            }
            _ => return Err(wrong()),
        },
        Global::Set => match args {
            [] => Obj::List(Rc::default()),
            [Obj::List(l)] => {
                charge(budget, l.borrow().len())?;
                Obj::List(Rc::new(ListCell(RefCell::new(l.borrow().clone()))))
            }
            _ => return Err(wrong()),
        },
        Global::ByteArray => match args {
            [] => Obj::Bytes(Rc::from(Vec::<u8>::new())),
            [b @ Obj::Bytes(_)] => b.clone(),
            _ => return Err(wrong()),
        },
        Global::Storage(_) | Global::Dtype(_) => return Err(wrong()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(b: &[u8]) -> i64 {
        decode_long(b).unwrap()
    }

    #[test]
    fn long1_decodes_twos_complement() {
        assert_eq!(int(&[]), 0);
        assert_eq!(int(&[0xff]), -1);
        assert_eq!(int(&[0x00, 0x80]), -32768);
        assert_eq!(int(&[0x00, 0x80, 0x00]), 32768);
        assert_eq!(int(&[0, 0, 0, 0, 0, 0, 0, 0x80]), i64::MIN);
        assert_eq!(int(&[1, 0, 0, 0, 0, 0, 0, 0, 0]), 1);
        assert!(decode_long(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0]).is_err());
        assert!(decode_long(&[0, 0, 0, 0, 0, 0, 0, 0, 1]).is_err());
    }

    #[test]
    fn a_forbidden_global_is_refused_by_name_before_its_arguments() {
        // GLOBAL os.system, then garbage that would fail to parse.
        let e = unpickle(b"\x80\x02cos\nsystem\n\xff\xff").err().unwrap();
        assert!(
            matches!(e, PickleError::Forbidden(ref g) if g == "os.system"),
            "{e:?}"
        );
        let e = unpickle(b"c__builtin__\neval\n").err().unwrap();
        assert!(
            matches!(e, PickleError::Forbidden(ref g) if g == "builtins.eval"),
            "{e:?}"
        );
        // Protocol 4 spells it STACK_GLOBAL, which PyTorch refuses; the name is still given.
        let e = unpickle(b"\x80\x04X\x02\0\0\0osX\x06\0\0\0system\x93")
            .err()
            .unwrap();
        assert!(
            matches!(e, PickleError::Forbidden(ref g) if g == "os.system"),
            "{e:?}"
        );
    }

    #[test]
    fn allowed_but_unsupported_globals_say_so() {
        let e = unpickle(b"ctorch._utils\n_rebuild_qtensor\n")
            .err()
            .unwrap();
        assert!(matches!(e, PickleError::Unsupported(_)), "{e:?}");
        let e = unpickle(b"ctorch\nComplexFloatStorage\n").err().unwrap();
        assert!(matches!(e, PickleError::Unsupported(_)), "{e:?}");
    }

    #[test]
    fn dict_keys_compare_as_python_compares_them() {
        // {1: 'a', True: 'b', 1.0: 'c'} is {1: 'c'} in Python.
        let p = b"}(K\x01X\x01\0\0\0a\x88X\x01\0\0\0bG\x3f\xf0\0\0\0\0\0\0X\x01\0\0\0cu.";
        let Obj::Dict(d, _) = unpickle(p).unwrap().root else {
            panic!("not a dict")
        };
        let d = d.borrow();
        assert_eq!(d.items.len(), 1);
        assert!(matches!(&d.items[0].1, Obj::Str(s) if &**s == "c"));
    }
}
