//! Gradchecks for softmax and log_softmax, first and second order.

use kiln::Tensor;
use kiln::autograd::{grad, gradcheck};

fn x(shape: &[usize]) -> Tensor {
    Tensor::randn(shape).double()
}

#[test]
fn gradcheck_softmax_every_dim() {
    for dim in [0isize, 1, -1] {
        gradcheck(|t| t[0].softmax(dim), &[x(&[3, 4])], 1e-6, 1e-7, 1e-5).unwrap();
        gradcheck(|t| t[0].log_softmax(dim), &[x(&[3, 4])], 1e-6, 1e-7, 1e-5).unwrap();
    }
    gradcheck(|t| t[0].softmax(1), &[x(&[2, 3, 4])], 1e-6, 1e-7, 1e-5).unwrap();
    gradcheck(|t| t[0].log_softmax(1), &[x(&[2, 3, 4])], 1e-6, 1e-7, 1e-5).unwrap();
}

#[test]
fn gradcheck_softmax_non_contiguous_input() {
    let t = x(&[4, 3]).t();
    assert!(!t.is_contiguous());
    gradcheck(
        |v| v[0].softmax(-1),
        std::slice::from_ref(&t),
        1e-6,
        1e-7,
        1e-5,
    )
    .unwrap();
    gradcheck(|v| v[0].log_softmax(0), &[t], 1e-6, 1e-7, 1e-5).unwrap();
}

#[test]
fn gradcheck_softmax_second_order() {
    for log in [false, true] {
        let f = move |t: &[Tensor]| {
            // The numerical probes run under no_grad with plain tensors: re-enable
            // recording on a fresh leaf there so the inner gradient can be taken.
            let xi = if t[0].requires_grad() {
                t[0].shallow_clone()
            } else {
                t[0].detach().requires_grad_(true)
            };
            let _g = kiln::autograd::GradModeGuard::new(true);
            let y = if log {
                xi.log_softmax(1)
            } else {
                xi.softmax(1)
            };
            // d/dx of sum(y * w) with a fixed weight, recorded so it can be differentiated.
            let w = Tensor::from_vec(vec![0.3f64, -1.2, 0.7, 2.0, 0.1, -0.4], &[2, 3]);
            let s = y.mul(&w).mul(&y).sum();
            grad(&[s], &[xi], None, true)[0].clone().unwrap()
        };
        gradcheck(f, &[x(&[2, 3])], 1e-6, 1e-6, 1e-5).unwrap();
    }
}

#[test]
fn integer_input_is_promoted() {
    let t = kiln::tensor(&[1i64, 2, 3]);
    let s = t.softmax(0);
    assert_eq!(s.dtype(), kiln::DType::F32);
}
