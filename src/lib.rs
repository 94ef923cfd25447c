//! # kiln
//!
//! A PyTorch-style deep-learning library for the CPU: tensors with dynamic-graph
//! autograd, `nn` modules, losses, optimizers, datasets and data loaders, checkpoints.
//!
//! ```
//! use kiln::Tensor;
//! let w = kiln::tensor(&[1.0]).requires_grad_(true);
//! let b = kiln::tensor(&[0.0]).requires_grad_(true);
//! let (x, y) = (kiln::tensor(&[2.0]), kiln::tensor(&[4.0]));
//! let loss = (&w * &x + &b - &y).pow_scalar(2.0).sum();
//! loss.backward();
//! assert_eq!(w.grad().unwrap().to_vec::<f32>(), vec![-8.0]);
//! ```

extern crate self as kiln;

pub mod autograd;
pub mod data;
pub mod distributed;
pub mod io;
pub mod nn;
pub mod optim;
pub mod py;
pub mod tensor;

pub use autograd::ops::index::{cat, stack};
pub use autograd::{enable_grad, no_grad, no_grad_guard};
pub use io::{load, save};
pub use tensor::create::tensor;
pub use tensor::parallel::{num_threads as get_num_threads, set_num_threads};
pub use tensor::random::{Generator, manual_seed};
pub use tensor::{DType, Scalar, Size, Tensor};

/// `#[derive(Module)]`: see [`nn::Module`].
pub use kiln_derive::Module;
