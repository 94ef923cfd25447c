//! The flat, shared buffer behind tensors, with PyTorch's version counter.

use super::dtype::{DType, Element};
use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A typed flat buffer.
#[derive(Clone, Debug)]
pub enum Buffer {
    /// f32 elements.
    F32(Vec<f32>),
    /// f64 elements.
    F64(Vec<f64>),
    /// i64 elements.
    I64(Vec<i64>),
    /// u8 elements.
    U8(Vec<u8>),
    /// bool elements.
    Bool(Vec<bool>),
}

impl Buffer {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            Buffer::F32(_) => DType::F32,
            Buffer::F64(_) => DType::F64,
            Buffer::I64(_) => DType::I64,
            Buffer::U8(_) => DType::U8,
            Buffer::Bool(_) => DType::Bool,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Buffer::F32(v) => v.len(),
            Buffer::F64(v) => v.len(),
            Buffer::I64(v) => v.len(),
            Buffer::U8(v) => v.len(),
            Buffer::Bool(v) => v.len(),
        }
    }

    /// Whether the buffer holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Moves a typed `Vec` into and out of a [`Buffer`].
pub trait BufferElement: Element {
    /// Wraps a vector.
    fn into_buffer(v: Vec<Self>) -> Buffer;
    /// Borrows the buffer's elements, if it holds this type.
    fn slice(b: &Buffer) -> Option<&[Self]>;
    /// Mutably borrows the buffer's elements, if it holds this type.
    fn slice_mut(b: &mut Buffer) -> Option<&mut [Self]>;
}

macro_rules! impl_buffer_element {
    ($t:ty, $var:ident) => {
        impl BufferElement for $t {
            fn into_buffer(v: Vec<Self>) -> Buffer {
                Buffer::$var(v)
            }
            fn slice(b: &Buffer) -> Option<&[Self]> {
                match b {
                    Buffer::$var(v) => Some(v),
                    _ => None,
                }
            }
            fn slice_mut(b: &mut Buffer) -> Option<&mut [Self]> {
                match b {
                    Buffer::$var(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}
impl_buffer_element!(f32, F32);
impl_buffer_element!(f64, F64);
impl_buffer_element!(i64, I64);
impl_buffer_element!(u8, U8);
impl_buffer_element!(bool, Bool);

struct StorageInner {
    data: RwLock<Buffer>,
    version: AtomicU64,
}

impl Drop for StorageInner {
    /// Hands the buffer to kiln's caching allocator ([`super::alloc`]) for reuse.
    fn drop(&mut self) {
        match std::mem::replace(self.data.get_mut(), Buffer::U8(Vec::new())) {
            Buffer::F32(v) => super::alloc::recycle(v),
            Buffer::F64(v) => super::alloc::recycle(v),
            Buffer::I64(v) => super::alloc::recycle(v),
            Buffer::U8(v) => super::alloc::recycle(v),
            Buffer::Bool(v) => super::alloc::recycle(v),
        }
    }
}

/// A reference-counted buffer shared by a tensor and all of its views.
///
/// Every in-place write bumps `version`, so autograd can tell when a tensor saved for
/// backward has been modified since (PyTorch's `_version`).
#[derive(Clone)]
pub struct Storage(Arc<StorageInner>);

impl Storage {
    /// Wraps a buffer.
    pub fn new(buffer: Buffer) -> Self {
        Storage(Arc::new(StorageInner {
            data: RwLock::new(buffer),
            version: AtomicU64::new(0),
        }))
    }

    /// Read access (shared; `a op a` takes two read guards on one buffer).
    pub fn read(&self) -> RwLockReadGuard<'_, Buffer> {
        self.0.data.read()
    }

    /// Write access; bumps the version counter.
    pub fn write(&self) -> RwLockWriteGuard<'_, Buffer> {
        self.0.version.fetch_add(1, Ordering::Relaxed);
        self.0.data.write()
    }

    /// The number of in-place writes so far.
    pub fn version(&self) -> u64 {
        self.0.version.load(Ordering::Relaxed)
    }

    /// How many handles share this buffer (one per tensor or view built on it).
    pub fn handle_count(&self) -> usize {
        Arc::strong_count(&self.0)
    }

    /// Whether two handles point at the same buffer.
    pub fn same(&self, other: &Storage) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.read().dtype()
    }
}
