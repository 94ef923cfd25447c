//! The `Module` trait: forward, parameter and buffer discovery with PyTorch's dotted
//! names, train/eval mode, state dicts.

use super::error::{NnError, ShapeMismatch};
use super::hooks::{self, ModuleKey};
use super::raw::copy_into;
use super::state::StateDict;
use crate::tensor::Tensor;
use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

/// A network layer or a model made of layers (`torch.nn.Module`).
///
/// Implementors provide `forward` and the `visit_*` hooks; everything else
/// (`named_parameters`, `state_dict`, `train`/`eval`, ...) is provided on top of them.
/// A user's own model is usually a struct of layers with `#[derive(Module)]` and an
/// inherent `forward`:
///
/// ```
/// use kiln::nn::{Linear, Module, ReLU};
/// use kiln::Tensor;
///
/// #[derive(Module)]
/// struct SimpleNet {
///     fc1: Linear,
///     fc2: Linear,
///     relu: ReLU,
/// }
///
/// impl SimpleNet {
///     fn forward(&self, x: &Tensor) -> Tensor {
///         self.fc2.forward(&self.relu.forward(&self.fc1.forward(x)))
///     }
/// }
///
/// let net = SimpleNet { fc1: Linear::new(784, 128), fc2: Linear::new(128, 10), relu: ReLU::new() };
/// assert_eq!(net.forward(&Tensor::randn(&[1, 784])).shape(), &[1, 10]);
/// let names: Vec<String> = net.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
/// ```
///
/// Forgetting the inherent `forward` is a compile error rather than endless recursion:
///
/// ```compile_fail
/// use kiln::nn::{Linear, Module};
/// #[derive(Module)]
/// struct NoForward {
///     fc: Linear,
/// }
/// ```
pub trait Module: Any + Send + Sync {
    /// Computes the output for `input` (`module.forward(input)`): the computation alone,
    /// without the module's hooks. [`Module::call`] is PyTorch's `module(input)`.
    fn forward(&self, input: &Tensor) -> Tensor;

    /// Runs the module as PyTorch's `module(input)` does: its forward pre-hooks, then
    /// [`Module::forward`], then its forward hooks (registered through [`ModuleHooks`](crate::nn::ModuleHooks), see [`crate::nn::hooks`]). Containers
    /// call their children this way, so hooks on a layer inside a `Sequential` run.
    ///
    /// ```
    /// use kiln::nn::{Linear, Module, ModuleHooks};
    /// use kiln::Tensor;
    /// let fc = Linear::new(3, 2);
    /// let h = fc.register_forward_hook(|_input, out| Some(out.mul_scalar(0.0)));
    /// assert_eq!(fc.call(&Tensor::ones(&[1, 3])).to_vec::<f32>(), vec![0.0, 0.0]);
    /// h.remove();
    /// assert_eq!(fc.call(&Tensor::ones(&[1, 3])).to_vec::<f32>(), fc.forward(&Tensor::ones(&[1, 3])).to_vec::<f32>());
    /// ```
    fn call(&self, input: &Tensor) -> Tensor {
        hooks::call_with_hooks(self.hook_key(), input, |x| self.forward(x))
    }

    /// The identity the module's hooks are registered under: its address and type.
    #[doc(hidden)]
    fn hook_key(&self) -> ModuleKey {
        ModuleKey::of(self)
    }

    /// Calls `f` with each parameter this module holds directly (not its children's),
    /// under its local name.
    fn visit_own_parameters(&self, _f: &mut dyn FnMut(&str, &Tensor)) {}

    /// Calls `f` with each buffer (non-trained state such as running statistics) this
    /// module holds directly, under its local name.
    fn visit_own_buffers(&self, _f: &mut dyn FnMut(&str, &Tensor)) {}

    /// Calls `f` with each direct submodule and its name, in registration order.
    fn visit_children<'a>(&'a self, _f: &mut dyn FnMut(&str, &'a dyn Module)) {}

    /// Sets this module's own training flag (children are handled by [`Module::train_mode`]).
    fn set_own_training(&self, _on: bool) {}

    /// This module's own training flag, if it keeps one.
    fn own_training(&self) -> Option<bool> {
        None
    }

    /// The class name shown in the printed module tree.
    fn type_name(&self) -> String {
        let full = std::any::type_name::<Self>();
        let base = full.split('<').next().unwrap_or(full);
        base.rsplit("::").next().unwrap_or(base).to_string()
    }

    /// The argument summary shown in the printed tree, e.g. `in_features=2, out_features=1, bias=True`.
    fn extra_repr(&self) -> String {
        String::new()
    }

    /// Every parameter with its dotted path (`layers.0.weight`), depth first, each
    /// shared tensor once (`module.named_parameters()`).
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = Vec::new();
        self.collect_tensors("", false, &mut |name, t| {
            if !out.iter().any(|(_, o)| o.same_tensor(t)) {
                out.push((name, t.shallow_clone()));
            }
        });
        out
    }

