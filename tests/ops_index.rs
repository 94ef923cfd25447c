//! Shape and indexing ops: finite-difference gradchecks (first and second order, with
//! non-contiguous inputs) and the panic messages of misuse.

use kiln::autograd::{grad, gradcheck};
use kiln::{DType, Tensor, enable_grad};
use std::panic::{AssertUnwindSafe, catch_unwind};

fn randn(shape: &[usize]) -> Tensor {
    Tensor::randn(shape).double()
}

fn idx(v: &[i64], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape)
}

fn check(f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    gradcheck(f, inputs, 1e-6, 1e-6, 1e-5).unwrap();
}

/// Checks the gradient of `x -> d/dx sum(f(x)^3)`: the backward of `f`'s backward.
fn check_second_order(f: impl Fn(&Tensor) -> Tensor, x: Tensor) {
    check(
        |xs| {
            enable_grad(|| {
                let x = &xs[0];
                let x = if x.requires_grad() {
                    x.shallow_clone()
                } else {
                    x.detach().requires_grad_(true)
                };
                let y = f(&x).pow_scalar(3.0).sum();
                grad(&[y], &[x], None, true)[0].clone().unwrap()
            })
        },
        &[x],
    );
}

/// The panic message of `f`.
fn panic_message(f: impl FnOnce() -> Tensor) -> String {
    let err = catch_unwind(AssertUnwindSafe(|| {
        f();
    }))
    .expect_err("expected a panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .expect("string panic payload")
}

fn assert_mentions(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "message {msg:?} should mention {p:?}");
    }
}

// ---- gradchecks: views ----

#[test]
fn gradcheck_narrow() {
    check(|x| x[0].narrow(1, 1, 2), &[randn(&[3, 4])]);
    check(|x| x[0].narrow(0, -2, 2), &[randn(&[3, 4])]);
    // On a transposed (non-contiguous) input.
    check(
        |x| x[0].t().narrow(1, 1, 2).mul(&x[0].t().narrow(1, 0, 2)),
        &[randn(&[3, 4])],
    );
}

#[test]
fn gradcheck_slice_with_step() {
    check(|x| x[0].slice(1, None, None, 2), &[randn(&[3, 5])]);
    check(|x| x[0].slice(0, Some(-3), Some(100), 2), &[randn(&[5, 2])]);
    check(
        |x| x[0].transpose(0, 1).slice(0, Some(1), Some(-1), 3),
        &[randn(&[2, 7])],
    );
    check_second_order(|x| x.slice(-1, Some(1), None, 2), randn(&[2, 5]));
}

#[test]
fn gradcheck_select_and_unbind() {
    check(|x| x[0].select(1, -1), &[randn(&[3, 4])]);
    check(
        |x| x[0].permute(&[2, 0, 1]).select(0, 2),
        &[randn(&[2, 3, 4])],
    );
    check(
        |x| {
            let rows = x[0].unbind(0);
            rows[0].mul(&rows[2]).add(&rows[1])
        },
        &[randn(&[3, 4])],
    );
    check_second_order(|x| x.select(0, 1), randn(&[3, 2]));
}

#[test]
fn gradcheck_split_and_chunk() {
    let weighted_cat = |parts: Vec<Tensor>, dim: isize| {
        let scaled: Vec<Tensor> = parts
            .iter()
            .enumerate()
            .map(|(i, t)| t.mul_scalar(i as f64 + 1.0))
            .collect();
        kiln::cat(&scaled, dim)
    };
    check(|x| weighted_cat(x[0].split(2, 1), 1), &[randn(&[2, 5])]);
    check(
        |x| weighted_cat(x[0].split_sizes(&[1, 3, 1], 0), 0),
        &[randn(&[5, 2])],
    );
    check(|x| weighted_cat(x[0].chunk(3, -1), -1), &[randn(&[2, 7])]);
    // Only one piece used: the others get no gradient.
    check(
        |x| x[0].t().chunk(2, 0)[1].shallow_clone(),
        &[randn(&[3, 4])],
    );
}

#[test]
fn gradcheck_expand_permute_transpose() {
    check(|x| x[0].expand(&[2, 3, 4]), &[randn(&[3, 1])]);
    check(|x| x[0].t().expand(&[2, 4, 3]), &[randn(&[3, 4])]);
    check(|x| x[0].permute(&[2, 0, 1]), &[randn(&[2, 3, 4])]);
    check(
        |x| x[0].transpose(0, 2).mul(&x[1]),
        &[randn(&[2, 3, 4]), randn(&[4, 3, 2])],
    );
}

