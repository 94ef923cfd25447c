//! Dynamic-graph automatic differentiation: grad mode, the backward engine, every op's
//! derivative (in `ops`), and numerical gradient checking.

pub mod engine;
pub mod explain;
pub mod gradcheck;
pub mod mode;
pub mod ops;
pub mod record;

pub use crate::tensor::hooks::RemovableHandle;
pub use engine::{BackwardOptions, Grads, TensorList, grad, grad_with_options};
pub use explain::{detect_anomaly, explain, set_detect_anomaly};
pub use gradcheck::gradcheck;
pub use mode::{
    GradModeGuard, enable_grad, is_grad_enabled, no_grad, no_grad_guard, set_grad_enabled,
};
