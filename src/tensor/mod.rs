//! The n-dimensional tensor: storage, layout, dtype, and the autograd metadata it carries.
//!
//! Differentiable operations on tensors are defined in `crate::autograd::ops`; this
//! module holds the data structure, creation, element access and the raw kernels.

pub mod alloc;
pub mod backend;
pub mod create;
pub mod device;
pub mod display;
pub mod dtype;
pub mod graph;
pub mod hooks;
pub mod kernels;
pub mod layout;
pub mod parallel;
pub mod random;
pub mod scalar;
pub mod size;
pub mod storage;

pub use device::Device;
pub use dtype::{DType, Element, Float};
pub use layout::Layout;
pub use scalar::{Operand, Scalar, ScalarOperand, result_type};
pub use size::{ShapeArg, Size};
pub use storage::{Buffer, BufferElement, Storage};

use graph::{Edge, Node};
use hooks::{GradHook, HookVec, PostAccumulateGradHook, RemovableHandle, next_hook_id};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// A handle to an n-dimensional array.
///
/// Two clones, two meanings (see ARCHITECTURE.md, "clone"): `t.clone()` is PyTorch's
/// `tensor.clone()`, a differentiable copy with its own storage (an inherent method, so
/// method-call syntax picks it). The `Clone` trait shares the handle in O(1) (same storage,
/// same `.grad`, like Python's `b = a`): that is what `#[derive(Clone)]` structs,
/// `Vec<Tensor>::clone()` and generic `T: Clone` code get, and what
/// [`Tensor::shallow_clone`] names.
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<TensorImpl>);

/// The shared state behind a [`Tensor`] handle.
pub struct TensorImpl {
    pub(crate) storage: Storage,
    pub(crate) layout: Layout,
    pub(crate) dtype: DType,
    /// Created the first time the tensor takes part in autograd (requires grad, gets a
    /// `grad_fn` or a `.grad`): plain tensors carry one empty pointer-sized slot.
    pub(crate) autograd: OnceLock<Box<AutogradMeta>>,
}

/// What autograd keeps on a tensor that takes part in it.
#[derive(Default)]
pub(crate) struct AutogradMeta {
    pub(crate) requires_grad: AtomicBool,
    /// Made by `nn::Parameter::new` (a module's weight): prints as "Parameter containing:".
    pub(crate) parameter: AtomicBool,
    pub(crate) grad_fn: Mutex<Option<Arc<Node>>>,
    pub(crate) grad: Mutex<Option<Tensor>>,
    /// `register_hook` hooks of a leaf (a non-leaf's live on its `grad_fn`).
    pub(crate) hooks: HookVec<GradHook>,
    /// `register_post_accumulate_grad_hook` hooks (leaves only).
    pub(crate) post_accumulate_hooks: HookVec<PostAccumulateGradHook>,
}

impl TensorImpl {
    /// The autograd metadata, if the tensor has any.
    pub(crate) fn meta(&self) -> Option<&AutogradMeta> {
        self.autograd.get().map(|b| &**b)
    }

    /// The autograd metadata, created if missing.
    pub(crate) fn meta_mut(&self) -> &AutogradMeta {
        self.autograd.get_or_init(Box::default)
    }
}

impl Tensor {
    /// A tensor over `storage` seen through `layout`, with no autograd history.
    pub fn from_parts(storage: Storage, layout: Layout) -> Tensor {
        let dtype = storage.dtype();
        Tensor(Arc::new(TensorImpl {
            storage,
            layout,
            dtype,
            autograd: OnceLock::new(),
        }))
    }

    /// A contiguous tensor owning `data`, with the given shape.
    ///
    /// Panics if `data.len()` is not the product of `shape`.
    pub fn from_vec<T: BufferElement>(data: Vec<T>, shape: &[usize]) -> Tensor {
        let numel = layout::checked_numel(shape);
        assert_eq!(
            data.len(),
            numel,
            "from_vec: shape {shape:?} is invalid for input of size {}",
            data.len()
        );
        Tensor::from_parts(
            Storage::new(T::into_buffer(data)),
            Layout::contiguous(shape),
        )
    }

