//! Differentiable operations: each op's forward and derivative side by side.

pub mod activation;
pub mod binary;
pub mod cast;
pub mod conv;
pub mod fold;
pub mod index;
pub mod inplace;
pub mod matmul;
pub mod minmax;
pub mod operators;
pub mod pool;
pub mod reduce;
pub mod reduce_extra;
pub mod scan;
pub mod select;
pub mod slice;
pub mod softmax;
pub mod torch_names;
pub mod unary;
pub mod view;
