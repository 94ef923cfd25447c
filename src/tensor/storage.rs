//! The flat, shared buffer behind tensors, with PyTorch's version counter.

use super::device::Device;
use super::dtype::{DType, Element};
use parking_lot::{
    RecursiveRwLock as RwLock, RecursiveRwLockReadGuard as RwLockReadGuard,
    RecursiveRwLockWriteGuard as RwLockWriteGuard,
};
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
    device: Device,
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
///
/// # Locking rules
///
/// Threads may share tensors (a data-loader worker, a training thread, user threads),
/// so every buffer sits behind a read-write lock. Three rules keep that free of
/// deadlocks; every kernel follows them:
///
/// 1. **Reads are recursive** (parking_lot's `RecursiveRwLock`). [`Storage::read`]
///    succeeds at once while this thread (or
///    any other) already holds a read lock on the buffer, even when a writer is waiting.
///    `a op a` (and a view of `a` against `a`) may take two read guards on one buffer.
///    With a task-fair lock the second read queued behind the waiting writer, which
///    queued behind the first read: a deadlock within about a second of `&x * &x` on
///    one thread and `x.mul_(..)` on another.
/// 2. **One op takes all the buffers it needs at once, in one global order.** An op that
///    locks more than one buffer does so through [`Storage::read2`],
///    [`Storage::read_write`] or [`Storage::lock_all`], which lock in the order of the
///    buffers' addresses, each distinct buffer once per access kind. Taken in argument
///    order, `a.add_(&b)` (read `b`, write `a`) on one thread and `b.add_(&a)` on another
///    each held one lock and waited for the other's. No lock is held while another is
///    taken outside these helpers: the kernel reads, drops, then writes.
/// 3. **No write guard on a buffer the same op reads.** A `dst` that shares its buffer
///    with a source (`a.add_(&a)`, `v.mul_(&v.t())`) is written from a copy of the
///    source taken first; [`Storage::read_write`] and [`Storage::lock_all`] panic if
///    asked for both on one buffer.
///
/// Guards are held only inside kernels: user code never runs under a lock except the
/// closure given to [`crate::Tensor::with_contiguous`], which must not write the same
/// tensor (it holds a read guard, so that write would wait forever, as a `RefCell`
/// would panic).
#[derive(Clone)]
pub struct Storage(Arc<StorageInner>);

/// How an op accesses a buffer it locks through [`Storage::lock_all`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Shared, read-only.
    Read,
    /// Exclusive; bumps the version counter.
    Write,
}

/// A lock guard from [`Storage::lock_all`].
pub enum Guard<'a> {
    /// A shared guard.
    Read(RwLockReadGuard<'a, Buffer>),
    /// An exclusive guard.
    Write(RwLockWriteGuard<'a, Buffer>),
}

impl Guard<'_> {
    /// The buffer, read-only.
    pub fn buffer(&self) -> &Buffer {
        match self {
            Guard::Read(g) => g,
            Guard::Write(g) => g,
        }
    }

    /// The buffer, writable.
    ///
    /// # Panics
    /// Panics if this is a read guard.
    pub fn buffer_mut(&mut self) -> &mut Buffer {
        match self {
            Guard::Write(g) => g,
            Guard::Read(_) => panic!("storage: a read guard cannot be written through"),
        }
    }
}

impl Storage {
    /// Wraps a host buffer (storage on [`Device::Cpu`]).
    pub fn new(buffer: Buffer) -> Self {
        Storage(Arc::new(StorageInner {
            data: RwLock::new(buffer),
            version: AtomicU64::new(0),
            device: Device::Cpu,
        }))
    }

    /// The device the buffer lives on.
    pub fn device(&self) -> Device {
        self.0.device
    }

