//! Finite-difference gradchecks (f64) for every loss, linear, embedding and the norm
//! layers, including broadcast and non-contiguous inputs and second order for the fused
//! cross entropy.

use kiln::Tensor;
use kiln::autograd::{GradModeGuard, grad, gradcheck};
use kiln::nn::functional as F;
use kiln::nn::{CrossEntropyOptions, LayerNorm, Module, Reduction};

const REDS: [Reduction; 3] = [Reduction::None, Reduction::Mean, Reduction::Sum];

fn r(shape: &[usize]) -> Tensor {
    Tensor::randn(shape).double()
}

fn check(f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    gradcheck(f, inputs, 1e-6, 1e-7, 1e-5).unwrap();
}

#[test]
fn regression_losses() {
    kiln::manual_seed(1);
    for red in REDS {
        check(
            |t| F::mse_loss_with(&t[0], &t[1], red),
            &[r(&[3, 4]), r(&[3, 4])],
        );
        check(
            |t| F::l1_loss_with(&t[0], &t[1], red),
            &[r(&[3, 4]), r(&[3, 4])],
        );
        for beta in [1.0, 0.3] {
            check(
                |t| F::smooth_l1_loss(&t[0], &t[1], red, beta),
                &[r(&[3, 4]), r(&[3, 4])],
            );
            check(
                |t| F::huber_loss(&t[0], &t[1], red, beta),
                &[r(&[3, 4]), r(&[3, 4])],
            );
        }
    }
    // Transposed (non-contiguous) input.
    let a = r(&[4, 3]).t();
    check(
        |t| F::mse_loss_with(&t[0], &t[1], Reduction::Mean),
        &[a, r(&[3, 4])],
    );
}

#[test]
fn classification_losses() {
    kiln::manual_seed(2);
    let target = kiln::tensor(&[0i64, 3, 1, -100, 2]);
    let weight = kiln::tensor(&[0.5, 2.0, 1.0, 0.25]).double();
    for red in REDS {
        for (w, ls) in [
            (None, 0.0),
            (Some(weight.shallow_clone()), 0.0),
            (Some(weight.shallow_clone()), 0.2),
        ] {
            let opts = CrossEntropyOptions {
                weight: w,
                reduction: red,
                label_smoothing: ls,
                ..Default::default()
            };
            check(
                |t| F::cross_entropy_with(&t[0], &target, &opts),
                &[r(&[5, 4])],
            );
            if ls == 0.0 {
                check(
                    |t| F::nll_loss_with(&t[0].log_softmax(1), &target, &opts),
                    &[r(&[5, 4])],
                );
            }
        }
        let probs = r(&[5, 4]).softmax(1);
        let opts = CrossEntropyOptions {
            reduction: red,
            label_smoothing: 0.1,
            ..Default::default()
        };
        check(
            |t| F::cross_entropy_with(&t[0], &t[1], &opts),
            &[r(&[5, 4]), probs],
        );
    }
    // Class dim in the middle and a transposed input.
    let t3 = kiln::tensor(&[[0i64, 2, 1], [3, 3, 0]]);
    check(|t| F::cross_entropy(&t[0], &t3), &[r(&[2, 4, 3])]);
    let tt = kiln::tensor(&[0i64, 2, 1]);
    check(|t| F::cross_entropy(&t[0], &tt), &[r(&[4, 3]).t()]);
}

#[test]
fn binary_losses() {
    kiln::manual_seed(3);
    let w = r(&[3]).abs();
    for red in REDS {
        let p = r(&[2, 3]).sigmoid();
        check(
            |t| F::binary_cross_entropy_with(&t[0], &t[1], Some(&w), red),
            &[p, r(&[2, 3]).sigmoid()],
        );
        let pw = r(&[3]).abs();
        check(
            |t| F::binary_cross_entropy_with_logits_with(&t[0], &t[1], Some(&w), Some(&pw), red),
            &[r(&[2, 3]).mul_scalar(3.0), r(&[2, 3]).sigmoid()],
        );
    }
}

#[test]
fn cross_entropy_second_order() {
    kiln::manual_seed(4);
    let target = kiln::tensor(&[1i64, 0, 2, 2]);
    for ls in [0.0, 0.3] {
        let opts = CrossEntropyOptions {
            weight: Some(kiln::tensor(&[1.0, 0.5, 2.0]).double()),
            label_smoothing: ls,
            ..Default::default()
        };
        let f = |t: &[Tensor]| {
            let x = if t[0].requires_grad() {
                t[0].shallow_clone()
            } else {
                t[0].detach().requires_grad_(true)
            };
            let _g = GradModeGuard::new(true);
            let loss = F::cross_entropy_with(&x, &target, &opts);
            grad(&[loss], &[x], None, true)[0].clone().unwrap()
        };
        check(f, &[r(&[4, 3])]);
    }
}

#[test]
fn linear_embedding_layernorm() {
    kiln::manual_seed(5);
    check(
        |t| F::linear(&t[0], &t[1], Some(&t[2])),
        &[r(&[4, 3]), r(&[2, 3]), r(&[2])],
    );
    check(
        |t| F::linear(&t[0], &t[1], None),
        &[r(&[2, 4, 3]), r(&[5, 3])],
    );
    check(
        |t| F::linear(&t[0], &t[1], Some(&t[2])),
        &[r(&[3]), r(&[2, 3]).t().t(), r(&[2])],
    );
    check(
        |t| F::linear(&t[0], &t[1], Some(&t[2])),
        &[r(&[3, 4]).t(), r(&[2, 3]), r(&[2])],
    );
    let idx = kiln::tensor(&[[0i64, 2, 2], [1, 0, 3]]);
    check(|t| F::embedding(&idx, &t[0], None), &[r(&[4, 3])]);
    // (padding_idx deliberately zeroes a true gradient, so it is covered by the fixtures.)
    check(
        |t| F::embedding(&idx, &t[0], None).mul(&t[1]),
        &[r(&[4, 3]), r(&[2, 3, 3])],
    );
    let mut ln = LayerNorm::new(&[4]);
    ln.weight = Some(r(&[4]));
    ln.bias = Some(r(&[4]));
    check(|t| ln.forward(&t[0]), &[r(&[3, 4])]);
}

#[test]
fn dropout_is_inverted_and_off_in_eval() {
    kiln::manual_seed(6);
    let x = Tensor::ones(&[100_000]).requires_grad_(true);
    let y = F::dropout(&x, 0.2, true);
    let v = y.to_vec::<f32>();
    let kept = v.iter().filter(|&&e| e != 0.0).count() as f64 / v.len() as f64;
    assert!((kept - 0.8).abs() < 0.01, "kept {kept}");
    assert!(v.iter().all(|&e| e == 0.0 || (e - 1.25).abs() < 1e-6));
    y.sum().backward();
    assert_eq!(x.grad().unwrap().to_vec::<f32>(), v);
    let z = F::dropout(&x, 0.2, false);
    assert!(z.same_tensor(&x));
    assert!(
        F::dropout(&x, 1.0, true)
            .to_vec::<f32>()
            .iter()
            .all(|&e| e == 0.0)
    );
}
