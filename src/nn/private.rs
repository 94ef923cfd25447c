//! Support code for `#[derive(Module)]`; not a public API.
//!
//! The derive cannot see which field types implement `Module`, so it probes each field
//! with autoref specialisation: `(&&Probe(&field)).__kiln_visit(..)` picks
//! [`ViaModule`] when the field is a module and falls back to [`ViaNothing`] otherwise.

use super::module::Module;
use crate::tensor::Tensor;

/// Wraps a field reference for the probe.
pub struct Probe<'a, T: ?Sized>(pub &'a T);

/// Chosen for fields that implement `Module`: visits them as a child.
pub trait ViaModule<'a> {
    /// Visits the field as a child module.
    fn __kiln_visit(&self, name: &str, f: &mut dyn FnMut(&str, &'a dyn Module));
}

impl<'a, T: Module> ViaModule<'a> for &Probe<'a, T> {
    fn __kiln_visit(&self, name: &str, f: &mut dyn FnMut(&str, &'a dyn Module)) {
        f(name, self.0)
    }
}

/// Chosen for every other field: does nothing.
pub trait ViaNothing<'a> {
    /// Ignores the field.
    fn __kiln_visit(&self, _name: &str, _f: &mut dyn FnMut(&str, &'a dyn Module)) {}
}

impl<'a, T: ?Sized> ViaNothing<'a> for Probe<'a, T> {}

/// Fields marked `#[module(param)]` or `#[module(buffer)]`.
pub trait TensorField {
    /// Reports the tensor (if present) under `name`.
    fn __kiln_tensor(&self, name: &str, f: &mut dyn FnMut(&str, &Tensor));
}

impl TensorField for Tensor {
    fn __kiln_tensor(&self, name: &str, f: &mut dyn FnMut(&str, &Tensor)) {
        f(name, self)
    }
}

impl TensorField for Option<Tensor> {
    fn __kiln_tensor(&self, name: &str, f: &mut dyn FnMut(&str, &Tensor)) {
        if let Some(t) = self {
            f(name, t)
        }
    }
}

/// Implemented by nothing: the bound that makes a missing inherent `forward` a compile
/// error with a readable message.
#[diagnostic::on_unimplemented(
    message = "`{Self}` derives Module but has no inherent `fn forward(&self, x: &Tensor) -> Tensor`",
    label = "add `impl {Self} {{ fn forward(&self, x: &Tensor) -> Tensor {{ ... }} }}`"
)]
pub trait HasInherentForward {}

/// In scope inside the derived `Module::forward`: an inherent `forward` wins over it;
/// without one, the call resolves here (or is ambiguous with `Module::forward`) and fails
/// to compile instead of recursing forever.
pub trait MissingForward {
    /// Never callable: `Self: HasInherentForward` does not hold for any type.
    fn forward(&self, _input: &Tensor) -> Tensor
    where
        Self: HasInherentForward,
    {
        unreachable!("no type implements HasInherentForward")
    }
}

impl<T: ?Sized> MissingForward for T {}