#[test]
fn gradcheck_reshape_of_non_contiguous_input() {
    check(|x| x[0].t().reshape(&[12]), &[randn(&[3, 4])]);
    check(
        |x| x[0].permute(&[1, 2, 0]).reshape_infer(&[-1, 2]),
        &[randn(&[2, 3, 2])],
    );
    check(
        |x| x[0].slice(1, None, None, 2).flatten(0, -1),
        &[randn(&[3, 4])],
    );
    check_second_order(|x| x.t().reshape(&[6]), randn(&[2, 3]));
}

#[test]
fn gradcheck_unsqueeze_squeeze() {
    check(|x| x[0].unsqueeze(1).unsqueeze(-1), &[randn(&[3, 2])]);
    check(|x| x[0].squeeze(), &[randn(&[3, 1, 2, 1])]);
    check(|x| x[0].squeeze_dim(1).t(), &[randn(&[3, 1, 2])]);
}

// ---- gradchecks: indexing ----

#[test]
fn gradcheck_index_select() {
    let i = idx(&[2, 0, 2, 1], &[4]);
    check(|x| x[0].index_select(0, &i), &[randn(&[3, 2])]);
    check(|x| x[0].t().index_select(1, &i), &[randn(&[3, 2])]);
    check(
        |x| x[0].index_select(1, &Tensor::scalar(1i64)),
        &[randn(&[2, 3])],
    );
    check_second_order(|x| x.index_select(-1, &i), randn(&[2, 3]));
}

#[test]
fn gradcheck_index_add() {
    let i = idx(&[1, 1, 0], &[3]);
    check(
        |x| x[0].index_add(1, &i, &x[1]),
        &[randn(&[2, 3]), randn(&[2, 3])],
    );
}

#[test]
fn gradcheck_gather() {
    let i = idx(&[0, 2, 2, 1, 0, 0], &[2, 3]);
    check(|x| x[0].gather(1, &i), &[randn(&[2, 4])]);
    // Index smaller than the input away from `dim`, on a transposed input.
    let j = idx(&[1, 0], &[1, 2]);
    check(|x| x[0].t().gather(0, &j), &[randn(&[3, 2])]);
    check_second_order(|x| x.gather(1, &i), randn(&[2, 3]));
}

#[test]
fn gradcheck_scatter_add() {
    let i = idx(&[0, 2, 2, 1, 0, 0], &[2, 3]);
    check(
        |x| x[0].scatter_add(1, &i, &x[1]),
        &[randn(&[2, 4]), randn(&[2, 3])],
    );
    // src larger than the index: the extra entries get zero gradient.
    check(
        |x| x[0].scatter_add(1, &idx(&[1, 1], &[1, 2]), &x[1].t()),
        &[randn(&[2, 3]), randn(&[3, 2])],
    );
    check_second_order(
        |x| Tensor::zeros_dtype(&[2, 4], DType::F64).scatter_add(1, &i, x),
        randn(&[2, 3]),
    );
}

#[test]
fn gradcheck_cat_and_stack() {
    check(
        |x| kiln::cat(&[x[0].shallow_clone(), x[1].t(), x[0].shallow_clone()], 0),
        &[randn(&[2, 3]), randn(&[3, 1])],
    );
    check(
        |x| Tensor::cat(&[x[0].shallow_clone(), x[1].shallow_clone()], -1),
        &[randn(&[2, 1]), randn(&[2, 3])],
    );
    check(
        |x| kiln::stack(&[x[0].shallow_clone(), x[1].t()], 1),
        &[randn(&[2, 3]), randn(&[3, 2])],
    );
    check(
        |x| Tensor::stack(&[x[0].shallow_clone(), x[0].mul(&x[0])], 2),
        &[randn(&[2, 2])],
    );
}

// ---- forward values ----