    /// Every parameter, depth first (`module.parameters()`).
    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters()
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    /// Every buffer with its dotted path (`module.named_buffers()`).
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        self.collect_tensors("", true, &mut |name, t| out.push((name, t.shallow_clone())));
        out
    }

    /// Every buffer, depth first (`module.buffers()`).
    fn buffers(&self) -> Vec<Tensor> {
        self.named_buffers().into_iter().map(|(_, t)| t).collect()
    }

    /// Walks parameters (`buffers == false`) or buffers under `prefix`, depth first.
    #[doc(hidden)]
    fn collect_tensors(&self, prefix: &str, buffers: bool, f: &mut dyn FnMut(String, &Tensor)) {
        let mut own = |name: &str, t: &Tensor| f(format!("{prefix}{name}"), t);
        if buffers {
            self.visit_own_buffers(&mut own);
        } else {
            self.visit_own_parameters(&mut own);
        }
        self.visit_children(&mut |name, child| {
            child.collect_tensors(&format!("{prefix}{name}."), buffers, f)
        });
    }

    /// The direct submodules with their names (`module.named_children()`).
    fn named_children(&self) -> Vec<(String, &dyn Module)> {
        let mut out = Vec::new();
        self.visit_children(&mut |name, m| out.push((name.to_string(), m)));
        out
    }

    /// The direct submodules (`module.children()`).
    fn children(&self) -> Vec<&dyn Module> {
        self.named_children().into_iter().map(|(_, m)| m).collect()
    }

    /// Every submodule below this one with its dotted path, depth first (PyTorch's
    /// `named_modules()` without the leading `("", self)` entry).
    fn named_descendants(&self) -> Vec<(String, &dyn Module)> {
        let mut out = Vec::new();
        for (name, child) in self.named_children() {
            out.push((name.clone(), child));
            for (sub, m) in child.named_descendants() {
                out.push((format!("{name}.{sub}"), m));
            }
        }
        out
    }

    /// The submodule at the dotted path `target` (`module.get_submodule("layers.1")`),
    /// `None` if there is none; downcast it to its type with `downcast_ref`.
    fn get_submodule(&self, target: &str) -> Option<&dyn Module> {
        self.named_descendants()
            .into_iter()
            .find(|(name, _)| name == target)
            .map(|(_, m)| m)
    }

    /// Sets training mode on this module and every submodule (`module.train(mode)`).
    fn train_mode(&self, on: bool) {
        self.set_own_training(on);
        self.visit_children(&mut |_, c| c.train_mode(on));
    }

    /// Switches to training mode: dropout active, batch norm uses batch statistics
    /// (`module.train()`).
    fn train(&self) {
        self.train_mode(true);
    }

    /// Switches to evaluation mode: dropout off, batch norm uses running statistics
    /// (`module.eval()`).
    fn eval(&self) {
        self.train_mode(false);
    }

    /// Whether the module is in training mode (`module.training`). Modules without a
    /// flag of their own report their first child's.
    fn is_training(&self) -> bool {
        if let Some(t) = self.own_training() {
            return t;
        }
        let mut first = None;
        self.visit_children(&mut |_, c| {
            if first.is_none() {
                first = Some(c.is_training());
            }
        });
        first.unwrap_or(true)
    }

    /// Clears every parameter's gradient (`module.zero_grad()`, `set_to_none=True`).
    fn zero_grad(&self) {
        for p in self.parameters() {
            p.set_grad(None);
        }
    }

    /// Turns gradient recording for every parameter on or off (`module.requires_grad_()`).
    fn requires_grad_(&self, on: bool) {
        for p in self.parameters() {
            p.requires_grad_(on);
        }
    }

    /// Total number of parameter elements.
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(|p| p.numel()).sum()
    }

    /// Parameters and buffers by dotted name, in PyTorch's order: for each module its
    /// own parameters, then its own buffers, then its children (`module.state_dict()`).
    /// The tensors are detached and share storage with the module.
    fn state_dict(&self) -> StateDict {
        let mut sd = StateDict::new();
        self.collect_state("", &mut |name, t| sd.insert(name, t.detach()));
        sd
    }

    /// Walks the state-dict entries under `prefix` (live tensors, not detached).
    #[doc(hidden)]
    fn collect_state(&self, prefix: &str, f: &mut dyn FnMut(String, &Tensor)) {
        let mut own = |name: &str, t: &Tensor| f(format!("{prefix}{name}"), t);
        self.visit_own_parameters(&mut own);
        self.visit_own_buffers(&mut own);
        self.visit_children(&mut |name, child| child.collect_state(&format!("{prefix}{name}."), f));
    }

    /// Copies values from `state` into this module's parameters and buffers
    /// (`module.load_state_dict(state)`, strict as PyTorch's default): a missing or an
    /// unexpected key or a shape mismatch is an error naming every such key, and nothing
    /// is copied then. [`Module::load_state_dict_with`] is `strict=False`.
    ///
    /// ```
    /// use kiln::nn::{Linear, Module};
    /// let (a, b) = (Linear::new(3, 2), Linear::new(3, 2));
    /// let report = b.load_state_dict(&a.state_dict()).unwrap();
    /// assert!(report.missing_keys.is_empty() && report.unexpected_keys.is_empty());
    /// assert!(b.weight.equal(&a.weight));
    /// assert!(b.load_state_dict(&Linear::new(4, 2).state_dict()).is_err());
    /// ```
    fn load_state_dict(&self, state: &StateDict) -> Result<LoadReport, NnError> {
        self.load_state_dict_with(state, true)
    }

    /// `module.load_state_dict(state, strict)`: with `strict = false` missing and
    /// unexpected keys are reported in the returned [`LoadReport`] (PyTorch's
    /// `missing_keys` / `unexpected_keys`) instead of refused, and the keys present are
    /// loaded. A shape mismatch is always an error. Nothing is copied when an error is
    /// returned.
    ///
    /// ```
    /// use kiln::nn::{Linear, Module};
    /// let (a, b) = (Linear::new(3, 2), Linear::new(3, 2));
    /// let mut sd = a.state_dict();
    /// sd.remove("bias");
    /// let report = b.load_state_dict_with(&sd, false).unwrap();
    /// assert_eq!(report.missing_keys, ["bias"]);
    /// assert!(b.weight.equal(&a.weight));
    /// ```
    fn load_state_dict_with(&self, state: &StateDict, strict: bool) -> Result<LoadReport, NnError> {
        let mut own: Vec<(String, Tensor)> = Vec::new();
        self.collect_state("", &mut |name, t| own.push((name, t.shallow_clone())));
        let mut report = LoadReport::default();
        let mut mismatched = Vec::new();
        for (name, t) in &own {
            match state.get(name) {
                None => report.missing_keys.push(name.clone()),
                Some(src) if src.shape() != t.shape() => mismatched.push(ShapeMismatch {
                    key: name.clone(),
                    checkpoint: src.size().to_vec(),
                    model: t.size().to_vec(),
                }),
                Some(_) => {}
            }
        }
        for key in state.keys() {
            if !own.iter().any(|(n, _)| n == key) {
                report.unexpected_keys.push(key.clone());
            }
        }
        let key_errors =
            strict && !(report.missing_keys.is_empty() && report.unexpected_keys.is_empty());
        if key_errors || !mismatched.is_empty() {
            return Err(NnError::StateDict {
                module: self.type_name(),
                missing: if strict {
                    report.missing_keys
                } else {
                    Vec::new()
                },
                unexpected: if strict {
                    report.unexpected_keys
                } else {
                    Vec::new()
                },
                mismatched,
            });
        }
        for (name, t) in &own {
            if let Some(src) = state.get(name) {
                copy_into(t, src);
            }
        }
        Ok(report)
    }

    /// The module tree as PyTorch prints it (`print(model)`).
    fn repr(&self) -> String {
        let children = self.named_children();
        let head = format!("{}({}", self.type_name(), self.extra_repr());
        if children.is_empty() {
            return head + ")";
        }
        let mut s = head + "\n";
        for (name, child) in children {
            let body = child.repr().replace('\n', "\n  ");
            s += &format!("  ({name}): {body}\n");
        }
        s + ")"
    }
}

