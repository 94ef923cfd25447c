//! The CPU backend: host buffers, run by the loops in `crate::tensor::kernels`.
//!
//! Each method hands over to a kernel file's `cpu` half; the closure-based primitives
//! those halves are built from (`elementwise`, `reduce`, `index`, `gemm`) are CPU code
//! through and through and are called directly.

use super::Backend;
use crate::tensor::device::Device;
use crate::tensor::kernels::arith::{self, BinaryOp, CompareOp, LogicalOp};
use crate::tensor::kernels::conv::ConvGeom;
use crate::tensor::kernels::pool::{AvgMode, PoolGeom};
use crate::tensor::kernels::unary::{self, UnaryOp};
use crate::tensor::kernels::{
    cast, conv, copy, embedding, extremum, gather_scatter, loss, nll, pool, random_fill,
    reductions, rnn, select, softmax, unfold,
};
use crate::tensor::random::{BernoulliScalarKernel, Generator};
use crate::tensor::{DType, Tensor};

/// Host memory and CPU threads ([`Device::Cpu`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu;

impl Backend for Cpu {
    fn device(&self) -> Device {
        Device::Cpu
    }

    fn download(&self, x: &Tensor) -> Tensor {
        cast::contiguous_copy(x)
    }

    fn upload(&self, x: &Tensor) -> Tensor {
        cast::contiguous_copy(x)
    }

    fn unary(&self, op: UnaryOp, x: &Tensor) -> Tensor {
        unary::cpu::unary(op, x)
    }

    fn relu_backward(&self, g: &Tensor, out: &Tensor) -> Tensor {
        unary::cpu::relu_backward(g, out)
    }

    fn extreme(&self, op: &str, x: &Tensor, dims: &[usize], is_max: bool) -> Tensor {
        extremum::cpu::extreme(op, x, dims, is_max)
    }

    fn arg_extreme(&self, op: &str, x: &Tensor, dim: usize, is_max: bool) -> Tensor {
        extremum::cpu::arg_extreme(op, x, dim, is_max)
    }

    fn take_along(&self, op: &str, c: &Tensor, idx: &[i64], n: usize, shape: &[usize]) -> Tensor {
        extremum::cpu::take_along(op, c, idx, n, shape)
    }

    fn binary(&self, op: BinaryOp, a: &Tensor, b: &Tensor) -> Tensor {
        arith::cpu::binary(op, a, b)
    }

    fn compare(&self, op: CompareOp, a: &Tensor, b: &Tensor) -> Tensor {
        arith::cpu::compare(op, a, b)
    }

    fn logical(&self, op: LogicalOp, a: &Tensor, b: &Tensor) -> Tensor {
        arith::cpu::logical(op, a, b)
    }

    fn logical_not(&self, x: &Tensor) -> Tensor {
        arith::cpu::logical_not(x)
    }

    fn binary_(&self, op: BinaryOp, dst: &Tensor, src: &Tensor) {
        arith::cpu::binary_(op, dst, src)
    }

    fn add_scaled_(&self, dst: &Tensor, src: &Tensor, alpha: f64) {
        arith::cpu::add_scaled_(dst, src, alpha)
    }

    fn assign_scaled(&self, dst: &Tensor, src: &Tensor, alpha: f64) {
        arith::cpu::assign_scaled(dst, src, alpha)
    }

    fn assign(&self, op: &str, dst: &Tensor, value: &Tensor) {
        arith::cpu::assign(op, dst, value)
    }

    fn where_(&self, cond: &Tensor, x: &Tensor, y: &Tensor, shape: &[usize]) -> Tensor {
        select::cpu::where_(cond, x, y, shape)
    }

    fn sum(&self, x: &Tensor, dims: &[usize]) -> Tensor {
        reductions::cpu::sum(x, dims)
    }

    fn norm_f64(&self, x: &Tensor, p: f64) -> f64 {
        reductions::cpu::norm_f64(x, p)
    }

    fn prod(&self, x: &Tensor, dims: &[usize]) -> Tensor {
        reductions::cpu::prod(x, dims)
    }

    fn others_product(&self, x: &Tensor, n: usize) -> Tensor {
        reductions::cpu::others_product(x, n)
    }

    fn cumsum(&self, x: &Tensor, dim: usize, reverse: bool) -> Tensor {
        reductions::cpu::cumsum(x, dim, reverse)
    }

    fn cumprod(&self, x: &Tensor, dim: usize) -> Tensor {
        reductions::cpu::cumprod(x, dim)
    }

    fn cumprod_backward(&self, x: &Tensor, out: &Tensor, g: &Tensor, dim: usize) -> Tensor {
        reductions::cpu::cumprod_backward(x, out, g, dim)
    }

    fn softmax(&self, x: &Tensor, dim: usize, log: bool) -> Tensor {
        softmax::cpu::forward(x, dim, log)
    }

