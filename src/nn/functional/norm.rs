//! `F.layer_norm` and `F.batch_norm`, the functions behind `LayerNorm` and
//! `BatchNorm1d`/`BatchNorm2d`.

use crate::autograd::no_grad;
use crate::tensor::Tensor;
use crate::tensor::kernels::copy::running_update;

/// Normalises over the trailing `normalized_shape` dims of each sample with the biased
/// variance, then scales by `weight` and shifts by `bias` where given
/// (`F.layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5)`; PyTorch's
/// default eps is `1e-5`). Differentiable in `x`, `weight` and `bias`.
///
/// ```
/// use kiln::nn::functional as F;
/// let x = kiln::tensor(&[[1.0f32, 3.0], [2.0, 2.0]]);
/// let y = F::layer_norm(&x, &[2], None, None, 1e-5);
/// let v = y.to_vec::<f32>();
/// assert!((v[0] + 1.0).abs() < 1e-4 && (v[1] - 1.0).abs() < 1e-4 && v[2] == 0.0);
/// ```
///
/// # Panics
/// If the input's trailing dims are not `normalized_shape` (PyTorch's message), or
/// `weight`/`bias` is not of shape `normalized_shape`.
pub fn layer_norm(
    x: &Tensor,
    normalized_shape: &[usize],
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Tensor {
    let k = normalized_shape.len();
    assert!(
        x.dim() >= k && x.shape()[x.dim() - k..] == normalized_shape[..],
        "layer_norm: given normalized_shape={normalized_shape:?}, expected input with shape \
         [*, {normalized_shape:?}], but got input of size {:?}",
        x.shape()
    );
    for (name, t) in [("weight", weight), ("bias", bias)] {
        if let Some(t) = t {
            assert!(
                t.shape() == normalized_shape,
                "layer_norm: Expected {name} to be of same shape as normalized_shape, but got \
                 {name} of shape {:?} and normalized_shape = {normalized_shape:?}",
                t.shape()
            );
        }
    }
    let dims: Vec<isize> = (x.dim() - k..x.dim()).map(|d| d as isize).collect();
    let mean = x.mean_dims(&dims, true);
    let xc = x.sub(&mean);
    let var = xc.mul(&xc).mean_dims(&dims, true);
    let y = xc.mul(&var.add_scalar(eps).rsqrt());
    let y = match weight {
        Some(w) => y.mul(w),
        None => y,
    };
    match bias {
        Some(b) => y.add(b),
        None => y,
    }
}

/// Batch normalisation of an `[N, C, *]` input per channel `C`
/// (`F.batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
/// momentum=0.1, eps=1e-5)`).
///
/// With `training`, it normalises with the batch mean and biased variance and, where the
/// running statistics are given, updates them in place:
/// `running = (1 - momentum) * running + momentum * stat`, with the unbiased variance.
/// Without `training` it normalises with `running_mean` and `running_var`, which must be
/// given. Then it scales by `weight` and shifts by `bias` (shape `[C]`) where given.
/// Differentiable in `x`, `weight` and `bias`; the running statistics are buffers.
///
/// ```
/// use kiln::nn::functional as F;
/// let x = kiln::tensor(&[[1.0f32], [3.0]]);
/// let (rm, rv) = (kiln::Tensor::zeros(&[1]), kiln::Tensor::ones(&[1]));
/// let y = F::batch_norm(&x, Some(&rm), Some(&rv), None, None, true, 0.1, 1e-5);
/// assert!((y.to_vec::<f32>()[0] + 1.0).abs() < 1e-4);
/// assert!((rm.to_vec::<f32>()[0] - 0.2).abs() < 1e-6); // 0.9 * 0 + 0.1 * 2
/// assert!((rv.to_vec::<f32>()[0] - 1.1).abs() < 1e-6); // 0.9 * 1 + 0.1 * 2
/// ```
///
/// # Panics
/// If the input has fewer than 2 dims, a channel has one value while training
/// (PyTorch's "Expected more than 1 value per channel when training"), the running
/// statistics are missing in evaluation mode, or a per-channel tensor has not `C`
/// elements.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm(
    x: &Tensor,
    running_mean: Option<&Tensor>,
    running_var: Option<&Tensor>,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> Tensor {
    assert!(
        x.dim() >= 2,
        "batch_norm: expected an input of at least 2 dims [N, C, *] (got shape {:?})",
        x.shape()
    );
    let c = x.shape()[1];
    for (name, t) in [
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ] {
        if let Some(t) = t {
            assert!(
                t.numel() == c,
                "batch_norm: {name} should contain {c} elements not {}",
                t.numel()
            );
        }
    }
    let dims: Vec<isize> = (0..x.dim() as isize).filter(|&d| d != 1).collect();
    let mut pshape = vec![1; x.dim()];
    pshape[1] = c;
    let y = if training {
        let n = x.numel() / c.max(1);
        assert!(
            n > 1,
            "Expected more than 1 value per channel when training, got input size {:?}",
            x.shape()
        );
        let mean = x.mean_dims(&dims, true);
        let xc = x.sub(&mean);
        let var = xc.mul(&xc).mean_dims(&dims, true);
        no_grad(|| {
            let unbias = n as f64 / (n as f64 - 1.0);
            if let Some(rm) = running_mean {
                running_update(rm, &mean.detach(), momentum, 1.0);
            }
            if let Some(rv) = running_var {
                running_update(rv, &var.detach(), momentum, unbias);
            }
        });
        xc.mul(&var.add_scalar(eps).rsqrt())
    } else {
        let (Some(rm), Some(rv)) = (running_mean, running_var) else {
            panic!("batch_norm: running_mean and running_var must be defined in evaluation mode");
        };
        let rm = rm.to_dtype(x.dtype()).reshape(&pshape);
        let rv = rv.to_dtype(x.dtype()).reshape(&pshape);
        x.sub(&rm).mul(&rv.add_scalar(eps).rsqrt())
    };
    let y = match weight {
        Some(w) => y.mul(&w.reshape(&pshape)),
        None => y,
    };
    match bias {
        Some(b) => y.add(&b.reshape(&pshape)),
        None => y,
    }
}
