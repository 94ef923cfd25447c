//! The device seam: which backend runs a kernel, chosen from where its tensors live.
//!
//! Every op-level kernel in [`crate::tensor::kernels`] starts with [`select`], which
//! checks that its tensors share one device (PyTorch's "Expected all tensors to be on
//! the same device" otherwise) and returns that device's [`Backend`]. The backend runs
//! the kernel on its own buffers; ops above never see a slice.
//!
//! [`Cpu`] is the only backend today. A CUDA or wgpu backend is a new folder beside
//! `cpu/` that implements [`Backend`], plus one arm in [`for_device`].

pub mod cpu;

pub use cpu::Cpu;

use super::device::{Device, same_device};
use super::random::{BernoulliScalarKernel, Generator};
use super::{DType, Tensor};
use crate::tensor::kernels::arith::{BinaryOp, CompareOp, LogicalOp};
use crate::tensor::kernels::conv::ConvGeom;
use crate::tensor::kernels::nll::NllPlan;
use crate::tensor::kernels::pool::{AvgMode, PoolGeom};
use crate::tensor::kernels::rnn::{RnnForward, RnnGrads, RnnPlan, RnnSaved, RnnWeights};
use crate::tensor::kernels::unary::UnaryOp;

/// The kernels a device provides, with op-level signatures: tensors in, tensors out.
///
/// Closure-taking primitives (`kernels::elementwise::map`/`zip`, `reduce`) are the CPU
/// backend's own building blocks and have no entry here: a device backend implements
/// named ops instead.
pub trait Backend: Send + Sync {
    /// The device this backend's buffers live on.
    fn device(&self) -> Device;

    /// A copy of `x` (on this backend) in host memory, as a CPU tensor.
    fn download(&self, x: &Tensor) -> Tensor;
    /// A copy of the CPU tensor `x` in this backend's memory.
    fn upload(&self, x: &Tensor) -> Tensor;

    /// `op(x)` elementwise.
    fn unary(&self, op: UnaryOp, x: &Tensor) -> Tensor;
    /// Relu's backward from its output: `out <= 0 ? 0 : g`.
    fn relu_backward(&self, g: &Tensor, out: &Tensor) -> Tensor;
    /// `op(a, b)` with broadcasting, `a` and `b` of one dtype.
    fn binary(&self, op: BinaryOp, a: &Tensor, b: &Tensor) -> Tensor;
    /// `op(a, b)` as a `bool` mask, with broadcasting.
    fn compare(&self, op: CompareOp, a: &Tensor, b: &Tensor) -> Tensor;
    /// `op(a, b)` on `bool` masks, with broadcasting.
    fn logical(&self, op: LogicalOp, a: &Tensor, b: &Tensor) -> Tensor;
    /// `!x` on a `bool` mask.
    fn logical_not(&self, x: &Tensor) -> Tensor;
    /// `dst = op(dst, src)` in place, `src` broadcast to `dst`.
    fn binary_(&self, op: BinaryOp, dst: &Tensor, src: &Tensor);
    /// `dst += alpha * src` in place (float).
    fn add_scaled_(&self, dst: &Tensor, src: &Tensor, alpha: f64);
    /// `dst = alpha * src` (float, `src` of `dst`'s shape and dtype).
    fn assign_scaled(&self, dst: &Tensor, src: &Tensor, alpha: f64);
    /// `dst` overwritten with `value` (same dtype) broadcast to its shape.
    fn assign(&self, op: &str, dst: &Tensor, value: &Tensor);
    /// `x` where `cond` else `y`, broadcast to `shape`.
    fn where_(&self, cond: &Tensor, x: &Tensor, y: &Tensor, shape: &[usize]) -> Tensor;