/// `nn.Parameter`: a tensor registered as a module's trained weight.
///
/// `Parameter::new(t)` returns a handle on `t`'s data that requires grad and prints as
/// PyTorch prints a parameter (`Parameter containing:` then the tensor). kiln's layers
/// make their weights this way; a parameter is otherwise an ordinary [`Tensor`] (there is
/// no separate type to unwrap).
///
/// ```
/// use kiln::nn::Parameter;
/// let w = Parameter::new(kiln::tensor(&[1.0, 2.0]));
/// assert_eq!(format!("{w}"), "Parameter containing:\ntensor([1., 2.], requires_grad=True)");
/// ```
pub struct Parameter;

impl Parameter {
    /// `nn.Parameter(t)`: shares `t`'s data, requires grad, prints as a parameter.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(t: Tensor) -> Tensor {
        t.detach().mark_parameter()
    }
}

/// `Display` as PyTorch's module repr for kiln's own layers (`#[derive(Module)]` writes
/// the same impl for a user's model).
macro_rules! display_as_repr {
    ($($t:ty),* $(,)?) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&Module::repr(self))
            }
        }
    )*};
}

use super::{
    AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, ConvTranspose2d,
    Dropout, Dropout2d, Embedding, Flatten, Fold, GELU, Identity, LayerNorm, LeakyReLU, Linear,
    LogSoftmax, MaxPool2d, ModuleList, ReLU, Sequential, Sigmoid, Softmax, Tanh, Unfold,
};
display_as_repr!(
    AdaptiveAvgPool2d,
    ConvTranspose2d,
    Fold,
    Unfold,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    Dropout,
    Dropout2d,
    Embedding,
    Flatten,
    GELU,
    Identity,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MaxPool2d,
    ModuleList,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
);

