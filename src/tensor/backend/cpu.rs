//! The CPU backend: host buffers, run by the loops in `crate::tensor::kernels`.
//!
//! Each method hands over to a kernel file's `cpu` half; the closure-based primitives
//! those halves are built from (`elementwise`, `reduce`, `index`, `gemm`) are CPU code
//! through and through and are called directly.

use super::Backend;
use crate::tensor::device::Device;
use crate::tensor::kernels::{cast, copy, embedding, loss, nll, random_fill};
use crate::tensor::random::{BernoulliScalarKernel, Generator};
use crate::tensor::{DType, Tensor};

/// Host memory and CPU threads ([`Device::Cpu`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu;

impl Backend for Cpu {
    fn device(&self) -> Device {
        Device::Cpu
    }

    fn to_host(&self, x: &Tensor) -> Tensor {
        cast::contiguous_copy(x)
    }

    fn from_host(&self, x: &Tensor) -> Tensor {
        cast::contiguous_copy(x)
    }

    fn write_f64(&self, dst: &Tensor, values: &[f64]) {
        copy::cpu::write_f64(dst, values)
    }

    fn copy_into(&self, dst: &Tensor, src: &Tensor) {
        copy::cpu::copy_into(dst, src)
    }

    fn cast(&self, x: &Tensor, dtype: DType) -> Tensor {
        cast::cast(x, dtype)
    }

    fn select_rows(&self, t: &Tensor, rows: &[usize]) -> Tensor {
        copy::cpu::select_rows(t, rows)
    }

    fn stack(&self, tensors: &[Tensor]) -> Tensor {
        copy::cpu::stack(tensors)
    }

    fn byte_table(&self, x: &Tensor, table: &[f32; 256], shape: &[usize]) -> Tensor {
        copy::cpu::byte_table(x, table, shape)
    }

    fn uniform_(&self, t: &Tensor, low: f64, high: f64, g: &mut Generator) {
        random_fill::cpu::uniform_(t, low, high, g)
    }

    fn normal_(&self, t: &Tensor, mean: f64, std: f64, g: &mut Generator) {
        random_fill::cpu::normal_(t, mean, std, g)
    }

    fn dropout(&self, x: &Tensor, keep: f64, kernel: BernoulliScalarKernel) -> (Tensor, Tensor) {
        random_fill::cpu::dropout(x, keep, kernel)
    }

    fn embedding(&self, weight: &Tensor, rows: &[usize], shape: &[usize]) -> Tensor {
        embedding::cpu::forward(weight, rows, shape)
    }

    fn embedding_backward(
        &self,
        grad: &Tensor,
        rows: &[usize],
        num: usize,
        padding: Option<usize>,
    ) -> Tensor {
        embedding::cpu::backward(grad, rows, num, padding)
    }

    fn cross_entropy(&self, x: &Tensor, plan: &nll::NllPlan, eps: f64) -> (Tensor, Tensor) {
        nll::cpu::forward(x, plan, eps)
    }

    fn cross_entropy_backward(
        &self,
        x: &Tensor,
        plan: &nll::NllPlan,
        eps: f64,
        lse: &Tensor,
        coeff: &[f64],
    ) -> Tensor {
        nll::cpu::backward(x, plan, eps, lse, coeff)
    }

    fn binary_cross_entropy(&self, x: &Tensor, t: &Tensor) -> Tensor {
        loss::cpu::binary_cross_entropy(x, t)
    }
}
