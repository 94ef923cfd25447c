//! The unpickler's values: shared containers as Python's memo shares them, dict keys
//! compared as Python compares them, and a drop that never recurses.

use super::globals::{Global, StorageDtype};
use super::unpickle::{PickleError, bad};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A `('storage', FloatStorage, '0', 'cpu', 6)` persistent id: a storage in the archive.
#[derive(Debug)]
pub(crate) struct StorageRef {
    pub dtype: StorageDtype,
    pub key: String,
    pub numel: u64,
}

/// `_rebuild_tensor_v2(storage, offset, size, stride, ...)`, not yet materialised.
#[derive(Debug)]
pub(crate) struct TensorRef {
    pub storage: Rc<StorageRef>,
    pub offset: u64,
    pub size: Vec<u64>,
    pub stride: Vec<u64>,
}

/// Dict flavours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum DictKind {
    Plain,
    Ordered,
}

/// A hashable key, normalised as Python compares them (`True == 1 == 1.0`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    None,
    Int(i64),
    Float(u64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Tuple(Vec<Key>),
}

/// An insertion-ordered dict with a hash index over its keys.
#[derive(Debug, Default)]
pub(crate) struct Dict {
    pub(crate) items: Vec<(Obj, Obj)>,
    index: HashMap<Key, usize>,
}

impl Dict {
    pub(crate) fn set(&mut self, k: Obj, v: Obj) -> Result<(), PickleError> {
        let key = key_of(&k, &mut 64)?;
        match self.index.get(&key) {
            Some(&i) => self.items[i].1 = v,
            None => {
                self.index.insert(key, self.items.len());
                self.items.push((k, v));
            }
        }
        Ok(())
    }
}

/// `left`: how many more key parts may be hashed. A key is hashed on every insert, and
/// a tuple key built from memo references could cost far more than its bytes.
fn key_of(o: &Obj, left: &mut usize) -> Result<Key, PickleError> {
    if *left == 0 {
        return bad("a dict key is too large");
    }
    *left -= 1;
    Ok(match o {
        Obj::None => Key::None,
        Obj::Bool(b) => Key::Int(*b as i64),
        Obj::Int(i) => Key::Int(*i),
        Obj::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Key::Int(*f as i64),
        Obj::Float(f) => Key::Float(f.to_bits()),
        Obj::Str(s) => Key::Str(s.clone()),
        Obj::Bytes(b) => Key::Bytes(b.clone()),
        Obj::Tuple(t) => Key::Tuple(
            t.iter()
                .map(|x| key_of(x, left))
                .collect::<Result<_, _>>()?,
        ),
        other => return bad(format!("unsupported dict key ({})", other.kind())),
    })
}

/// A list's elements. Its drop hands them to [`teardown`]: see there.
#[derive(Debug, Default)]
pub(crate) struct ListCell(pub(crate) RefCell<Vec<Obj>>);

impl std::ops::Deref for ListCell {
    type Target = RefCell<Vec<Obj>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Drop for ListCell {
    fn drop(&mut self) {
        let v = std::mem::take(self.0.get_mut());
        if !v.is_empty() {
            teardown_all(v, false);
        }
    }
}

/// A tuple's elements, dropped as [`ListCell`]'s are.
#[derive(Debug, Default)]
pub(crate) struct TupleCell(pub(crate) Vec<Obj>);

impl std::ops::Deref for TupleCell {
    type Target = Vec<Obj>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Drop for TupleCell {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
        if !v.is_empty() {
            teardown_all(v, false);
        }
    }
}

impl Drop for Dict {
    fn drop(&mut self) {
        let items = std::mem::take(&mut self.items);
        if !items.is_empty() {
            teardown_all(items.into_iter().flat_map(|(k, v)| [k, v]), false);
        }
    }
}

/// A value on the unpickler's stack. Containers are shared handles, as in Python.
#[derive(Clone, Debug)]
pub(crate) enum Obj {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    List(Rc<ListCell>),
    Tuple(Rc<TupleCell>),
    Dict(Rc<RefCell<Dict>>, DictKind),
    Global(Global),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
}

impl Obj {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Obj::None => "None",
            Obj::Bool(_) => "bool",
            Obj::Int(_) => "int",
            Obj::Float(_) => "float",
            Obj::Str(_) => "str",
            Obj::Bytes(_) => "bytes",
            Obj::List(_) => "list",
            Obj::Tuple(_) => "tuple",
            Obj::Dict(..) => "dict",
            Obj::Global(_) => "global",
            Obj::Storage(_) => "storage",
            Obj::Tensor(_) => "tensor",
        }
    }

    pub(crate) fn tuple(items: Vec<Obj>) -> Obj {
        Obj::Tuple(Rc::new(TupleCell(items)))
    }
}

/// Drops an object graph without recursion: a pickle can nest lists a million deep in
/// a few bytes per level, and the recursive drop of such a graph would overflow the
/// stack. Containers this handle owns alone are emptied into a work list; with
/// `everything` (the end of a parse, when no handle is used again) shared lists and
/// dicts are emptied too, which breaks cycles (a list that contains itself).
pub(crate) fn teardown_all(roots: impl IntoIterator<Item = Obj>, everything: bool) {
    let mut work: Vec<Obj> = roots.into_iter().collect();
    while let Some(o) = work.pop() {
        match o {
            Obj::List(mut l) => {
                if let Some(cell) = Rc::get_mut(&mut l) {
                    work.append(cell.0.get_mut());
                } else if everything && let Ok(mut v) = l.try_borrow_mut() {
                    work.append(&mut v);
                }
            }
            Obj::Dict(mut d, _) => {
                let mut take = |d: &mut Dict| {
                    d.index.clear();
                    for (k, v) in std::mem::take(&mut d.items) {
                        work.push(k);
                        work.push(v);
                    }
                };
                if let Some(cell) = Rc::get_mut(&mut d) {
                    take(cell.get_mut());
                } else if everything && let Ok(mut v) = d.try_borrow_mut() {
                    take(&mut v);
                }
            }
            Obj::Tuple(mut t) => {
                if let Some(cell) = Rc::get_mut(&mut t) {
                    work.append(&mut cell.0);
                }
            }
            _ => {}
        }
    }
}

/// [`teardown_all`] of a graph no handle is used again, cycles included.
pub(crate) fn teardown(roots: impl IntoIterator<Item = Obj>) {
    teardown_all(roots, true)
}

/// Reads a dict's entries (for [`super::rebuild`]).
pub(crate) fn dict_items(d: &Dict) -> &[(Obj, Obj)] {
    &d.items
}
