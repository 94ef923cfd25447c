//! Differentiable operations: each op's forward and derivative side by side.

pub mod activation;
pub mod binary;
pub mod cast;
pub mod matmul;
pub mod operators;
pub mod reduce;
pub mod select;
pub mod softmax;
pub mod unary;
pub mod view;
