//! The graph frees itself: deep graphs drop and backward without recursion, backward
//! releases saved tensors unless `retain_graph`, and tensor hooks run and come off.

use kiln::autograd::{BackwardOptions, grad, grad_with_options};
use kiln::{Tensor, tensor};
use std::sync::{Arc, Mutex};

const FREED: &str = "Trying to backward through the graph a second time (or directly access \
saved tensors after they have already been freed). Saved intermediate values of the graph are \
freed when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to \
backward through the graph a second time or if you need to access saved tensors after calling \
backward.";

fn chain(x: &Tensor, n: usize) -> Tensor {
    let mut y = x.shallow_clone();
    for _ in 0..n {
        y = &y * 1.0;
    }
    y
}

/// Runs `f` on a fresh thread with a 2 MiB stack, as `std::thread::spawn` gives by default.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .expect("the thread did not overflow its stack");
}

#[test]
fn million_node_chain_drops_on_a_2mib_thread() {
    on_small_stack(|| {
        let x = tensor(&[1.0]).requires_grad_(true);
        let y = chain(&x, 1_000_000);
        drop(y);
    });
}

#[test]
fn hundred_thousand_node_chain_drops_on_the_test_thread() {
    let x = tensor(&[1.0]).requires_grad_(true);
    drop(chain(&x, 100_000));
}

#[test]
fn deep_chain_backward_and_drop_after_it_on_a_2mib_thread() {
    on_small_stack(|| {
        let x = tensor(&[2.0]).requires_grad_(true);
        let y = chain(&x, 200_000).sum();
        y.backward();
        assert_eq!(x.grad().unwrap().to_vec::<f32>(), vec![1.0]);
        drop(y);
    });
}

#[test]
fn deep_graph_with_higher_order_history_drops() {
    on_small_stack(|| {
        let x = tensor(&[2.0]).requires_grad_(true);
        let mut y = x.shallow_clone();
        for _ in 0..50_000 {
            y = &y * &x;
        }
        y.sum().backward_create_graph();
        // x.grad now carries a graph as deep as y's: both must drop.
        drop(y);
        x.set_grad(None);
    });
}

#[test]
fn second_backward_panics_with_pytorchs_message() {
    let x = tensor(&[3.0]).requires_grad_(true);
    let y = (&x * &x).sum();
    y.backward();
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| y.backward())).unwrap_err();
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_else(|| err.downcast_ref::<&str>().unwrap().to_string());
    assert_eq!(msg, FREED);
    assert_eq!(x.grad().unwrap().to_vec::<f32>(), vec![6.0]);
}

fn first_input_node(t: &Tensor) -> std::sync::Arc<kiln::tensor::graph::Node> {
    match t.grad_fn().unwrap().next[0].clone() {
        Some(kiln::tensor::graph::Edge::Node(n)) => n,
        _ => panic!("expected a node"),
    }
}

#[test]
fn backward_releases_nodes_that_save_and_keeps_the_others() {
    let x = tensor(&[3.0]).requires_grad_(true);
    let a = x.exp();
    let y = (&a * &a).sum();
    let mul = first_input_node(&y);
    assert_eq!(mul.name(), "MulBackward0");
    let exp = a.grad_fn().unwrap();
    assert!(!mul.is_released() && !exp.is_released());
    y.backward_retain_graph();
    assert!(!mul.is_released() && !exp.is_released());
    y.backward();
    assert!(mul.is_released() && exp.is_released());
    // SumBackward0 keeps only a shape, so it is never released.
    assert!(!y.grad_fn().unwrap().is_released());
}

#[test]
fn retain_graph_allows_a_second_backward() {
    let x = tensor(&[3.0]).requires_grad_(true);
    let y = (&x * &x).sum();
    y.backward_retain_graph();
    y.backward_with_options(None, BackwardOptions::new().retain_graph(true));
    y.backward();
    assert_eq!(x.grad().unwrap().to_vec::<f32>(), vec![18.0]);
}

#[test]
fn nodes_without_saved_tensors_run_twice() {
    // PyTorch: AddBackward0 and SumBackward0 save nothing, so this works without retain.
    let x = tensor(&[1.0, 2.0]).requires_grad_(true);
    let y = (&x + 1.0).sum();
    y.backward();
    y.backward();
    assert_eq!(x.grad().unwrap().to_vec::<f32>(), vec![2.0, 2.0]);
}

#[test]
#[should_panic(expected = "Trying to backward through the graph a second time")]
fn autograd_grad_frees_by_default() {
    let x = tensor(&[2.0]).requires_grad_(true);
    let y = x.exp().sum();
    let _ = grad(
        std::slice::from_ref(&y),
        std::slice::from_ref(&x),
        None,
        false,
    );
    y.backward();
}

#[test]
fn autograd_grad_with_retain_graph_keeps_it() {
    let x = tensor(&[2.0]).requires_grad_(true);
    let y = x.exp().sum();
    let opts = BackwardOptions::new().retain_graph(true);
    let g1 = grad_with_options(
        std::slice::from_ref(&y),
        std::slice::from_ref(&x),
        None,
        opts,
    )[0]
    .clone();
    y.backward();
    assert_eq!(
        g1.unwrap().to_vec::<f32>(),
        x.grad().unwrap().to_vec::<f32>()
    );
}

