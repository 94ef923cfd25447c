//! `linear`: `x @ W^T + b` as one recorded op.

use crate::autograd::no_grad;
use crate::autograd::record::{Saved, record};
use crate::tensor::Tensor;
use crate::tensor::kernels::matmul::addmm_rows;

/// `x @ weight^T + bias` (`F.linear`); `x` is `[*, in]`, `weight` `[out, in]`, `bias` `[out]`.
///
/// Recorded as a single node (PyTorch's `AddmmBackward0`) whose backward is
/// `g @ W`, `g^T @ x` and `g.sum(0)`.
pub fn linear(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Tensor {
    assert!(
        weight.dim() == 2,
        "linear: weight must be 2-D, got shape {:?}",
        weight.shape()
    );
    let mut operands = vec![x, weight];
    operands.extend(bias);
    crate::tensor::backend::check_same_device("linear", &operands);
    let (out_f, in_f) = (weight.shape()[0], weight.shape()[1]);
    assert!(
        x.dim() >= 1 && x.shape()[x.dim() - 1] == in_f,
        "linear: mat1 and mat2 shapes cannot be multiplied (input {:?}, weight {:?})",
        x.shape(),
        weight.shape()
    );
    if let Some(b) = bias {
        assert!(
            b.shape() == [out_f],
            "linear: bias must have shape [{out_f}], got {:?}",
            b.shape()
        );
    }
    if x.dim() == 1 {
        return linear(&x.unsqueeze(0), weight, bias).squeeze_dim(0);
    }
    if x.dim() > 2 {
        let mut shape = x.shape()[..x.dim() - 1].to_vec();
        let y = linear(&x.reshape_infer(&[-1, in_f as isize]), weight, bias);
        shape.push(out_f);
        return y.reshape(&shape);
    }
    let out = match bias {
        Some(b) => addmm_rows(b, x, &weight.t()),
        None => no_grad(|| x.matmul(&weight.t())),
    };
    let mut inputs = vec![x, weight];
    inputs.extend(bias);
    record(out, &inputs, "AddmmBackward0", || {
        let (sx, sw) = (Saved::new(x), Saved::new(weight));
        move |g: &Tensor, need: &[bool]| {
            let (x, w) = (sx.get(), sw.get());
            let mut grads = vec![
                need[0].then(|| g.matmul(w)),
                need[1].then(|| g.t().matmul(x)),
            ];
            if need.len() > 2 {
                grads.push(need[2].then(|| g.sum_dims(&[0], false)));
            }
            grads
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(
        expected = "addmm: expected one dtype, got input torch.float32, weight torch.float64"
    )]
    fn mixed_dtypes_panic_naming_the_op() {
        let x = Tensor::zeros(&[2, 3]);
        let w = Tensor::zeros(&[4, 3]).to_dtype(crate::DType::F64);
        let b = Tensor::zeros(&[4]);
        linear(&x, &w, Some(&b));
    }

    #[test]
    fn bias_is_added_to_every_row() {
        let x = crate::tensor(&[[1.0, 2.0], [3.0, 4.0]]);
        let w = crate::tensor(&[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]);
        let b = crate::tensor(&[0.5, -1.0, 10.0]);
        let y = linear(&x, &w, Some(&b));
        assert_eq!(y.to_vec::<f32>(), vec![1.5, 1.0, 13.0, 3.5, 3.0, 17.0]);
    }
}
