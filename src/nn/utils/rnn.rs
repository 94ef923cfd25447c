//! Variable-length batches (`torch.nn.utils.rnn`): [`pad_sequence`],
//! [`pack_padded_sequence`], [`pad_packed_sequence`], [`pack_sequence`] and the
//! [`PackedSequence`] the recurrent layers' `forward_packed` accept.
//!
//! ```
//! use kiln::nn::utils::rnn::{pack_padded_sequence, pad_packed_sequence, pad_sequence};
//! use kiln::nn::GRU;
//! use kiln::Tensor;
//!
//! let seqs = [Tensor::randn(&[2, 3]), Tensor::randn(&[5, 3]), Tensor::randn(&[4, 3])];
//! let padded = pad_sequence(&seqs, false, 0.0); // [5, 3, 3]
//! let packed = pack_padded_sequence(&padded, &[2, 5, 4], false, false);
//! assert_eq!(packed.batch_sizes, [3, 3, 2, 2, 1]);
//! let gru = GRU::new(3, 8);
//! let (out, h_n) = gru.forward_packed(&packed, None);
//! let (out, lengths) = pad_packed_sequence(&out, false, 0.0, None);
//! assert_eq!((out.shape(), lengths.as_slice()), (&[5, 3, 8][..], &[2, 5, 4][..]));
//! assert_eq!(h_n.shape(), &[1, 3, 8]);
//! ```

use crate::tensor::Tensor;

/// A batch of sequences of different lengths, packed step by step (`PackedSequence`):
/// `data` holds the rows of step 0 of every sequence, then those of step 1 of the
/// sequences that long, and so on; `batch_sizes[t]` counts the rows of step `t`.
/// The sequences are ordered longest first; `sorted_indices` (when the batch was sorted
/// here) maps that order back to the caller's, and `unsorted_indices` is its inverse.
#[derive(Clone, Debug)]
pub struct PackedSequence {
    /// `[sum(batch_sizes), *]`.
    pub data: Tensor,
    /// Rows per step, non-increasing.
    pub batch_sizes: Vec<usize>,
    /// Batch position `k` of the packed order is sequence `sorted_indices[k]` of the input.
    pub sorted_indices: Option<Tensor>,
    /// The inverse permutation of `sorted_indices`.
    pub unsorted_indices: Option<Tensor>,
}

/// Stacks sequences `[L_i, *]` into `[max L, B, *]` (`[B, max L, *]` when `batch_first`),
/// padding the short ones with `padding_value` (`pad_sequence`).
pub fn pad_sequence(sequences: &[Tensor], batch_first: bool, padding_value: f64) -> Tensor {
    assert!(
        !sequences.is_empty(),
        "pad_sequence: received an empty list of sequences"
    );
    let trailing = sequences[0].shape()[1..].to_vec();
    let max_len = sequences.iter().map(|s| s.shape()[0]).max().unwrap_or(0);
    let padded: Vec<Tensor> = sequences
        .iter()
        .map(|s| {
            assert!(
                s.dim() >= 1 && s.shape()[1..] == trailing[..],
                "pad_sequence: every sequence must have trailing shape {trailing:?}, got {:?}",
                s.shape()
            );
            let len = s.shape()[0];
            if len == max_len {
                return s.shallow_clone();
            }
            let mut shape = vec![max_len - len];
            shape.extend(&trailing);
            let pad = Tensor::full_on(&shape, padding_value, s.dtype(), s.device());
            Tensor::cat(&[s.shallow_clone(), pad], 0)
        })
        .collect();
    Tensor::stack(&padded, if batch_first { 0 } else { 1 })
}

fn index(v: &[usize]) -> Tensor {
    Tensor::from_vec(
        v.iter().map(|&i| i as i64).collect::<Vec<i64>>(),
        &[v.len()],
    )
}

fn batch_sizes_of(sorted_lengths: &[usize]) -> Vec<usize> {
    let max = sorted_lengths.first().copied().unwrap_or(0);
    (0..max)
        .map(|t| sorted_lengths.iter().filter(|&&l| l > t).count())
        .collect()
}

