//! From unpickled objects to [`PtValue`]s: storages read from the archive, tensors
//! gathered from them through their offset, size and stride, dtypes converted to the
//! ones kiln holds.
//!
//! | PyTorch | kiln |
//! | --- | --- |
//! | float32, float64 | F32, F64 |
//! | float16, bfloat16 | F32 (exact: every value widens without rounding) |
//! | int64, int32, int16, int8 | I64 |
//! | uint8, bool | U8, Bool |
//!
//! Every other dtype (complex, float8, uint16/32/64, quantized) is an
//! [`crate::io::IoError::UnsupportedDtype`].

use super::globals::{Global, StorageDtype};
use super::object::{DictKind, Obj, StorageRef, TensorRef, dict_items};
use super::value::PtValue;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::rc::Rc;

/// Why a value could not be rebuilt.
#[derive(Debug)]
pub(crate) enum RebuildError {
    Format(String),
    Io(crate::io::IoError),
}

fn bad<T>(msg: impl Into<String>) -> Result<T, RebuildError> {
    Err(RebuildError::Format(msg.into()))
}

/// Returns the bytes of storage record `data/<key>`, exactly `len` of them.
pub(crate) type LoadStorage<'a> = dyn FnMut(&str, u64) -> Result<Vec<u8>, RebuildError> + 'a;

/// The deepest value nesting accepted (cycles end here too).
const MAX_DEPTH: usize = 200;

/// Rebuilds values, reading each storage once.
pub(crate) struct Rebuilder<'a> {
    /// Returns the bytes of `data/<key>`, exactly `len` of them.
    pub load: &'a mut LoadStorage<'a>,
    /// Byte order of the storages.
    pub big_endian: bool,
    /// Elements the tensors may still materialise (bounded by the file's size, so a
    /// broadcast view of 10^12 elements in a small file is an error, not an allocation).
    pub element_budget: u64,
    /// Values the tree may still hold (memo references can make a tree exponentially
    /// larger than its pickle).
    pub node_budget: u64,
    storages: HashMap<String, (StorageDtype, Rc<Vec<u8>>)>,
    tensors: HashMap<*const TensorRef, Tensor>,
}

impl<'a> Rebuilder<'a> {
    /// A rebuilder over an archive of `file_len` bytes.
    pub(crate) fn new(load: &'a mut LoadStorage<'a>, big_endian: bool, file_len: usize) -> Self {
        let budget = 8 * file_len as u64 + 4096;
        Rebuilder {
            load,
            big_endian,
            element_budget: budget,
            node_budget: budget,
            storages: HashMap::new(),
            tensors: HashMap::new(),
        }
    }

    /// Converts `o` and everything under it.
    pub(crate) fn value(&mut self, o: &Obj, depth: usize) -> Result<PtValue, RebuildError> {
        if depth > MAX_DEPTH {
            return bad(format!(
                "values nested deeper than {MAX_DEPTH} (or a cycle)"
            ));
        }
        if self.node_budget == 0 {
            return bad("the pickle expands to more values than its size allows");
        }
        self.node_budget -= 1;
        let seq = |me: &mut Self, items: &[Obj]| -> Result<Vec<PtValue>, RebuildError> {
            items.iter().map(|x| me.value(x, depth + 1)).collect()
        };
        Ok(match o {
            Obj::None => PtValue::None,
            Obj::Bool(b) => PtValue::Bool(*b),
            Obj::Int(i) => PtValue::Int(*i),
            Obj::Float(f) => PtValue::Float(*f),
            Obj::Str(s) => {
                self.charge_bytes(s.len())?;
                PtValue::Str(s.to_string())
            }
            Obj::Bytes(b) => {
                self.charge_bytes(b.len())?;
                PtValue::Bytes(b.to_vec())
            }
            Obj::List(l) => PtValue::List(seq(self, &l.borrow())?),
            Obj::Tuple(t) => PtValue::Tuple(seq(self, t)?),
            Obj::Dict(d, kind) => {
                let d = d.borrow();
                let mut items = Vec::with_capacity(dict_items(&d).len());
                for (k, v) in dict_items(&d) {
                    items.push((self.value(k, depth + 1)?, self.value(v, depth + 1)?));
                }
                match kind {
                    DictKind::Plain => PtValue::Dict(items),
                    DictKind::Ordered => PtValue::OrderedDict(items),
                }
            }
            Obj::Global(Global::Dtype(name)) => PtValue::Str(name.clone()),
            Obj::Global(g) => return bad(format!("a bare global {g:?} as a value")),
            Obj::Storage(_) => return bad("a bare storage as a value"),
            Obj::Tensor(t) => PtValue::Tensor(self.tensor(t)?),
        })
    }

    /// Strings and bytes are copied once per reference: their bytes count too.
    fn charge_bytes(&mut self, n: usize) -> Result<(), RebuildError> {
        let units = n as u64 / 8;
        if units > self.node_budget {
            return bad("the pickle expands to more values than its size allows");
        }
        self.node_budget -= units;
        Ok(())
    }

    fn storage(&mut self, s: &StorageRef) -> Result<Rc<Vec<u8>>, RebuildError> {
        if let Some((dtype, bytes)) = self.storages.get(&s.key) {
            if *dtype != s.dtype || bytes.len() as u64 != s.numel * s.dtype.size() as u64 {
                return bad(format!(
                    "storage '{}' is used as two different types or sizes",
                    s.key
                ));
            }
            return Ok(bytes.clone());
        }
        let len = s
            .numel
            .checked_mul(s.dtype.size() as u64)
            .ok_or_else(|| RebuildError::Format(format!("storage of {} elements", s.numel)))?;
        let bytes = Rc::new((self.load)(&s.key, len)?);
        self.storages
            .insert(s.key.clone(), (s.dtype, bytes.clone()));
        Ok(bytes)
    }