#[test]
fn create_graph_retains_by_default_and_options_say_so() {
    assert!(BackwardOptions::new().create_graph(true).retains_graph());
    assert!(
        !BackwardOptions::new()
            .create_graph(true)
            .retain_graph(false)
            .retains_graph()
    );
    assert!(!BackwardOptions::new().retains_graph());
    let x = tensor(&[2.0]).requires_grad_(true);
    let y = x.pow_scalar(3.0).sum();
    y.backward_create_graph();
    y.backward();
    assert_eq!(x.grad().unwrap().to_vec::<f32>(), vec![24.0]);
}

#[test]
#[should_panic(expected = "modified by an inplace operation")]
fn inplace_check_still_fires_with_retained_graph() {
    let a = tensor(&[1.0, 2.0]).requires_grad_(true);
    let b = tensor(&[3.0, 4.0]);
    let y = (&a * &b).sum();
    y.backward_retain_graph();
    b.mul_scalar_(2.0);
    y.backward();
}

#[test]
fn hook_on_a_leaf_replaces_the_gradient_once_per_backward() {
    let x = tensor(&[1.0, 2.0]).requires_grad_(true);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    let _h = x.register_hook(move |g| {
        c.lock().unwrap().push(g.to_vec::<f32>());
        Some(g.mul_scalar(10.0))
    });
    // x is used twice: the hook sees the sum of both uses, once.
    (&x * 2.0 + &x * 3.0).sum().backward();
    assert_eq!(*calls.lock().unwrap(), vec![vec![5.0, 5.0]]);
    assert_eq!(x.grad().unwrap().to_vec::<f32>(), vec![50.0, 50.0]);
}

#[test]
fn hooks_run_in_order_and_remove_takes_one_out() {
    let x = tensor(&[1.0]).requires_grad_(true);
    let log = Arc::new(Mutex::new(Vec::new()));
    let (l1, l2) = (log.clone(), log.clone());
    let h1 = x.register_hook(move |g| {
        l1.lock().unwrap().push(("first", g.item()));
        Some(g.add_scalar(1.0))
    });
    let _h2 = x.register_hook(move |g| {
        l2.lock().unwrap().push(("second", g.item()));
        None
    });
    (&x * 1.0).sum().backward();
    assert_eq!(*log.lock().unwrap(), vec![("first", 1.0), ("second", 2.0)]);
    assert_eq!(x.grad().unwrap().item(), 2.0);
    h1.remove();
    h1.remove();
    log.lock().unwrap().clear();
    x.set_grad(None);
    (&x * 1.0).sum().backward();
    assert_eq!(*log.lock().unwrap(), vec![("second", 1.0)]);
    assert_eq!(x.grad().unwrap().item(), 1.0);
}

#[test]
fn hook_on_a_non_leaf_changes_what_flows_on_and_what_is_retained() {
    let x = tensor(&[1.0, 2.0]).requires_grad_(true);
    let y = &x * 3.0;
    y.retain_grad();
    let h = y.register_hook(|g| Some(g.mul_scalar(2.0)));
    y.sum().backward();
    assert_eq!(y.grad().unwrap().to_vec::<f32>(), vec![2.0, 2.0]);
    assert_eq!(x.grad().unwrap().to_vec::<f32>(), vec![6.0, 6.0]);
    h.remove();
    x.set_grad(None);
    (&x * 3.0).sum().backward();
    assert_eq!(x.grad().unwrap().to_vec::<f32>(), vec![3.0, 3.0]);
}

#[test]
fn hooks_apply_to_autograd_grad_of_an_input() {
    let x = tensor(&[2.0]).requires_grad_(true);
    let _h = x.register_hook(|g| Some(g.neg()));
    let y = x.pow_scalar(2.0).sum();
    let g = grad(&[y], std::slice::from_ref(&x), None, false)[0].clone();
    assert_eq!(g.unwrap().item(), -4.0);
    assert!(x.grad().is_none());
}

#[test]
fn post_accumulate_grad_hook_sees_the_accumulated_grad() {
    let x = tensor(&[1.0]).requires_grad_(true);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let _pre = x.register_hook(|g| Some(g.mul_scalar(2.0)));
    let h = x.register_post_accumulate_grad_hook(move |t| {
        s.lock().unwrap().push(t.grad().unwrap().item());
    });
    (&x * 3.0).sum().backward();
    (&x * 3.0).sum().backward();
    assert_eq!(*seen.lock().unwrap(), vec![6.0, 12.0]);
    // autograd::grad leaves .grad alone, so the hook does not run.
    let _ = grad(&[(&x * 3.0).sum()], std::slice::from_ref(&x), None, false);
    assert_eq!(seen.lock().unwrap().len(), 2);
    h.remove();
    (&x * 3.0).sum().backward();
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[test]
#[should_panic(expected = "post accumulate grad hooks cannot be registered on non-leaf tensors")]
fn post_accumulate_grad_hook_needs_a_leaf() {
    let x = tensor(&[1.0]).requires_grad_(true);
    let _ = (&x * 2.0).register_post_accumulate_grad_hook(|_| {});
}

#[test]
#[should_panic(expected = "cannot register a hook on a tensor that doesn't require gradient")]
fn hook_needs_requires_grad() {
    let _ = tensor(&[1.0]).register_hook(|_| None);
}

#[test]
fn plain_tensors_carry_no_autograd_state() {
    let t = tensor(&[1.0]);
    assert!(!t.requires_grad() && t.is_leaf() && t.grad().is_none());
    t.set_grad(None);
    t.requires_grad_(false);
    assert!(!t.requires_grad());
    t.requires_grad_(true);
    assert!(t.requires_grad());
    t.requires_grad_(false);
    assert!(!t.requires_grad());
}
