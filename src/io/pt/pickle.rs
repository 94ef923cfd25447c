//! A pickle writer for [`PtValue`]s, protocol 2 as `torch.save` writes it, using only
//! opcodes and globals `torch.load(weights_only=True)` accepts.
//!
//! Tensors become `torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False,
//! OrderedDict())` over a persistent storage id `('storage', torch.FloatStorage, key,
//! 'cpu', numel)`, one contiguous storage per tensor object (a tensor that appears twice
//! is written once and referenced twice, so tied weights stay tied in PyTorch).

use super::value::PtValue;
use crate::tensor::{DType, Tensor};

/// Encodes `value`; returns the pickle and the storages (`key`, little-endian bytes).
pub(crate) fn pickle(value: &PtValue) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let mut p = Pickler {
        out: vec![0x80, 2],
        storages: Vec::new(),
        written: Vec::new(),
    };
    p.value(value);
    p.out.push(b'.');
    (p.out, p.storages)
}

struct Pickler {
    out: Vec<u8>,
    storages: Vec<(String, Vec<u8>)>,
    written: Vec<(Tensor, usize)>,
}

fn storage_class(d: DType) -> &'static str {
    match d {
        DType::F32 => "FloatStorage",
        DType::F64 => "DoubleStorage",
        DType::I64 => "LongStorage",
        DType::U8 => "ByteStorage",
        DType::Bool => "BoolStorage",
    }
}

impl Pickler {
    fn global(&mut self, module: &str, name: &str) {
        self.out.push(b'c');
        self.out.extend_from_slice(module.as_bytes());
        self.out.push(b'\n');
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'\n');
    }

    fn str(&mut self, s: &str) {
        self.out.push(b'X');
        self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
    }

    fn int(&mut self, v: i64) {
        if (0..256).contains(&v) {
            self.out.extend_from_slice(&[b'K', v as u8]);
        } else if (0..65536).contains(&v) {
            self.out.push(b'M');
            self.out.extend_from_slice(&(v as u16).to_le_bytes());
        } else if i32::try_from(v).is_ok() {
            self.out.push(b'J');
            self.out.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            // LONG1: the shortest little-endian two's complement.
            let b = v.to_le_bytes();
            let mut n = 8;
            while n > 1 {
                let (last, prev) = (b[n - 1], b[n - 2]);
                if (last == 0 && prev & 0x80 == 0) || (last == 0xff && prev & 0x80 != 0) {
                    n -= 1;
                } else {
                    break;
                }
            }
            self.out.extend_from_slice(&[0x8a, n as u8]);
            self.out.extend_from_slice(&b[..n]);
        }
    }

    fn tuple_of(&mut self, items: &[usize]) {
        match items.len() {
            0 => self.out.push(b')'),
            n @ 1..=3 => {
                for &i in items {
                    self.int(i as i64);
                }
                self.out.push(0x84 + n as u8);
            }
            _ => {
                self.out.push(b'(');
                for &i in items {
                    self.int(i as i64);
                }
                self.out.push(b't');
            }
        }
    }

    fn items(&mut self, items: &[(PtValue, PtValue)]) {
        if items.is_empty() {
            return;
        }
        self.out.push(b'(');
        for (k, v) in items {
            self.value(k);
            self.value(v);
        }
        self.out.push(b'u');
    }

    fn tensor(&mut self, t: &Tensor) {
        let key = match self.written.iter().find(|(w, _)| w.same_tensor(t)) {
            Some(&(_, k)) => k,
            None => {
                let k = self.storages.len();
                self.storages
                    .push((k.to_string(), crate::io::safetensors_file::le_bytes(t)));
                self.written.push((t.shallow_clone(), k));
                k
            }
        };
        let size = t.size();
        let stride = crate::tensor::layout::contiguous_strides(&size);
        self.global("torch._utils", "_rebuild_tensor_v2");
        self.out.push(b'(');
        self.out.push(b'(');
        self.str("storage");
        self.global("torch", storage_class(t.dtype()));
        self.str(&key.to_string());
        self.str("cpu");
        self.int(t.numel() as i64);
        self.out.push(b't');
        self.out.push(b'Q');
        self.int(0);
        self.tuple_of(&size);
        self.tuple_of(&stride);
        self.out.push(0x89);
        self.global("collections", "OrderedDict");
        self.out.extend_from_slice(b")R");
        self.out.extend_from_slice(b"tR");
    }

    fn value(&mut self, v: &PtValue) {
        match v {
            PtValue::None => self.out.push(b'N'),
            PtValue::Bool(b) => self.out.push(if *b { 0x88 } else { 0x89 }),
            PtValue::Int(i) => self.int(*i),
            PtValue::Float(f) => {
                self.out.push(b'G');
                self.out.extend_from_slice(&f.to_be_bytes());
            }
            PtValue::Str(s) => self.str(s),
            PtValue::Bytes(b) => {
                // As Python pickles bytes at protocol 2.
                self.global("_codecs", "encode");
                let latin1: String = b.iter().map(|&c| c as char).collect();
                self.str(&latin1);
                self.str("latin1");
                self.out.extend_from_slice(&[0x86, b'R']);
            }
            PtValue::List(items) => {
                self.out.push(b']');
                if !items.is_empty() {
                    self.out.push(b'(');
                    for x in items {
                        self.value(x);
                    }
                    self.out.push(b'e');
                }
            }
            PtValue::Tuple(items) => {
                self.out.push(b'(');
                for x in items {
                    self.value(x);
                }
                self.out.push(b't');
            }
            PtValue::Dict(items) => {
                self.out.push(b'}');
                self.items(items);
            }
            PtValue::OrderedDict(items) => {
                self.global("collections", "OrderedDict");
                self.out.extend_from_slice(b")R");
                self.items(items);
            }
            PtValue::Tensor(t) => self.tensor(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::pt::object::Obj;
    use crate::io::pt::unpickle::unpickle;

    #[test]
    fn ints_take_the_shortest_opcode_and_read_back() {
        for v in [
            0,
            255,
            256,
            65535,
            65536,
            -1,
            -128,
            -129,
            i32::MAX as i64,
            i32::MIN as i64,
            1 << 31,
            -(1 << 40),
            i64::MAX,
            i64::MIN,
        ] {
            let (p, _) = pickle(&PtValue::Int(v));
            match unpickle(&p).unwrap().root {
                Obj::Int(got) => assert_eq!(got, v),
                other => panic!("{v}: {other:?}"),
            }
        }
        assert_eq!(pickle(&PtValue::Int(7)).0, [0x80, 2, b'K', 7, b'.']);
        assert_eq!(
            pickle(&PtValue::Int(-1)).0,
            [0x80, 2, b'J', 0xff, 0xff, 0xff, 0xff, b'.']
        );
        assert_eq!(pickle(&PtValue::Int(1 << 31)).0[2..4], [0x8a, 5]);
    }

    #[test]
    fn a_tensor_seen_twice_is_one_storage() {
        let t = Tensor::from_vec(vec![1.0f32, 2.0], &[2]);
        let v = PtValue::List(vec![PtValue::Tensor(t.shallow_clone()), PtValue::Tensor(t)]);
        let (_, storages) = pickle(&v);
        assert_eq!(storages.len(), 1);
    }
}