    /// A contiguous tensor copied from a slice, with the given shape.
    pub fn from_slice<T: BufferElement>(data: &[T], shape: &[usize]) -> Tensor {
        Tensor::from_vec(data.to_vec(), shape)
    }

    /// A 0-D tensor holding one value.
    pub fn scalar<T: BufferElement>(v: T) -> Tensor {
        Tensor::from_vec(vec![v], &[])
    }

    /// A new handle on the same storage seen through another layout (no history).
    pub(crate) fn with_layout(&self, layout: Layout) -> Tensor {
        Tensor::from_parts(self.0.storage.clone(), layout)
    }

    /// The shape, like `tensor.shape`.
    pub fn shape(&self) -> &[usize] {
        self.0.layout.shape()
    }

    /// The shape as `tensor.size()` / `tensor.shape` give it: a [`Size`], which prints
    /// as `torch.Size([1, 10])` and derefs to `Vec<usize>`.
    pub fn size(&self) -> Size {
        Size(self.shape().to_vec())
    }

    /// The size of one dimension (negative counts from the end).
    pub fn size_of(&self, dim: isize) -> usize {
        self.shape()[layout::normalize_dim(dim, self.dim(), "size")]
    }

    /// Number of dimensions.
    pub fn dim(&self) -> usize {
        self.0.layout.ndim()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.0.layout.numel()
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }

    /// The device the storage lives on (`tensor.device`).
    pub fn device(&self) -> Device {
        self.0.storage.device()
    }

    /// The layout (shape, strides, offset).
    pub fn layout(&self) -> &Layout {
        &self.0.layout
    }

    /// The strides in elements, like `tensor.stride()`.
    pub fn stride(&self) -> &[usize] {
        self.0.layout.strides()
    }

    /// The shared storage.
    pub fn storage(&self) -> &Storage {
        &self.0.storage
    }

    /// Whether the elements are row-major without gaps.
    pub fn is_contiguous(&self) -> bool {
        self.0.layout.is_contiguous()
    }

    /// Another handle on this same tensor (the `Clone` trait's `clone`, O(1)): it shares
    /// storage, layout, `requires_grad`, `.grad` and history, as a second Python name for
    /// the same tensor does (`b = a`). An in-place update through either is seen by both.
    /// For PyTorch's copying `tensor.clone()`, call [`Tensor::clone`].
    ///
    /// ```
    /// let w = kiln::tensor(&[1.0f32, 2.0]);
    /// let alias = w.shallow_clone();
    /// alias.add_scalar_(1.0);
    /// assert_eq!(w.to_vec::<f32>(), [2.0, 3.0]);
    /// assert!(alias.same_tensor(&w));
    /// ```
    #[inline]
    pub fn shallow_clone(&self) -> Tensor {
        Clone::clone(self)
    }