    /// Sum over `dims`, reduced dims removed.
    fn sum(&self, x: &Tensor, dims: &[usize]) -> Tensor;
    /// The `p`-norm of all elements as an f64 on the host.
    fn norm_f64(&self, x: &Tensor, p: f64) -> f64;
    /// Product over `dims`, reduced dims removed.
    fn prod(&self, x: &Tensor, dims: &[usize]) -> Tensor;
    /// The product of the other elements of each contiguous run of `n`.
    fn others_product(&self, x: &Tensor, n: usize) -> Tensor;
    /// Inclusive cumulative sum along `dim` (from the end when `reverse`).
    fn cumsum(&self, x: &Tensor, dim: usize, reverse: bool) -> Tensor;
    /// Inclusive cumulative product along `dim`.
    fn cumprod(&self, x: &Tensor, dim: usize) -> Tensor;
    /// The gradient of `out = cumprod(x, dim)` for the upstream `g` (exact with zeros).
    fn cumprod_backward(&self, x: &Tensor, out: &Tensor, g: &Tensor, dim: usize) -> Tensor;
    /// Max (or min) over `dims`, NaN winning.
    fn extreme(&self, op: &str, x: &Tensor, dims: &[usize], is_max: bool) -> Tensor;
    /// Index of the first max (or min) along `dim`.
    fn arg_extreme(&self, op: &str, x: &Tensor, dim: usize, is_max: bool) -> Tensor;
    /// Element `idx[k]` of every contiguous run `k` of length `n`.
    fn take_along(&self, op: &str, c: &Tensor, idx: &[i64], n: usize, shape: &[usize]) -> Tensor;
    /// Softmax (or log-softmax) along `dim`.
    fn softmax(&self, x: &Tensor, dim: usize, log: bool) -> Tensor;
    /// Backward of softmax (or log-softmax) from its output `y`.
    fn softmax_backward(&self, g: &Tensor, y: &Tensor, dim: usize, log: bool) -> Tensor;

    /// 2-D convolution forward under a checked geometry.
    fn conv2d(&self, x: &Tensor, w: &Tensor, bias: Option<&Tensor>, g: &ConvGeom) -> Tensor;
    /// Convolution gradient with respect to the input.
    fn conv2d_input_grad(&self, gy: &Tensor, w: &Tensor, g: &ConvGeom) -> Tensor;
    /// Convolution gradient with respect to the weight.
    fn conv2d_weight_grad(&self, gy: &Tensor, x: &Tensor, g: &ConvGeom) -> Tensor;
    /// `unfold` (im2col): the `[N, C * kH * kW, L]` sliding blocks of an image.
    fn unfold(&self, x: &Tensor, g: &ConvGeom) -> Tensor;
    /// `fold` (col2im): columns summed back into `[N, C, H, W]`.
    fn fold(&self, cols: &Tensor, g: &ConvGeom) -> Tensor;
    /// Max pooling: maxima and int64 in-plane argmax indices.
    fn max_pool2d(&self, x: &Tensor, g: &PoolGeom) -> (Tensor, Tensor);
    /// Max pooling input gradient from the argmax indices.
    fn max_pool2d_backward(&self, gy: &Tensor, idx: &Tensor, g: &PoolGeom) -> Tensor;
    /// Average pooling.
    fn avg_pool2d(&self, x: &Tensor, g: &PoolGeom, m: AvgMode) -> Tensor;
    /// Average pooling input gradient.
    fn avg_pool2d_backward(&self, gy: &Tensor, g: &PoolGeom, m: AvgMode) -> Tensor;
    /// Adaptive average pooling.
    fn adaptive_avg_pool2d(&self, x: &Tensor, g: &PoolGeom) -> Tensor;
    /// Adaptive average pooling input gradient.
    fn adaptive_avg_pool2d_backward(&self, gy: &Tensor, g: &PoolGeom) -> Tensor;

    /// Entries `idx` along `dim`.
    fn index_select(&self, x: &Tensor, dim: usize, idx: &[usize]) -> Tensor;
    /// `x` with `source`'s slices added at `idx` along `dim`.
    fn index_add(&self, x: &Tensor, dim: usize, idx: &[usize], source: &Tensor) -> Tensor;
    /// `torch.gather` with checked indices shaped `index_shape`.
    fn gather(&self, x: &Tensor, dim: usize, idx: &[usize], index_shape: &[usize]) -> Tensor;
    /// `torch.scatter_add` (out of place) with checked indices shaped `index_shape`.
    fn scatter_add(
        &self,
        x: &Tensor,
        dim: usize,
        idx: &[usize],
        index_shape: &[usize],
        src: &Tensor,
    ) -> Tensor;
    /// `parts` joined along `dim`.
    fn cat(&self, parts: &[Tensor], dim: usize) -> Tensor;
    /// Zeros of `in_shape` with `x` written at `start, start + step, ...` along `dim`.
    fn slice_scatter_zeros(
        &self,
        x: &Tensor,
        in_shape: &[usize],
        dim: usize,
        start: usize,
        step: usize,
    ) -> Tensor;

