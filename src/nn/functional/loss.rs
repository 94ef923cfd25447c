//! Regression and binary losses: mse, l1, smooth_l1, huber, binary_cross_entropy
//! (with and without logits). Each takes the reduction explicitly.

use super::Reduction;
use crate::autograd::record::{Saved, record};
use crate::tensor::Tensor;
use crate::tensor::backend::check_same_device;
use crate::tensor::kernels::loss as kernel;

fn same_shape(op: &str, input: &Tensor, target: &Tensor) {
    check_same_device(op, &[input, target]);
    assert!(
        input.shape() == target.shape(),
        "{op}: Using a target size ({:?}) that is different to the input size ({:?}) is not \
         supported",
        target.shape(),
        input.shape()
    );
}

/// `torch.Size([4, 1])`, as PyTorch prints a shape.
fn torch_size(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("torch.Size([{}])", dims.join(", "))
}

/// PyTorch's warning for a loss whose target broadcasts against its input.
pub fn broadcast_warning(input: &[usize], target: &[usize]) -> String {
    format!(
        "Using a target size ({}) that is different to the input size ({}). This will likely \
         lead to incorrect results due to broadcasting. Please ensure they have the same size.",
        torch_size(target),
        torch_size(input)
    )
}

/// Prints [`broadcast_warning`] on stderr the first time `once` sees a shape mismatch
/// (Python shows a warning once per call site).
fn warn_if_broadcast(once: &std::sync::Once, op: &str, input: &Tensor, target: &Tensor) {
    if input.shape() != target.shape() {
        once.call_once(|| {
            eprintln!(
                "UserWarning ({op}): {}",
                broadcast_warning(input.shape(), target.shape())
            );
        });
    }
}

/// Mean squared error averaged over the elements (`F.mse_loss(input, target)`, PyTorch's
/// default `reduction='mean'`); [`mse_loss_with`] takes the reduction.
///
/// ```
/// use kiln::nn::functional as F;
/// let loss = F::mse_loss(&kiln::tensor(&[1.0f32, 2.0]), &kiln::tensor(&[0.0f32, 0.0]));
/// assert_eq!(loss.item(), 2.5);
/// ```
pub fn mse_loss(input: &Tensor, target: &Tensor) -> Tensor {
    mse_loss_with(input, target, Reduction::Mean)
}

/// Mean absolute error averaged over the elements (`F.l1_loss(input, target)`, PyTorch's
/// default `reduction='mean'`); [`l1_loss_with`] takes the reduction.
pub fn l1_loss(input: &Tensor, target: &Tensor) -> Tensor {
    l1_loss_with(input, target, Reduction::Mean)
}

/// Squared error `(x - y)^2` with a reduction (`F.mse_loss(x, y, reduction=...)`). A target whose shape differs from the
/// input's broadcasts, with PyTorch's warning on stderr (once per process).
///
/// One graph node (MseLossBackward0, as in PyTorch) whose derivative is
/// `2 (x - y) g / n` for the input and its negation for the target (`n` the element
/// count under `'mean'`, else 1).
pub fn mse_loss_with(input: &Tensor, target: &Tensor, reduction: Reduction) -> Tensor {
    static ONCE: std::sync::Once = std::sync::Once::new();
    warn_if_broadcast(&ONCE, "mse_loss", input, target);
    check_same_device("mse_loss", &[input, target]);
    let (input, target) = if input.shape() == target.shape() {
        (input.shallow_clone(), target.shallow_clone())
    } else {
        // PyTorch expands both to the common shape before its mse_loss node.
        let shape = crate::tensor::layout::broadcast_shapes(input.shape(), target.shape())
            .unwrap_or_else(|| {
                panic!(
                    "mse_loss: The size of tensor a ({:?}) must match the size of tensor b ({:?})",
                    input.shape(),
                    target.shape()
                )
            });
        (input.expand(&shape), target.expand(&shape))
    };
    let out = crate::autograd::mode::no_grad(|| {
        let d = input.sub(&target);
        reduction.apply(&d.mul(&d))
    });
    let scale = match reduction {
        Reduction::Mean => 2.0 / input.numel().max(1) as f64,
        Reduction::Sum | Reduction::None => 2.0,
    };
    record(out, &[&input, &target], "MseLossBackward0", || {
        let (sx, st) = (Saved::new(&input), Saved::new(&target));
        move |g: &Tensor, n: &[bool]| {
            let d = sx.get().sub(st.get()).mul_scalar(scale).mul(g);
            if n[1] {
                let neg = d.neg();
                vec![n[0].then_some(d), Some(neg)]
            } else {
                vec![Some(d), None]
            }
        }
    })
}

/// Absolute error `|x - y|` with a reduction (`F.l1_loss(x, y, reduction=...)`); the gradient at 0 is 0. A target of
/// another shape broadcasts, with PyTorch's warning (once per process).
pub fn l1_loss_with(input: &Tensor, target: &Tensor, reduction: Reduction) -> Tensor {
    static ONCE: std::sync::Once = std::sync::Once::new();
    warn_if_broadcast(&ONCE, "l1_loss", input, target);
    reduction.apply(&input.sub(target).abs())
}