/// Packs a padded batch `[T, B, *]` (`[B, T, *]` when `batch_first`) whose sequence `b` is
/// `lengths[b]` long (`pack_padded_sequence`). With `enforce_sorted` the lengths must
/// already be non-increasing; otherwise the batch is sorted (stably, longest first) and
/// the permutation kept in the result.
///
/// # Panics
/// With PyTorch's messages, if a length is 0 or beyond `T`, the count is not `B`, or
/// `enforce_sorted` and the lengths are not sorted.
pub fn pack_padded_sequence(
    input: &Tensor,
    lengths: &[usize],
    batch_first: bool,
    enforce_sorted: bool,
) -> PackedSequence {
    assert!(
        input.dim() >= 2,
        "pack_padded_sequence: expected input of at least 2 dims, got {:?}",
        input.shape()
    );
    let x = if batch_first {
        input.transpose(0, 1)
    } else {
        input.shallow_clone()
    };
    let (t, b) = (x.shape()[0], x.shape()[1]);
    assert!(
        lengths.len() == b,
        "pack_padded_sequence: Expected `len(lengths)` to be equal to batch_size, but got {} (batch_size={b})",
        lengths.len()
    );
    let mut order: Vec<usize> = (0..b).collect();
    if enforce_sorted {
        assert!(
            lengths.windows(2).all(|p| p[0] >= p[1]),
            "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep this requirement if you do not need ONNX exportability."
        );
    } else {
        order.sort_by(|&a, &c| lengths[c].cmp(&lengths[a]));
    }
    let sorted: Vec<usize> = order.iter().map(|&i| lengths[i]).collect();
    assert!(
        sorted.last().is_some_and(|&l| l > 0),
        "Length of all samples has to be greater than 0, but found an element in 'lengths' that is <= 0"
    );
    assert!(
        sorted[0] <= t,
        "pack_padded_sequence: a length ({}) exceeds the sequence length {t}",
        sorted[0]
    );
    let batch_sizes = batch_sizes_of(&sorted);
    let rows: Vec<usize> = batch_sizes
        .iter()
        .enumerate()
        .flat_map(|(step, &bt)| {
            order[..bt]
                .iter()
                .map(move |&j| step * b + j)
                .collect::<Vec<_>>()
        })
        .collect();
    let mut flat_shape = vec![t * b];
    flat_shape.extend(&x.shape()[2..]);
    let data = x
        .contiguous()
        .reshape(&flat_shape)
        .index_select(0, &index(&rows));
    let (sorted_indices, unsorted_indices) = if enforce_sorted {
        (None, None)
    } else {
        let mut inv = vec![0; b];
        for (k, &i) in order.iter().enumerate() {
            inv[i] = k;
        }
        (Some(index(&order)), Some(index(&inv)))
    };
    PackedSequence {
        data,
        batch_sizes,
        sorted_indices,
        unsorted_indices,
    }
}

/// Packs a list of sequences `[L_i, *]` (`pack_sequence`): [`pad_sequence`] then
/// [`pack_padded_sequence`].
pub fn pack_sequence(sequences: &[Tensor], enforce_sorted: bool) -> PackedSequence {
    let lengths: Vec<usize> = sequences.iter().map(|s| s.shape()[0]).collect();
    pack_padded_sequence(
        &pad_sequence(sequences, false, 0.0),
        &lengths,
        false,
        enforce_sorted,
    )
}

/// Unpacks to a padded `[T, B, *]` batch (`[B, T, *]` when `batch_first`) in the
/// caller's original order, with each sequence's length (`pad_packed_sequence`).
/// `total_length` pads `T` further (it must be at least the longest length).
pub fn pad_packed_sequence(
    sequence: &PackedSequence,
    batch_first: bool,
    padding_value: f64,
    total_length: Option<usize>,
) -> (Tensor, Vec<usize>) {
    let bs = &sequence.batch_sizes;
    let (max_len, b) = (bs.len(), bs.first().copied().unwrap_or(0));
    let t = total_length.unwrap_or(max_len);
    assert!(
        t >= max_len,
        "Expected total_length to be at least the length of the longest sequence in the input, but got total_length={t} and max sequence length being {max_len}"
    );
    let n: usize = bs.iter().sum();
    let data = &sequence.data;
    let trailing = data.shape()[1..].to_vec();
    let mut pad_shape = vec![1];
    pad_shape.extend(&trailing);
    let pad = Tensor::full_on(&pad_shape, padding_value, data.dtype(), data.device());
    let source = Tensor::cat(&[data.shallow_clone(), pad], 0);
    let mut rows = Vec::with_capacity(t * b);
    let mut off = 0;
    for step in 0..t {
        let bt = bs.get(step).copied().unwrap_or(0);
        rows.extend((0..b).map(|j| if j < bt { off + j } else { n }));
        off += bt;
    }
    let mut shape = vec![t, b];
    shape.extend(&trailing);
    let mut out = source.index_select(0, &index(&rows)).reshape(&shape);
    let mut lengths: Vec<usize> = (0..b)
        .map(|j| bs.iter().filter(|&&bt| bt > j).count())
        .collect();
    if let Some(unsorted) = &sequence.unsorted_indices {
        out = out.index_select(1, unsorted);
        let inv: Vec<i64> = unsorted.to_vec::<i64>();
        lengths = inv.iter().map(|&k| lengths[k as usize]).collect();
    }
    if batch_first {
        out = out.transpose(0, 1);
    }
    (out, lengths)
}