    fn softmax_backward(&self, g: &Tensor, y: &Tensor, dim: usize, log: bool) -> Tensor {
        softmax::cpu::backward(g, y, dim, log)
    }

    fn conv2d(&self, x: &Tensor, w: &Tensor, bias: Option<&Tensor>, g: &ConvGeom) -> Tensor {
        conv::cpu::forward(x, w, bias, g)
    }

    fn conv2d_input_grad(&self, gy: &Tensor, w: &Tensor, g: &ConvGeom) -> Tensor {
        conv::cpu::input_grad(gy, w, g)
    }

    fn conv2d_weight_grad(&self, gy: &Tensor, x: &Tensor, g: &ConvGeom) -> Tensor {
        conv::cpu::weight_grad(gy, x, g)
    }

    fn unfold(&self, x: &Tensor, g: &ConvGeom) -> Tensor {
        unfold::cpu::unfold(x, g)
    }

    fn fold(&self, cols: &Tensor, g: &ConvGeom) -> Tensor {
        unfold::cpu::fold(cols, g)
    }

    fn max_pool2d(&self, x: &Tensor, g: &PoolGeom) -> (Tensor, Tensor) {
        pool::cpu::max_pool2d(x, g)
    }

    fn max_pool2d_backward(&self, gy: &Tensor, idx: &Tensor, g: &PoolGeom) -> Tensor {
        pool::cpu::max_pool2d_backward(gy, idx, g)
    }

    fn avg_pool2d(&self, x: &Tensor, g: &PoolGeom, m: AvgMode) -> Tensor {
        pool::cpu::avg_pool2d(x, g, m)
    }

    fn avg_pool2d_backward(&self, gy: &Tensor, g: &PoolGeom, m: AvgMode) -> Tensor {
        pool::cpu::avg_pool2d_backward(gy, g, m)
    }

    fn adaptive_avg_pool2d(&self, x: &Tensor, g: &PoolGeom) -> Tensor {
        pool::cpu::adaptive_avg_pool2d(x, g)
    }

    fn adaptive_avg_pool2d_backward(&self, gy: &Tensor, g: &PoolGeom) -> Tensor {
        pool::cpu::adaptive_avg_pool2d_backward(gy, g)
    }

    fn index_select(&self, x: &Tensor, dim: usize, idx: &[usize]) -> Tensor {
        gather_scatter::cpu::index_select(x, dim, idx)
    }

    fn index_add(&self, x: &Tensor, dim: usize, idx: &[usize], source: &Tensor) -> Tensor {
        gather_scatter::cpu::index_add(x, dim, idx, source)
    }

    fn gather(&self, x: &Tensor, dim: usize, idx: &[usize], index_shape: &[usize]) -> Tensor {
        gather_scatter::cpu::gather(x, dim, idx, index_shape)
    }

    fn scatter_add(
        &self,
        x: &Tensor,
        dim: usize,
        idx: &[usize],
        index_shape: &[usize],
        src: &Tensor,
    ) -> Tensor {
        gather_scatter::cpu::scatter_add(x, dim, idx, index_shape, src)
    }

    fn cat(&self, parts: &[Tensor], dim: usize) -> Tensor {
        gather_scatter::cpu::cat(parts, dim)
    }

    fn slice_scatter_zeros(
        &self,
        x: &Tensor,
        in_shape: &[usize],
        dim: usize,
        start: usize,
        step: usize,
    ) -> Tensor {
        gather_scatter::cpu::slice_scatter_zeros(x, in_shape, dim, start, step)
    }

    fn write_f64(&self, dst: &Tensor, values: &[f64]) {
        copy::cpu::write_f64(dst, values)
    }

    fn copy_into(&self, dst: &Tensor, src: &Tensor) {
        copy::cpu::copy_into(dst, src)
    }

    fn running_update(&self, buf: &Tensor, stat: &Tensor, f: f64, scale: f64) {
        copy::cpu::running_update(buf, stat, f, scale)
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

    fn rnn_forward(
        &self,
        plan: &rnn::RnnPlan,
        x: &Tensor,
        h0: &Tensor,
        c0: Option<&Tensor>,
        w: rnn::RnnWeights<'_>,
    ) -> rnn::RnnForward {
        rnn::cpu::forward(plan, x, h0, c0, w)
    }

    fn rnn_backward(
        &self,
        plan: &rnn::RnnPlan,
        saved: &rnn::RnnSaved,
        x: &Tensor,
        w: rnn::RnnWeights<'_>,
        d_out: &Tensor,
        d_hn: &Tensor,
        d_cn: Option<&Tensor>,
    ) -> rnn::RnnGrads {
        rnn::cpu::backward(plan, saved, x, w, d_out, d_hn, d_cn)
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