    /// Whether two handles are the same tensor object.
    pub fn same_tensor(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The elements in row-major logical order, converted to `T`.
    pub fn to_vec<T: BufferElement>(&self) -> Vec<T> {
        if T::DTYPE == self.dtype() {
            return self.gather_vec::<T>();
        }
        macro_rules! conv {
            ($s:ty) => {
                self.gather_vec::<$s>()
                    .into_iter()
                    .map(|v| T::from_f64(v.to_f64()))
                    .collect()
            };
        }
        match self.dtype() {
            DType::F32 => conv!(f32),
            DType::F64 => conv!(f64),
            DType::I64 => conv!(i64),
            DType::U8 => conv!(u8),
            DType::Bool => conv!(bool),
        }
    }

    /// The elements in logical order; `T` must be the tensor's dtype.
    pub(crate) fn gather_vec<T: BufferElement>(&self) -> Vec<T> {
        let buf = self.0.storage.read();
        let data = T::slice(&buf).unwrap_or_else(|| {
            panic!(
                "to_vec: expected dtype {:?}, tensor has {:?}",
                T::DTYPE,
                self.dtype()
            )
        });
        // An empty view's offset may lie past the end of its storage; read nothing.
        if self.numel() == 0 {
            return Vec::new();
        }
        let mut out = alloc::vec_with_capacity(self.numel());
        if let Some(r) = self.0.layout.contiguous_range() {
            out.extend_from_slice(&data[r]);
            return out;
        }
        let len = self.numel();
        kernels::strided::gather_into(data, &self.0.layout, &mut out.spare_capacity_mut()[..len]);
        // SAFETY: `gather_into` wrote all `len` elements.
        unsafe { out.set_len(len) };
        out
    }

    /// Runs `f` on the elements as one contiguous slice (copying only if the view is strided).
    pub fn with_contiguous<T: BufferElement, R>(&self, f: impl FnOnce(&[T]) -> R) -> R {
        if self.numel() == 0 {
            return f(&self.gather_vec::<T>());
        }
        if let Some(r) = self.0.layout.contiguous_range() {
            let buf = self.0.storage.read();
            let data = T::slice(&buf).unwrap_or_else(|| {
                panic!(
                    "expected dtype {:?}, tensor has {:?}",
                    T::DTYPE,
                    self.dtype()
                )
            });
            f(&data[r])
        } else {
            f(&self.gather_vec::<T>())
        }
    }

    /// The single value of a one-element tensor, as f64 (`tensor.item()`).
    pub fn item(&self) -> f64 {
        assert_eq!(
            self.numel(),
            1,
            "item: a Tensor with {} elements cannot be converted to Scalar",
            self.numel()
        );
        self.to_vec::<f64>()[0]
    }

    /// Whether autograd records operations on this tensor.
    pub fn requires_grad(&self) -> bool {
        self.0
            .meta()
            .is_some_and(|m| m.requires_grad.load(Ordering::Relaxed))
    }

    /// Marks this handle as a module parameter (`nn.Parameter`): it requires grad and
    /// prints as `Parameter containing:` followed by the tensor. Used by
    /// `kiln::nn::Parameter::new`.
    #[doc(hidden)]
    pub fn mark_parameter(&self) -> Tensor {
        let t = self.requires_grad_(true);
        self.0.meta_mut().parameter.store(true, Ordering::Relaxed);
        t
    }

    /// Whether this handle is a module parameter (made by `nn::Parameter::new`).
    pub fn is_parameter(&self) -> bool {
        self.0
            .meta()
            .is_some_and(|m| m.parameter.load(Ordering::Relaxed))
    }

    /// Sets `requires_grad` on a leaf (`tensor.requires_grad_(True)`); returns the tensor.
    pub fn requires_grad_(&self, on: bool) -> Tensor {
        assert!(
            self.is_leaf() || on,
            "requires_grad_: you can only change requires_grad flags of leaf variables."
        );
        assert!(
            !on || self.dtype().is_float(),
            "requires_grad_: only Tensors of floating point dtype can require gradients (got {})",
            self.dtype()
        );
        if on || self.0.meta().is_some() {
            self.0.meta_mut().requires_grad.store(on, Ordering::Relaxed);
        }
        self.shallow_clone()
    }

    /// Whether the tensor is a leaf of the graph (made by the user, not by a recorded op).
    pub fn is_leaf(&self) -> bool {
        self.0.meta().is_none_or(|m| m.grad_fn.lock().is_none())
    }

    /// The node that produced this tensor, if autograd recorded one.
    pub fn grad_fn(&self) -> Option<Arc<Node>> {
        self.0.meta().and_then(|m| m.grad_fn.lock().clone())
    }

    /// The accumulated gradient (`tensor.grad`).
    pub fn grad(&self) -> Option<Tensor> {
        self.0.meta().and_then(|m| m.grad.lock().clone())
    }

    /// Replaces the accumulated gradient (`tensor.grad = g`).
    pub fn set_grad(&self, g: Option<Tensor>) {
        if g.is_some() || self.0.meta().is_some() {
            *self.0.meta_mut().grad.lock() = g;
        }
    }

    /// The edge through which a gradient reaches this tensor, if it wants one.
    pub fn grad_edge(&self) -> Option<Edge> {
        if let Some(node) = self.grad_fn() {
            Some(Edge::Node(node))
        } else if self.requires_grad() {
            Some(Edge::Leaf(self.shallow_clone()))
        } else {
            None
        }
    }

    /// Attaches a recorded op to a freshly made output tensor.
    pub fn set_grad_fn(&self, node: Arc<Node>) {
        let m = self.0.meta_mut();
        m.requires_grad.store(true, Ordering::Relaxed);
        *m.grad_fn.lock() = Some(node);
    }

    /// A handle on the same data with no history (`tensor.detach()`).
    pub fn detach(&self) -> Tensor {
        self.with_layout(self.0.layout.clone())
    }

    /// Asks a non-leaf to keep its `.grad` after backward (`tensor.retain_grad()`).
    pub fn retain_grad(&self) {
        if let Some(node) = self.grad_fn() {
            *node.retained.lock() = Some(Arc::downgrade(&self.0));
        } else {
            assert!(
                self.requires_grad(),
                "retain_grad: can't retain_grad on Tensor that has requires_grad=False"
            );
        }
    }
}

impl Tensor {
    /// Registers a hook on the gradient with respect to this tensor
    /// (`tensor.register_hook(hook)`); returns the handle that removes it.
    ///
    /// The hook runs each time that gradient is computed, leaf or not, with the gradient
    /// summed over every use of the tensor; returning `Some(g)` replaces the gradient
    /// (for a leaf: what is accumulated into `.grad` or returned by `autograd::grad`; for
    /// a non-leaf: what flows on to its inputs and into a retained `.grad`). Hooks run in
    /// registration order, each on the previous one's result.
    ///
    /// Panics if the tensor does not require grad, as PyTorch raises.
    pub fn register_hook(
        &self,
        hook: impl Fn(&Tensor) -> Option<Tensor> + Send + Sync + 'static,
    ) -> RemovableHandle {
        assert!(
            self.requires_grad(),
            "register_hook: cannot register a hook on a tensor that doesn't require gradient"
        );
        let id = next_hook_id();
        let hook: Arc<GradHook> = Arc::new(hook);
        if let Some(node) = self.grad_fn() {
            node.hooks.lock().push((id, hook));
            let weak = Arc::downgrade(&node);
            RemovableHandle::new(id, move |id| {
                if let Some(n) = weak.upgrade() {
                    n.hooks.lock().retain(|(i, _)| *i != id);
                }
            })
        } else {
            self.0.meta_mut().hooks.lock().push((id, hook));
            let weak = Arc::downgrade(&self.0);
            RemovableHandle::new(id, move |id| {
                if let Some(t) = weak.upgrade() {
                    t.meta_mut().hooks.lock().retain(|(i, _)| *i != id);
                }
            })
        }
    }

