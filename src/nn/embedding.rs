//! `Embedding`: a lookup table of learned vectors.

use super::functional;
use super::init;
use super::module::{Module, TrainingFlag, training_hooks};
use crate::tensor::Tensor;

/// Maps i64 indices to rows of a `[num_embeddings, embedding_dim]` weight
/// (`nn.Embedding`), initialised from N(0, 1) with PyTorch's draws. The `padding_idx` row starts at zero and
/// receives no gradient.
pub struct Embedding {
    /// The lookup table (parameter).
    pub weight: Tensor,
    /// Number of rows.
    pub num_embeddings: usize,
    /// Size of each row.
    pub embedding_dim: usize,
    /// The row that stays zero, if any.
    pub padding_idx: Option<usize>,
    training: TrainingFlag,
}

impl Embedding {
    /// `nn.Embedding(num_embeddings, embedding_dim)`.
    pub fn new(num_embeddings: usize, embedding_dim: usize) -> Self {
        Embedding::with_padding(num_embeddings, embedding_dim, None)
    }

    /// `nn.Embedding(num_embeddings, embedding_dim, padding_idx=...)`.
    pub fn with_padding(
        num_embeddings: usize,
        embedding_dim: usize,
        padding_idx: Option<usize>,
    ) -> Self {
        let weight = Tensor::zeros(&[num_embeddings, embedding_dim]);
        init::normal_(&weight, 0.0, 1.0);
        if let Some(p) = padding_idx {
            assert!(
                p < num_embeddings,
                "Embedding: padding_idx must be within num_embeddings"
            );
            weight.narrow(0, p as isize, 1).zero_();
        }
        Embedding {
            weight: super::Parameter::new(weight),
            num_embeddings,
            embedding_dim,
            padding_idx,
            training: TrainingFlag::new(),
        }
    }
}

impl Module for Embedding {
    fn forward(&self, input: &Tensor) -> Tensor {
        functional::embedding(input, &self.weight, self.padding_idx)
    }
    fn visit_own_parameters(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        f("weight", &self.weight);
    }
    fn extra_repr(&self) -> String {
        let mut s = format!("{}, {}", self.num_embeddings, self.embedding_dim);
        if let Some(p) = self.padding_idx {
            s += &format!(", padding_idx={p}");
        }
        s
    }
    training_hooks!();
}