    /// Overwrites `dst` in logical order with `values` converted to its dtype.
    fn write_f64(&self, dst: &Tensor, values: &[f64]);
    /// `dst.copy_(src)` for equal shapes, converting dtype.
    fn copy_into(&self, dst: &Tensor, src: &Tensor);
    /// `buf = (1 - f) * buf + f * scale * stat` in place (f64 arithmetic).
    fn running_update(&self, buf: &Tensor, stat: &Tensor, f: f64, scale: f64);
    /// `x.to(dtype)` as a new contiguous tensor.
    fn cast(&self, x: &Tensor, dtype: DType) -> Tensor;
    /// Rows of `t` along dim 0, copied in order into one contiguous tensor.
    fn select_rows(&self, t: &Tensor, rows: &[usize]) -> Tensor;
    /// Equally shaped tensors of one dtype stacked along a new first dimension.
    fn stack(&self, tensors: &[Tensor]) -> Tensor;
    /// `u8` elements mapped through a 256-entry `f32` table, reshaped to `shape`.
    fn byte_table(&self, x: &Tensor, table: &[f32; 256], shape: &[usize]) -> Tensor;

    /// `t.uniform_(low, high)` in place, PyTorch's draws.
    fn uniform_(&self, t: &Tensor, low: f64, high: f64, g: &mut Generator);
    /// `t.normal_(mean, std)` in place, PyTorch's draws.
    fn normal_(&self, t: &Tensor, mean: f64, std: f64, g: &mut Generator);
    /// Dropout's scaled keep-mask and the masked `x`, from the default generator.
    fn dropout(&self, x: &Tensor, keep: f64, kernel: BernoulliScalarKernel) -> (Tensor, Tensor);

    /// Rows of the 2-D `weight` at `rows`, shaped `shape` (`F.embedding`).
    fn embedding(&self, weight: &Tensor, rows: &[usize], shape: &[usize]) -> Tensor;
    /// Rows of `grad` summed into a `[num, dim]` tensor, skipping `padding`.
    fn embedding_backward(
        &self,
        grad: &Tensor,
        rows: &[usize],
        num: usize,
        padding: Option<usize>,
    ) -> Tensor;

    /// One recurrent layer-direction over a whole (packed) sequence (`kernels::rnn`).
    fn rnn_forward(
        &self,
        plan: &RnnPlan,
        x: &Tensor,
        h0: &Tensor,
        c0: Option<&Tensor>,
        w: RnnWeights<'_>,
    ) -> RnnForward;
    /// Its backward through time.
    #[allow(clippy::too_many_arguments)]
    fn rnn_backward(
        &self,
        plan: &RnnPlan,
        saved: &RnnSaved,
        x: &Tensor,
        w: RnnWeights<'_>,
        d_out: &Tensor,
        d_hn: &Tensor,
        d_cn: Option<&Tensor>,
    ) -> RnnGrads;

    /// Fused cross entropy of `[M, C]` logits: per-row losses and log-sum-exps.
    fn cross_entropy(&self, x: &Tensor, plan: &NllPlan, eps: f64) -> (Tensor, Tensor);
    /// Its input gradient from each row's upstream coefficient.
    fn cross_entropy_backward(
        &self,
        x: &Tensor,
        plan: &NllPlan,
        eps: f64,
        lse: &Tensor,
        coeff: &[f64],
    ) -> Tensor;
    /// Elementwise binary cross entropy of probabilities `x` against targets `t`.
    fn binary_cross_entropy(&self, x: &Tensor, t: &Tensor) -> Tensor;
}

/// The backend for `device`; panics, naming `op`, for a device this build has no
/// backend for (PyTorch's "Torch not compiled with CUDA enabled").
pub fn for_device(op: &str, device: Device) -> &'static dyn Backend {
    match device {
        Device::Cpu => &Cpu,
        other => {
            other.check_available(op);
            unreachable!("{op}: no backend for {other}")
        }
    }
}

/// The device all of `tensors` live on; panics with PyTorch's message, naming `op`,
/// when two differ. The one device check every multi-tensor op goes through.
pub fn check_same_device(op: &str, tensors: &[&Tensor]) -> Device {
    same_device(op, tensors.iter().map(|t| t.device()))
}