    /// Registers a hook on a leaf that runs after a backward has accumulated its `.grad`
    /// (`tensor.register_post_accumulate_grad_hook(hook)`); the hook gets the tensor itself.
    /// It does not run for `autograd::grad`, which leaves `.grad` alone.
    ///
    /// Panics on a non-leaf or a tensor that does not require grad, as PyTorch raises.
    pub fn register_post_accumulate_grad_hook(
        &self,
        hook: impl Fn(&Tensor) + Send + Sync + 'static,
    ) -> RemovableHandle {
        assert!(
            self.requires_grad(),
            "register_post_accumulate_grad_hook: cannot register a hook on a tensor that doesn't require gradient"
        );
        assert!(
            self.is_leaf(),
            "register_post_accumulate_grad_hook: post accumulate grad hooks cannot be registered on non-leaf tensors"
        );
        let id = next_hook_id();
        let m = self.0.meta_mut();
        m.post_accumulate_hooks.lock().push((id, Arc::new(hook)));
        let weak = Arc::downgrade(&self.0);
        RemovableHandle::new(id, move |id| {
            if let Some(t) = weak.upgrade() {
                t.meta_mut()
                    .post_accumulate_hooks
                    .lock()
                    .retain(|(i, _)| *i != id);
            }
        })
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