#[test]
fn gather_and_scatter_add_values() {
    // torch.tensor([[1., 2.], [3., 4.]]).gather(1, torch.tensor([[0, 0], [1, 0]]))
    //   -> tensor([[1., 1.], [4., 3.]])
    let x = kiln::tensor(&[[1.0, 2.0], [3.0, 4.0]]);
    let i = idx(&[0, 0, 1, 0], &[2, 2]);
    assert_eq!(x.gather(1, &i).to_vec::<f32>(), vec![1.0, 1.0, 4.0, 3.0]);
    // torch.zeros(2, 2).scatter_add(1, i, x) -> tensor([[3., 0.], [4., 3.]])
    let s = Tensor::zeros(&[2, 2]).scatter_add(1, &i, &x);
    assert_eq!(s.to_vec::<f32>(), vec![3.0, 0.0, 4.0, 3.0]);
}

#[test]
fn cat_then_split_round_trip_keeps_labels() {
    let a = Tensor::randint(0, 10, &[3, 2]);
    let b = Tensor::randint(0, 10, &[1, 2]);
    let c = kiln::cat(&[a.shallow_clone(), b.shallow_clone()], 0);
    assert_eq!(c.dtype(), DType::I64);
    let parts = c.split_sizes(&[3, 1], 0);
    assert_eq!(parts[0].to_vec::<i64>(), a.to_vec::<i64>());
    assert_eq!(parts[1].to_vec::<i64>(), b.to_vec::<i64>());
}

#[test]
fn grad_fn_names_match_pytorch() {
    let x = randn(&[4, 3]).requires_grad_(true);
    let i = idx(&[0], &[1]);
    let name = |t: Tensor| t.grad_fn().unwrap().name();
    assert_eq!(name(x.narrow(0, 1, 1)), "SliceBackward0");
    assert_eq!(name(x.slice(0, None, None, 2)), "SliceBackward0");
    assert_eq!(name(x.select(0, 1)), "SelectBackward0");
    assert_eq!(name(x.split(2, 0).remove(0)), "SplitBackward0");
    assert_eq!(
        name(x.split_sizes(&[1, 3], 0).remove(0)),
        "SplitWithSizesBackward0"
    );
    assert_eq!(name(x.index_select(0, &i)), "IndexSelectBackward0");
    assert_eq!(name(x.gather(0, &idx(&[0], &[1, 1]))), "GatherBackward0");
    assert_eq!(
        name(kiln::cat(&[x.shallow_clone(), x.shallow_clone()], 0)),
        "CatBackward0"
    );
    assert_eq!(
        name(kiln::stack(&[x.shallow_clone(), x.shallow_clone()], 0)),
        "StackBackward0"
    );
}

// ---- panic messages ----

#[test]
fn matmul_mismatch_names_op_and_both_shapes() {
    let m = panic_message(|| Tensor::zeros(&[1, 3]).matmul(&Tensor::zeros(&[2])));
    assert_mentions(&m, &["matmul", "[1, 3]", "[2]"]);
}

#[test]
fn reshape_to_incompatible_shape() {
    let m = panic_message(|| Tensor::zeros(&[3, 4]).reshape(&[5, 3]));
    assert_mentions(&m, &["reshape", "[5, 3]", "size 12"]);
    let m = panic_message(|| Tensor::zeros(&[3, 4]).t().view(&[12]));
    assert_mentions(&m, &["view", "[4, 3]"]);
}

#[test]
fn index_out_of_range_names_op_index_and_size() {
    let x = Tensor::zeros(&[3, 4]);
    let m = panic_message(|| x.index_select(0, &idx(&[1, 5], &[2])));
    assert_mentions(&m, &["index_select", "index 5", "size 3"]);
    let m = panic_message(|| x.index_select(1, &idx(&[-1], &[1])));
    assert_mentions(&m, &["index_select", "index -1", "size 4"]);
    let m = panic_message(|| x.gather(1, &idx(&[4], &[1, 1])));
    assert_mentions(&m, &["gather", "index 4", "dimension 1", "size 4"]);
    let m = panic_message(|| x.scatter_add(0, &idx(&[7], &[1, 1]), &Tensor::ones(&[1, 1])));
    assert_mentions(&m, &["scatter_add", "index 7", "size 3"]);
    let m = panic_message(|| x.select(0, 3));
    assert_mentions(&m, &["select", "index 3", "[3, 4]"]);
    let m = panic_message(|| x.narrow(1, 2, 3));
    assert_mentions(&m, &["narrow", "start (2) + length (3)", "(4)"]);
}