/// `0.5 d^2 / beta` where `|d| < beta`, else `|d| - 0.5 beta` (`F.smooth_l1_loss`);
/// `beta == 0` is the L1 loss.
pub fn smooth_l1_loss(input: &Tensor, target: &Tensor, reduction: Reduction, beta: f64) -> Tensor {
    assert!(
        beta >= 0.0,
        "smooth_l1_loss does not support negative values for beta."
    );
    let d = input.sub(target);
    let a = d.abs();
    if beta == 0.0 {
        return reduction.apply(&a);
    }
    let quad = d.mul(&d).mul_scalar(0.5 / beta);
    let lin = a.sub_scalar(0.5 * beta);
    reduction.apply(&Tensor::where_(&a.lt_scalar(beta), &quad, &lin))
}

/// `0.5 d^2` where `|d| < delta`, else `delta (|d| - 0.5 delta)` (`F.huber_loss`):
/// `delta * smooth_l1_loss(beta=delta)`.
pub fn huber_loss(input: &Tensor, target: &Tensor, reduction: Reduction, delta: f64) -> Tensor {
    assert!(
        delta > 0.0,
        "huber_loss does not support non-positive values for delta."
    );
    let d = input.sub(target);
    let a = d.abs();
    let quad = d.mul(&d).mul_scalar(0.5);
    let lin = a.sub_scalar(0.5 * delta).mul_scalar(delta);
    reduction.apply(&Tensor::where_(&a.lt_scalar(delta), &quad, &lin))
}

/// Binary cross entropy of probabilities averaged over the elements
/// (`F.binary_cross_entropy(input, target)`, PyTorch's defaults: no weight,
/// `reduction='mean'`); [`binary_cross_entropy_with`] takes both.
pub fn binary_cross_entropy(input: &Tensor, target: &Tensor) -> Tensor {
    binary_cross_entropy_with(input, target, None, Reduction::Mean)
}

/// Binary cross entropy on logits averaged over the elements
/// (`F.binary_cross_entropy_with_logits(input, target)`, PyTorch's defaults);
/// [`binary_cross_entropy_with_logits_with`] takes `weight`, `pos_weight` and the reduction.
///
/// ```
/// use kiln::nn::functional as F;
/// let (z, t) = (kiln::tensor(&[0.0f32]), kiln::tensor(&[1.0f32]));
/// assert!((F::binary_cross_entropy_with_logits(&z, &t).item() - 2f64.ln()).abs() < 1e-6);
/// ```
pub fn binary_cross_entropy_with_logits(input: &Tensor, target: &Tensor) -> Tensor {
    binary_cross_entropy_with_logits_with(input, target, None, None, Reduction::Mean)
}

/// `-(t log x + (1 - t) log(1 - x))` on probabilities `input`, with a weight and a
/// reduction (`F.binary_cross_entropy(input, target, weight, reduction=...)`).
///
/// Each log is clamped at -100, so `x = 0, t = 1` gives exactly 100; the input gradient
/// is PyTorch's `(x - t) / max(x (1 - x), 1e-12)`.
pub fn binary_cross_entropy_with(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    reduction: Reduction,
) -> Tensor {
    same_shape("binary_cross_entropy", input, target);
    let t = target.to_dtype(input.dtype());
    let out = kernel::binary_cross_entropy(input, &t);
    let out = record(out, &[input, &t], "BinaryCrossEntropyBackward0", || {
        let (sx, st) = (Saved::new(input), Saved::new(&t));
        move |g: &Tensor, n: &[bool]| {
            let (x, t) = (sx.get(), st.get());
            vec![
                n[0].then(|| {
                    // PyTorch clamps with EPSILON = 1e-12 as a float32 constant.
                    let denom = x.rsub_scalar(1.0).mul(x).clamp_min(1e-12f32 as f64);
                    g.mul(&x.sub(t)).div(&denom)
                }),
                n[1].then(|| g.mul(&x.rsub_scalar(1.0).log().sub(&x.log()))),
            ]
        }
    });
    let out = match weight {
        Some(w) => out.mul(w),
        None => out,
    };
    reduction.apply(&out)
}

/// Binary cross entropy on logits, computed stably (`F.binary_cross_entropy_with_logits`):
/// `(1 - t) x + lw * softplus(-x)` with `lw = 1 + (pos_weight - 1) t`, with `weight`,
/// `pos_weight` and a reduction (PyTorch's keyword arguments).
pub fn binary_cross_entropy_with_logits_with(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    pos_weight: Option<&Tensor>,
    reduction: Reduction,
) -> Tensor {
    same_shape("binary_cross_entropy_with_logits", input, target);
    let t = target.to_dtype(input.dtype());
    // softplus(-x) = m + log(e^-m + e^(-x-m)) with m = max(-x, 0): no overflow, and
    // the gradient is exact even at x = 0 where the clamp has a kink.
    let m = input.neg().clamp_min(0.0);
    let sp = m.add(&m.neg().exp().add(&input.neg().sub(&m).exp()).log());
    let sp = match pos_weight {
        Some(pw) => sp.mul(&pw.sub_scalar(1.0).mul(&t).add_scalar(1.0)),
        None => sp,
    };
    let loss = t.rsub_scalar(1.0).mul(input).add(&sp);
    let loss = match weight {
        Some(w) => loss.mul(w),
        None => loss,
    };
    reduction.apply(&loss)
}
