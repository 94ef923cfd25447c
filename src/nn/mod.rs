//! Neural-network building blocks (`torch.nn`): the [`Module`] trait and
//! `#[derive(Module)]`, layers, losses, initialisers and the functional API.

mod activation;
mod container;
mod conv;
mod embedding;
pub mod error;
mod fold;
pub mod functional;
pub mod hooks;
pub mod init;
mod linear;
mod loss;
pub mod models;
mod module;
mod norm;
mod norm2d;
mod pool;
#[doc(hidden)]
pub mod private;
mod raw;
mod rnn;
mod rnn_cell;
mod state;
pub mod utils;

/// Support for `#[derive(Module)]`.
#[doc(hidden)]
pub use private as __private;

pub use crate::tensor::hooks::RemovableHandle;
pub use activation::{Dropout, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh};
pub use container::{ModuleList, Sequential};
pub use conv::{Conv1d, Conv2d, ConvTranspose2d};
pub use embedding::Embedding;
pub use error::{NnError, ShapeMismatch};
pub use fold::{Fold, Unfold};
pub use functional::{CrossEntropyOptions, Reduction};
pub use hooks::ModuleHooks;
pub use kiln_derive::Module;
pub use linear::{Flatten, Identity, Linear};
pub use loss::{
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss,
};
pub use module::{LoadReport, Module, Parameter, TrainingFlag};
pub use norm::{BatchNorm1d, LayerNorm};
pub use norm2d::{BatchNorm2d, Dropout2d};
pub use pool::{AdaptiveAvgPool2d, AvgPool2d, MaxPool2d};
pub use rnn::{GRU, LSTM, Nonlinearity, RNN, RnnOptions, RnnParams};
pub use rnn_cell::{CellParams, GRUCell, LSTMCell, RNNCell};
pub use state::StateDict;