    fn tensor(&mut self, t: &Rc<TensorRef>) -> Result<Tensor, RebuildError> {
        // A tensor referenced twice (tied weights) stays one kiln tensor.
        if let Some(done) = self.tensors.get(&Rc::as_ptr(t)) {
            return Ok(done.shallow_clone());
        }
        let bytes = self.storage(&t.storage)?;
        let dtype = t.storage.dtype;
        let numel = t
            .size
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| RebuildError::Format(format!("tensor size {:?} overflows", t.size)))?;
        if numel > self.element_budget {
            return bad(format!(
                "tensor of size {:?} ({numel} elements) is larger than the file can hold",
                t.size
            ));
        }
        self.element_budget -= numel;
        if numel > 0 {
            let last = t
                .size
                .iter()
                .zip(&t.stride)
                .try_fold(t.offset, |a, (&n, &s)| {
                    (n - 1).checked_mul(s).and_then(|x| a.checked_add(x))
                });
            match last {
                Some(last) if last < t.storage.numel => {}
                _ => {
                    return bad(format!(
                        "a view (offset {}, size {:?}, stride {:?}) reaches past its storage of {} elements",
                        t.offset, t.size, t.stride, t.storage.numel
                    ));
                }
            }
        } else if t.offset > t.storage.numel {
            return bad(format!(
                "offset {} past a storage of {} elements",
                t.offset, t.storage.numel
            ));
        }
        let walk = Walk {
            size: &t.size,
            stride: &t.stride,
            idx: vec![0; t.size.len()],
            at: t.offset,
            left: numel,
        };
        let shape: Vec<usize> = t.size.iter().map(|&d| d as usize).collect();
        let out = gather(&bytes, dtype, self.big_endian, walk, &shape);
        self.tensors.insert(Rc::as_ptr(t), out.shallow_clone());
        Ok(out)
    }
}

/// The storage indices of a view in row-major order (an odometer over the dimensions).
/// Wrapping arithmetic: a step may pass `u64::MAX` on the way back to a valid index
/// (a size-1 dimension may carry any stride).
struct Walk<'t> {
    size: &'t [u64],
    stride: &'t [u64],
    idx: Vec<u64>,
    at: u64,
    left: u64,
}

impl Iterator for Walk<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let here = self.at as usize;
        for d in (0..self.idx.len()).rev() {
            self.idx[d] += 1;
            self.at = self.at.wrapping_add(self.stride[d]);
            if self.idx[d] < self.size[d] {
                break;
            }
            self.at = self
                .at
                .wrapping_sub(self.stride[d].wrapping_mul(self.idx[d]));
            self.idx[d] = 0;
        }
        Some(here)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

fn elem<const N: usize>(bytes: &[u8], i: usize, big: bool) -> [u8; N] {
    let mut b: [u8; N] = bytes[i * N..i * N + N].try_into().expect("N bytes");
    if big {
        b.reverse();
    }
    b
}

/// IEEE half precision to single, exactly (subnormals, infinities and NaN included).
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: value = m * 2^-24, normalised for f32.
            let shift = m.leading_zeros() - 21;
            let m = (m << shift) & 0x3ff;
            sign | ((113 - shift) << 23) | (m << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

fn gather(bytes: &[u8], dtype: StorageDtype, big: bool, idx: Walk<'_>, shape: &[usize]) -> Tensor {
    use StorageDtype::*;
    match dtype {
        F32 => Tensor::from_vec(
            idx.map(|i| f32::from_le_bytes(elem(bytes, i, big)))
                .collect::<Vec<_>>(),
            shape,
        ),
        F64 => Tensor::from_vec(
            idx.map(|i| f64::from_le_bytes(elem(bytes, i, big)))
                .collect::<Vec<_>>(),
            shape,
        ),
        F16 => Tensor::from_vec(
            idx.map(|i| f16_to_f32(u16::from_le_bytes(elem(bytes, i, big))))
                .collect::<Vec<_>>(),
            shape,
        ),
        BF16 => Tensor::from_vec(
            idx.map(|i| f32::from_bits((u16::from_le_bytes(elem(bytes, i, big)) as u32) << 16))
                .collect::<Vec<_>>(),
            shape,
        ),
        I64 => Tensor::from_vec(
            idx.map(|i| i64::from_le_bytes(elem(bytes, i, big)))
                .collect::<Vec<_>>(),
            shape,
        ),
        I32 => Tensor::from_vec(
            idx.map(|i| i32::from_le_bytes(elem(bytes, i, big)) as i64)
                .collect::<Vec<_>>(),
            shape,
        ),
        I16 => Tensor::from_vec(
            idx.map(|i| i16::from_le_bytes(elem(bytes, i, big)) as i64)
                .collect::<Vec<_>>(),
            shape,
        ),
        I8 => Tensor::from_vec(
            idx.map(|i| bytes[i] as i8 as i64).collect::<Vec<_>>(),
            shape,
        ),
        U8 => Tensor::from_vec(idx.map(|i| bytes[i]).collect::<Vec<_>>(), shape),
        Bool => Tensor::from_vec(idx.map(|i| bytes[i] != 0).collect::<Vec<_>>(), shape),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_conversion_is_exact() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x0200), 2f32.powi(-15));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
    }
}