    /// Read access, shared and recursive (rule 1 of the [locking rules](Storage)).
    pub fn read(&self) -> RwLockReadGuard<'_, Buffer> {
        self.0.data.read()
    }

    /// Write access; bumps the version counter. Hold no other guard while calling it
    /// (rule 2 of the [locking rules](Storage)): use [`Storage::read_write`] or
    /// [`Storage::lock_all`] for ops over several buffers.
    pub fn write(&self) -> RwLockWriteGuard<'_, Buffer> {
        self.0.version.fetch_add(1, Ordering::Relaxed);
        self.0.data.write()
    }

    /// The address that orders lock acquisition across buffers.
    fn order_key(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// Read guards on two buffers (possibly the same one), taken in the global order.
    pub fn read2<'a>(
        a: &'a Storage,
        b: &'a Storage,
    ) -> (RwLockReadGuard<'a, Buffer>, RwLockReadGuard<'a, Buffer>) {
        if a.order_key() <= b.order_key() {
            let ga = a.read();
            (ga, b.read())
        } else {
            let gb = b.read();
            (a.read(), gb)
        }
    }

    /// A read guard on `src` and a write guard on `dst`, taken in the global order.
    ///
    /// # Panics
    /// Panics if both are the same buffer (rule 3: copy the source first).
    pub fn read_write<'a>(
        src: &'a Storage,
        dst: &'a Storage,
    ) -> (RwLockReadGuard<'a, Buffer>, RwLockWriteGuard<'a, Buffer>) {
        assert!(
            !src.same(dst),
            "storage: an op cannot read and write one buffer under two guards"
        );
        if src.order_key() < dst.order_key() {
            let gs = src.read();
            (gs, dst.write())
        } else {
            let gd = dst.write();
            (src.read(), gd)
        }
    }

    /// Guards on every listed buffer, taken in the global order and returned in the
    /// order asked. A buffer may be listed for reading more than once.
    ///
    /// # Panics
    /// Panics if a buffer is listed for writing more than once, or for both reading and
    /// writing (rule 3).
    pub fn lock_all<'a>(wanted: &[(&'a Storage, Access)]) -> Vec<Guard<'a>> {
        let mut order: Vec<usize> = (0..wanted.len()).collect();
        order.sort_by_key(|&i| wanted[i].0.order_key());
        for w in order.windows(2) {
            let ((a, ka), (b, kb)) = (wanted[w[0]], wanted[w[1]]);
            assert!(
                !a.same(b) || (ka == Access::Read && kb == Access::Read),
                "storage: an op cannot lock one buffer for writing twice, or for reading \
                 and writing"
            );
        }
        let mut guards: Vec<Option<Guard<'a>>> = (0..wanted.len()).map(|_| None).collect();
        for i in order {
            let (s, access) = wanted[i];
            guards[i] = Some(match access {
                Access::Read => Guard::Read(s.read()),
                Access::Write => Guard::Write(s.write()),
            });
        }
        guards.into_iter().map(|g| g.expect("locked")).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn buf(v: f32) -> Storage {
        Storage::new(Buffer::F32(vec![v]))
    }

    #[test]
    fn lock_all_returns_guards_in_the_order_asked() {
        let (a, b, c) = (buf(1.0), buf(2.0), buf(3.0));
        let mut g = Storage::lock_all(&[
            (&c, Access::Write),
            (&a, Access::Read),
            (&b, Access::Read),
            (&a, Access::Read),
        ]);
        let first = |g: &Guard| f32::slice(g.buffer()).unwrap()[0];
        assert_eq!(
            g.iter().map(first).collect::<Vec<_>>(),
            [3.0, 1.0, 2.0, 1.0]
        );
        f32::slice_mut(g[0].buffer_mut()).unwrap()[0] = 4.0;
        drop(g);
        assert_eq!(c.version(), 1);
        assert_eq!(f32::slice(&c.read()).unwrap()[0], 4.0);
    }

    #[test]
    #[should_panic(expected = "cannot lock one buffer for writing twice")]
    fn lock_all_refuses_two_writes_of_one_buffer() {
        let a = buf(1.0);
        let _ = Storage::lock_all(&[(&a, Access::Write), (&a, Access::Read)]);
    }

    #[test]
    fn a_second_read_passes_a_waiting_writer() {
        // Thread 1 reads; a writer queues; thread 1 reads again (as `a op a` does).
        let a = buf(1.0);
        let first = a.read();
        let w = {
            let a = a.clone();
            std::thread::spawn(move || drop(a.write()))
        };
        while a.version() == 0 {
            std::hint::spin_loop();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        // A bounded wait, so a lock that queues the read behind the writer fails here.
        let second = a.0.data.try_read_for(std::time::Duration::from_secs(10));
        assert!(second.is_some(), "the second read waited for the writer");
        drop((first, second));
        w.join().unwrap();
    }
}
