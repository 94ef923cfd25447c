//! Module forward hooks (`register_forward_pre_hook`, `register_forward_hook`).
//!
//! Rust modules are plain structs, so hooks cannot live inside them without a field in
//! every layer. They live in one process-wide registry keyed by the module's identity:
//! its address and concrete type. [`Module::call`](super::Module::call) (PyTorch's
//! `module(input)`) looks them up and runs them around `forward`; calling `forward`
//! directly skips them, as in PyTorch. When no hook is registered anywhere, `call` is
//! `forward` plus one atomic load.
//!
//! Because the key is an address, register hooks on a module in its final place (a field
//! of the built model, or a layer inside a `Sequential`, which boxes its layers): moving
//! the module afterwards leaves the hooks behind. Remove them with the returned handle
//! before dropping the module, or a new module at the same address would inherit them.

use super::Module;
use crate::tensor::Tensor;
use crate::tensor::hooks::{RemovableHandle, next_hook_id};
use parking_lot::Mutex;
use std::any::TypeId;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A forward pre-hook: gets the input, may return a replacement for it.
pub type ForwardPreHook = dyn Fn(&Tensor) -> Option<Tensor> + Send + Sync;

/// A forward hook: gets the input and the output, may return a replacement output.
pub type ForwardHook = dyn Fn(&Tensor, &Tensor) -> Option<Tensor> + Send + Sync;

/// Which module a hook belongs to: its address and its concrete type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModuleKey {
    addr: usize,
    ty: TypeId,
}

impl ModuleKey {
    /// The key of `m` (a `Box<dyn Module>` forwards to the module inside).
    pub fn of<M: std::any::Any + ?Sized>(m: &M) -> Self {
        ModuleKey {
            addr: (m as *const M).cast::<()>() as usize,
            ty: <M as std::any::Any>::type_id(m),
        }
    }
}

#[derive(Default)]
struct Hooks {
    pre: Vec<(u64, Arc<ForwardPreHook>)>,
    post: Vec<(u64, Arc<ForwardHook>)>,
}

static REGISTRY: Mutex<BTreeMap<ModuleKey, Hooks>> = Mutex::new(BTreeMap::new());
/// Hooks registered in the process: zero means `call` need not look.
static COUNT: AtomicUsize = AtomicUsize::new(0);

fn handle(key: ModuleKey, id: u64) -> RemovableHandle {
    RemovableHandle::new(id, move |id| {
        let mut reg = REGISTRY.lock();
        if let Some(h) = reg.get_mut(&key) {
            let n = h.pre.len() + h.post.len();
            h.pre.retain(|(i, _)| *i != id);
            h.post.retain(|(i, _)| *i != id);
            COUNT.fetch_sub(n - h.pre.len() - h.post.len(), Ordering::Relaxed);
            if h.pre.is_empty() && h.post.is_empty() {
                reg.remove(&key);
            }
        }
    })
}

/// Forward hooks for every module, `dyn Module` and `Box<dyn Module>` included
/// (PyTorch's `register_forward_pre_hook` / `register_forward_hook`). They run in
/// [`Module::call`]; PyTorch also passes the module to the hook, a Rust closure captures
/// what it needs instead.
///
/// ```
/// use kiln::nn::{Linear, Module, ModuleHooks};
/// use kiln::Tensor;
/// let fc = Linear::new(3, 2);
/// let h = fc.register_forward_pre_hook(|x| Some(x.mul_scalar(0.0)));
/// let out = fc.call(&Tensor::ones(&[1, 3]));
/// assert_eq!(out.to_vec::<f32>(), fc.bias.as_ref().unwrap().to_vec::<f32>());
/// h.remove();
/// ```
pub trait ModuleHooks: Module {
    /// Registers a hook that runs before `forward` and may replace the input by
    /// returning `Some` (`module.register_forward_pre_hook(hook)`).
    fn register_forward_pre_hook(
        &self,
        hook: impl Fn(&Tensor) -> Option<Tensor> + Send + Sync + 'static,
    ) -> RemovableHandle {
        add_pre(self.hook_key(), Arc::new(hook))
    }

    /// Registers a hook that runs after `forward` with the input and the output and may
    /// replace the output by returning `Some` (`module.register_forward_hook(hook)`).
    fn register_forward_hook(
        &self,
        hook: impl Fn(&Tensor, &Tensor) -> Option<Tensor> + Send + Sync + 'static,
    ) -> RemovableHandle {
        add_post(self.hook_key(), Arc::new(hook))
    }
}

impl<M: Module + ?Sized> ModuleHooks for M {}

fn add_pre(key: ModuleKey, hook: Arc<ForwardPreHook>) -> RemovableHandle {
    let id = next_hook_id();
    REGISTRY.lock().entry(key).or_default().pre.push((id, hook));
    COUNT.fetch_add(1, Ordering::Relaxed);
    handle(key, id)
}

fn add_post(key: ModuleKey, hook: Arc<ForwardHook>) -> RemovableHandle {
    let id = next_hook_id();
    REGISTRY
        .lock()
        .entry(key)
        .or_default()
        .post
        .push((id, hook));
    COUNT.fetch_add(1, Ordering::Relaxed);
    handle(key, id)
}

/// Runs pre-hooks, `forward`, then forward hooks, each hook in registration order on the
/// previous one's result. The registry is not locked while hooks run, so a hook may
/// register or remove hooks (the change applies from the next call).
pub(super) fn call_with_hooks(
    key: ModuleKey,
    input: &Tensor,
    forward: impl FnOnce(&Tensor) -> Tensor,
) -> Tensor {
    if COUNT.load(Ordering::Relaxed) == 0 {
        return forward(input);
    }
    let (pre, post): (Vec<_>, Vec<_>) = match REGISTRY.lock().get(&key) {
        None => (Vec::new(), Vec::new()),
        Some(h) => (
            h.pre.iter().map(|(_, f)| f.clone()).collect(),
            h.post.iter().map(|(_, f)| f.clone()).collect(),
        ),
    };
    let mut x = input.shallow_clone();
    for h in pre {
        if let Some(new) = h(&x) {
            x = new;
        }
    }
    let mut out = forward(&x);
    for h in post {
        if let Some(new) = h(&x, &out) {
            out = new;
        }
    }
    out
}