/// What `load_state_dict` found besides the keys it loaded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Keys the module has but the state dict lacks.
    pub missing_keys: Vec<String>,
    /// Keys in the state dict that the module does not have.
    pub unexpected_keys: Vec<String>,
}

impl dyn Module {
    /// The module as its concrete type, if it is a `T` (e.g. a `Linear` inside a `Sequential`).
    pub fn downcast_ref<T: Module>(&self) -> Option<&T> {
        (self as &dyn Any).downcast_ref::<T>()
    }

    /// The submodule at the dotted path `target` as its concrete type `T`
    /// (`model.get_submodule("layers.1")` and a downcast): `None` if there is no such
    /// submodule or it is not a `T`.
    pub fn get_submodule_as<T: Module>(&self, target: &str) -> Option<&T> {
        self.get_submodule(target)?.downcast_ref()
    }
}

impl fmt::Display for dyn Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repr())
    }
}

impl fmt::Debug for dyn Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repr())
    }
}

impl<M: Module + ?Sized> Module for Box<M> {
    fn forward(&self, input: &Tensor) -> Tensor {
        (**self).forward(input)
    }
    fn visit_own_parameters(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        (**self).visit_own_parameters(f)
    }
    fn visit_own_buffers(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        (**self).visit_own_buffers(f)
    }
    fn visit_children<'a>(&'a self, f: &mut dyn FnMut(&str, &'a dyn Module)) {
        (**self).visit_children(f)
    }
    fn set_own_training(&self, on: bool) {
        (**self).set_own_training(on)
    }
    fn own_training(&self) -> Option<bool> {
        (**self).own_training()
    }
    fn type_name(&self) -> String {
        (**self).type_name()
    }
    fn extra_repr(&self) -> String {
        (**self).extra_repr()
    }
    fn hook_key(&self) -> ModuleKey {
        (**self).hook_key()
    }
}

/// A module's own training flag, shared-mutable so `eval()` works through `&self`.
#[derive(Debug)]
pub struct TrainingFlag(AtomicBool);

impl TrainingFlag {
    /// A flag in training mode (modules start in training mode, as in PyTorch).
    pub fn new() -> Self {
        TrainingFlag(AtomicBool::new(true))
    }
    /// The current mode.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    /// Sets the mode.
    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed)
    }
}

impl Default for TrainingFlag {
    fn default() -> Self {
        TrainingFlag::new()
    }
}

impl Clone for TrainingFlag {
    fn clone(&self) -> Self {
        TrainingFlag(AtomicBool::new(self.get()))
    }
}

/// Implements the training-flag hooks for a struct with a `training: TrainingFlag` field.
macro_rules! training_hooks {
    () => {
        fn set_own_training(&self, on: bool) {
            self.training.set(on)
        }
        fn own_training(&self) -> Option<bool> {
            Some(self.training.get())
        }
    };
}
pub(crate) use training_hooks;