/// The backend that runs `op` on `tensors`: their common device's.
pub fn select(op: &str, tensors: &[&Tensor]) -> &'static dyn Backend {
    for_device(op, check_same_device(op, tensors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_tensors_select_the_cpu_backend() {
        let (a, b) = (Tensor::zeros(&[2]), Tensor::ones(&[3]));
        assert_eq!(select("add", &[&a, &b]).device(), Device::Cpu);
        assert_eq!(check_same_device("add", &[]), Device::Cpu);
    }

    /// The layering rule of ARCHITECTURE.md: dtype dispatch and raw storage access live
    /// under `src/tensor/kernels/` (and the tensor's own accessors), nowhere else.
    /// The first `DType::F32 =>` / `DType::F64 =>` match arm in `text` whose body runs
    /// code per element type: it instantiates a generic at `f32`/`f64` (`::<f32>`, other
    /// than the public copy-out `to_vec::<f32>`) or names the type (`type T = f32`).
    /// Arms that only pick a name, size or tag for a dtype (`DType::F32 => "float32"`)
    /// and arms that build a host `Vec` through the public API pass.
    fn buffer_dtype_arm(text: &str) -> Option<String> {
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            if !(t.starts_with("DType::F32 =>") || t.starts_with("DType::F64 =>")) {
                continue;
            }
            // The arm's body: this line and the following ones up to the next arm.
            let mut body = String::from(&t["DType::F32 =>".len()..]);
            for next in lines.iter().skip(i + 1).take(12) {
                let n = next.trim_start();
                if n.starts_with("DType::") || n.starts_with("d =>") || n.starts_with("_ =>") {
                    break;
                }
                body.push_str(n);
            }
            let body = body
                .replace("to_vec::<f32>", "")
                .replace("to_vec::<f64>", "");
            let generic = ["::<f32", "::<f64", "type "]
                .iter()
                .any(|k| body.contains(k));
            if generic {
                return Some(t.to_string());
            }
        }
        None
    }

    #[test]
    fn the_dtype_arm_needle_tells_buffer_work_from_naming() {
        let flagged = [
            "match d {\n    DType::F32 => run::<f32>(x),\n    _ => todo!(),\n}",
            "match d {\n    DType::F64 => {\n        type T = f64;\n        go::<T>()\n    }\n}",
            "match d {\n    DType::F32 => Tensor::from_vec(run_forward::<f32>(&g), &s),\n}",
        ];
        for t in flagged {
            assert!(buffer_dtype_arm(t).is_some(), "missed: {t}");
        }
        let passed = [
            "match d {\n    DType::F32 => \"float32\",\n    DType::F64 => \"float64\",\n}",
            "match d {\n    DType::F32 => t\n        .to_vec::<f32>()\n        .iter(),\n}",
            "match d {\n    DType::F32 | DType::F64 => 2,\n}",
        ];
        for t in passed {
            assert!(buffer_dtype_arm(t).is_none(), "false positive: {t}");
        }
    }

    #[test]
    fn only_the_kernel_layer_dispatches_on_dtype() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).expect("read src") {
                let p = e.expect("dir entry").path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        walk(&src, &mut files);
        let allowed = [
            "tensor/kernels/",
            "tensor/backend/",
            "tensor/mod.rs",
            "tensor/storage.rs",
            // The buffer allocator under Storage (its unit tests look at buffer addresses).
            "tensor/alloc.rs",
        ];
        let needles = [
            "float_dispatch!(",
            "numeric_dispatch!(",
            "dtype_dispatch!(",
            "any_dispatch!(",
            "slice_mut(",
            // Any spelling: `with_contiguous(`, `with_contiguous::<T, _>(`, a path to it.
            "with_contiguous",
        ];
        let mut offenders = Vec::new();
        for f in &files {
            let rel = f
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            if allowed.iter().any(|a| rel.starts_with(a)) {
                continue;
            }
            let text = std::fs::read_to_string(f).expect("read file");
            for n in needles {
                if text.contains(n) {
                    offenders.push(format!("{rel}: {n}"));
                }
            }
            if let Some(line) = buffer_dtype_arm(&text) {
                offenders.push(format!("{rel}: dtype match over buffers: {line}"));
            }
        }
        assert!(
            offenders.is_empty(),
            "buffer access outside the kernel layer: {offenders:?}"
        );
    }

    #[test]
    #[should_panic(expected = "to: kiln not compiled with CUDA enabled")]
    fn no_backend_for_cuda() {
        for_device("to", Device::Cuda(0));
    }
}
