//! [`PtValue`]: what a `torch.save` file holds, as plain Rust data.

use crate::nn::StateDict;
use crate::tensor::Tensor;

/// One Python value from a PyTorch file, restricted to what
/// `torch.load(weights_only=True)` can produce and kiln can hold.
///
/// Python's `torch.Size` and `torch.device` load as a [`PtValue::Tuple`] and a
/// [`PtValue::Str`] (`"cpu"`), a `torch.dtype` as the string `"torch.float32"`, `bytes`
/// and `bytearray` as [`PtValue::Bytes`], a `set` as a [`PtValue::List`], and an
/// `nn.Parameter` as its tensor.
#[derive(Clone, Debug)]
pub enum PtValue {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// A Python `int` (kiln reads those that fit an `i64`).
    Int(i64),
    /// A Python `float`.
    Float(f64),
    /// A Python `str`.
    Str(String),
    /// A Python `bytes` or `bytearray`.
    Bytes(Vec<u8>),
    /// A Python `list` (or `set`).
    List(Vec<PtValue>),
    /// A Python `tuple` (or `torch.Size`).
    Tuple(Vec<PtValue>),
    /// A Python `dict`, in insertion order.
    Dict(Vec<(PtValue, PtValue)>),
    /// A `collections.OrderedDict` (what `state_dict()` returns), in order.
    OrderedDict(Vec<(PtValue, PtValue)>),
    /// A tensor (dtypes map as [`crate::io::pt`] describes).
    Tensor(Tensor),
}

impl PtValue {
    /// The entries of a `dict` or `OrderedDict`.
    pub fn items(&self) -> Option<&[(PtValue, PtValue)]> {
        match self {
            PtValue::Dict(items) | PtValue::OrderedDict(items) => Some(items),
            _ => None,
        }
    }

    /// The value stored under the string key `key` of a `dict` or `OrderedDict`.
    ///
    /// ```
    /// use kiln::io::PtValue;
    /// let v = PtValue::Dict(vec![(PtValue::Str("epoch".into()), PtValue::Int(3))]);
    /// assert_eq!(v.get("epoch").and_then(PtValue::as_int), Some(3));
    /// ```
    pub fn get(&self, key: &str) -> Option<&PtValue> {
        self.items()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PtValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is one (a `bool` counts, as in Python).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            PtValue::Int(i) => Some(*i),
            PtValue::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    /// The number as an `f64`, if this is a `float`, an `int` or a `bool`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            PtValue::Float(f) => Some(*f),
            other => other.as_int().map(|i| i as f64),
        }
    }

    /// The tensor, if this is one.
    pub fn as_tensor(&self) -> Option<&Tensor> {
        match self {
            PtValue::Tensor(t) => Some(t),
            _ => None,
        }
    }

    /// The elements of a `list` or `tuple`.
    pub fn as_seq(&self) -> Option<&[PtValue]> {
        match self {
            PtValue::List(v) | PtValue::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// A state dict from a `dict` or `OrderedDict` of string keys to tensors, in order;
    /// otherwise a description of the first entry that is not one (for error messages).
    pub fn to_state_dict(&self) -> Result<StateDict, String> {
        let items = self
            .items()
            .ok_or_else(|| format!("the file holds {}, not a state dict", self.kind()))?;
        let mut out = StateDict::new();
        for (k, v) in items {
            let key = k
                .as_str()
                .ok_or_else(|| format!("a state dict key is {}, not a string", k.kind()))?;
            let t = v.as_tensor().ok_or_else(|| {
                format!(
                    "entry '{key}' is {}, not a tensor (a nested checkpoint? load it with \
                     kiln::io::load_pt and take the state dict out with .get(\"{key}\"))",
                    v.kind()
                )
            })?;
            out.insert(key, t.shallow_clone());
        }
        Ok(out)
    }

    /// Every tensor in the value with a dotted path to it, depth first in order:
    /// `{'model': {'0.weight': t}, 'opt': [t2]}` gives `model.0.weight` and `opt.0`
    /// (non-string keys are written as Python prints them, `3`, `None`, `True`).
    pub fn flat_tensors(&self) -> Vec<(String, Tensor)> {
        fn walk(v: &PtValue, at: &str, out: &mut Vec<(String, Tensor)>) {
            let join = |k: &str| {
                if at.is_empty() {
                    k.to_string()
                } else {
                    format!("{at}.{k}")
                }
            };
            match v {
                PtValue::Tensor(t) => out.push((at.to_string(), t.shallow_clone())),
                PtValue::List(xs) | PtValue::Tuple(xs) => {
                    for (i, x) in xs.iter().enumerate() {
                        walk(x, &join(&i.to_string()), out);
                    }
                }
                PtValue::Dict(items) | PtValue::OrderedDict(items) => {
                    for (k, x) in items {
                        let key = match k {
                            PtValue::Str(s) => s.clone(),
                            PtValue::Int(i) => i.to_string(),
                            PtValue::Bool(b) => if *b { "True" } else { "False" }.to_string(),
                            PtValue::None => "None".to_string(),
                            other => other.kind().to_string(),
                        };
                        walk(x, &join(&key), out);
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(self, "", &mut out);
        out
    }

    /// The Python type name, for messages (`"dict"`, `"tensor"`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            PtValue::None => "None",
            PtValue::Bool(_) => "a bool",
            PtValue::Int(_) => "an int",
            PtValue::Float(_) => "a float",
            PtValue::Str(_) => "a str",
            PtValue::Bytes(_) => "bytes",
            PtValue::List(_) => "a list",
            PtValue::Tuple(_) => "a tuple",
            PtValue::Dict(_) => "a dict",
            PtValue::OrderedDict(_) => "an OrderedDict",
            PtValue::Tensor(_) => "a tensor",
        }
    }

    /// A state dict as PyTorch's `state_dict()` returns it: an `OrderedDict` of tensors.
    pub fn from_state_dict(state: &StateDict) -> PtValue {
        PtValue::OrderedDict(
            state
                .iter()
                .map(|(k, t)| (PtValue::Str(k.clone()), PtValue::Tensor(t.shallow_clone())))
                .collect(),
        )
    }
}
