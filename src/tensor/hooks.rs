//! Removable hooks: the handle every `register_*_hook` returns, and the hook types that
//! tensors and graph nodes keep.

use super::Tensor;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A gradient hook (`tensor.register_hook(f)`): gets the gradient with respect to the
/// tensor and may return a replacement for it.
pub type GradHook = dyn Fn(&Tensor) -> Option<Tensor> + Send + Sync;

/// A post-accumulate-grad hook: gets the leaf after its `.grad` has been accumulated.
pub type PostAccumulateGradHook = dyn Fn(&Tensor) + Send + Sync;

/// Hooks in registration order, each with the id its handle removes it by.
pub(crate) type HookVec<F> = Mutex<Vec<(u64, Arc<F>)>>;

/// A fresh id for a hook (unique in the process).
pub(crate) fn next_hook_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Snapshot of a hook list, so hooks run without the list locked (a hook may register or
/// remove hooks).
pub(crate) fn snapshot<F: ?Sized>(hooks: &HookVec<F>) -> Vec<Arc<F>> {
    hooks.lock().iter().map(|(_, h)| h.clone()).collect()
}

/// Runs gradient hooks in order, each on the previous one's result
/// (PyTorch: a hook returning `None` leaves the gradient as it is).
pub(crate) fn run_grad_hooks(hooks: &HookVec<GradHook>, mut g: Tensor) -> Tensor {
    if hooks.lock().is_empty() {
        return g;
    }
    for h in snapshot(hooks) {
        if let Some(new) = h(&g) {
            g = new;
        }
    }
    g
}

/// What a handle calls, once, to take its hook out.
type Remover = Box<dyn FnOnce(u64) + Send>;

/// Unregisters the hook it was returned for (`torch.utils.hooks.RemovableHandle`).
///
/// Dropping the handle keeps the hook registered, as in PyTorch; call [`remove`]
/// to take it out. The handle does not keep the tensor, node or module alive.
///
/// [`remove`]: RemovableHandle::remove
pub struct RemovableHandle {
    id: u64,
    remover: Mutex<Option<Remover>>,
}

impl RemovableHandle {
    /// A handle whose `remove` calls `remover` with `id` (once).
    pub fn new(id: u64, remover: impl FnOnce(u64) + Send + 'static) -> Self {
        RemovableHandle {
            id,
            remover: Mutex::new(Some(Box::new(remover))),
        }
    }

    /// The id of the hook (unique in the process).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Unregisters the hook; calling it again does nothing (`handle.remove()`).
    pub fn remove(&self) {
        let f = self.remover.lock().take();
        if let Some(f) = f {
            f(self.id);
        }
    }
}

impl std::fmt::Debug for RemovableHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemovableHandle({})", self.id)
    }
}