#[test]
fn index_must_be_int64() {
    let x = Tensor::zeros(&[3]);
    let m = panic_message(|| x.index_select(0, &Tensor::zeros(&[1])));
    assert_mentions(&m, &["index_select", "int64", "float32"]);
    let m = panic_message(|| x.gather(0, &Tensor::zeros_dtype(&[1], DType::U8)));
    assert_mentions(&m, &["gather", "int64", "uint8"]);
}

#[test]
fn gather_and_scatter_shape_rules() {
    let x = Tensor::zeros(&[3, 4]);
    let m = panic_message(|| x.gather(1, &idx(&[0], &[1])));
    assert_mentions(
        &m,
        &["gather", "same number of dimensions", "[1]", "[3, 4]"],
    );
    let m = panic_message(|| x.gather(1, &Tensor::zeros_dtype(&[4, 1], DType::I64)));
    assert_mentions(&m, &["gather", "[4, 1]", "[3, 4]"]);
    let m = panic_message(|| {
        x.scatter_add(
            1,
            &Tensor::zeros_dtype(&[2, 2], DType::I64),
            &Tensor::zeros(&[1, 2]),
        )
    });
    assert_mentions(&m, &["scatter_add", "[2, 2]", "[1, 2]"]);
}

#[test]
fn cat_and_stack_mismatch_name_op_and_shapes() {
    let (a, b) = (Tensor::zeros(&[3, 4]), Tensor::zeros(&[3, 5]));
    let m = panic_message(|| kiln::cat(&[a.shallow_clone(), b.shallow_clone()], 0));
    assert_mentions(
        &m,
        &["cat", "dimension 0", "[3, 4]", "[3, 5]", "tensor number 1"],
    );
    let m = panic_message(|| kiln::cat(&[a.shallow_clone(), Tensor::zeros(&[3])], 0));
    assert_mentions(&m, &["cat", "same number of dimensions", "[3, 4]", "[3]"]);
    let m = panic_message(|| kiln::cat(&[], 0));
    assert_mentions(&m, &["cat", "non-empty"]);
    let m = panic_message(|| kiln::cat(&[Tensor::scalar(1.0f32)], 0));
    assert_mentions(&m, &["cat", "zero-dimensional"]);
    let m = panic_message(|| kiln::stack(&[a.shallow_clone(), b.shallow_clone()], 0));
    assert_mentions(&m, &["stack", "[3, 4]", "[3, 5]", "entry 1"]);
}

#[test]
fn expand_mismatch_names_shapes() {
    let m = panic_message(|| Tensor::zeros(&[3, 4]).expand(&[2, 3, 5]));
    assert_mentions(&m, &["expand", "[2, 3, 5]", "[3, 4]"]);
}

#[test]
fn broadcast_mismatch_in_add_names_sizes() {
    let m = panic_message(|| Tensor::zeros(&[3, 4]).add(&Tensor::zeros(&[5])));
    assert_mentions(&m, &["add", "(4)", "(5)", "dimension 1"]);
}

#[test]
fn split_and_chunk_misuse() {
    let x = Tensor::zeros(&[3, 2]);
    let m = panic_message(|| x.split(0, 0).remove(0));
    assert_mentions(&m, &["split", "split_size", "3"]);
    let m = panic_message(|| x.split_sizes(&[1, 1], 0).remove(0));
    assert_mentions(&m, &["split_with_sizes", "sum exactly to 3", "[1, 1]"]);
    let m = panic_message(|| x.chunk(0, 0).remove(0));
    assert_mentions(&m, &["chunk", "greater than 0"]);
    let m = panic_message(|| x.slice(0, None, None, 0));
    assert_mentions(&m, &["slice", "step must be positive"]);
}

#[test]
fn dim_out_of_range_and_zero_dim_misuse() {
    let x = Tensor::zeros(&[3, 2]);
    let m = panic_message(|| x.narrow(2, 0, 1));
    assert_mentions(&m, &["narrow", "dimension out of range", "got 2"]);
    let m = panic_message(|| x.permute(&[0, 0]));
    assert_mentions(&m, &["permute", "repeated dim"]);
    let m = panic_message(|| x.unsqueeze(4));
    assert_mentions(&m, &["unsqueeze", "dimension out of range"]);
    let m = panic_message(|| Tensor::scalar(1.0f32).select(0, 0));
    assert_mentions(&m, &["select", "0-dim"]);
}
