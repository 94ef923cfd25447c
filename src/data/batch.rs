//! How a list of samples of one type becomes a batch: PyTorch's `default_collate`,
//! decided by the sample type at compile time.

use super::gather::stack;
use crate::tensor::Tensor;

/// A sample type that [`crate::data::DefaultCollate`] knows how to batch.
///
/// Like `torch.utils.data.default_collate`: tensors are stacked along a new first
/// dimension, numbers become a 1-D tensor (integers as `i64`, `f64` as float64, `f32`
/// as float32), tuples are collated field by field and `Vec`s position by position.
///
/// ```
/// use kiln::data::Collatable;
/// use kiln::{DType, Tensor};
/// let samples = vec![(Tensor::zeros(&[2]), 0i64), (Tensor::ones(&[2]), 1i64)];
/// let (x, y) = <(Tensor, i64)>::collate(samples);
/// assert_eq!(x.shape(), &[2, 2]);
/// assert_eq!((y.dtype(), y.to_vec::<i64>()), (DType::I64, vec![0, 1]));
/// ```
pub trait Collatable: Sized {
    /// The batched form.
    type Batch;

    /// Batches `samples`, in order. Panics if they cannot be batched (e.g. tensors
    /// of different shapes), with PyTorch's message.
    fn collate(samples: Vec<Self>) -> Self::Batch;
}

impl Collatable for Tensor {
    type Batch = Tensor;

    fn collate(samples: Vec<Tensor>) -> Tensor {
        stack(&samples)
    }
}

macro_rules! number {
    ($t:ty => $e:ty, |$v:ident| $conv:expr) => {
        impl Collatable for $t {
            type Batch = Tensor;

            fn collate(samples: Vec<$t>) -> Tensor {
                let n = samples.len();
                let values: Vec<$e> = samples.into_iter().map(|$v| $conv).collect();
                Tensor::from_vec(values, &[n])
            }
        }
    };
}

number!(i64 => i64, |v| v);
number!(i32 => i64, |v| i64::from(v));
number!(usize => i64, |v| i64::try_from(v).expect("collate: index does not fit in i64"));
number!(u8 => u8, |v| v);
number!(f32 => f32, |v| v);
number!(f64 => f64, |v| v);
number!(bool => bool, |v| v);

impl Collatable for String {
    type Batch = Vec<String>;

    fn collate(samples: Vec<String>) -> Vec<String> {
        samples
    }
}

/// Splits a list of tuples into one list per field.
macro_rules! tuple {
    ($($T:ident $v:ident $i:tt),+) => {
        impl<$($T: Collatable),+> Collatable for ($($T,)+) {
            type Batch = ($($T::Batch,)+);

            fn collate(samples: Vec<Self>) -> Self::Batch {
                $(let mut $v = Vec::with_capacity(samples.len());)+
                for s in samples {
                    $($v.push(s.$i);)+
                }
                ($($T::collate($v),)+)
            }
        }
    };
}

tuple!(A a 0);
tuple!(A a 0, B b 1);
tuple!(A a 0, B b 1, C c 2);
tuple!(A a 0, B b 1, C c 2, E e 3);

impl<T: Collatable> Collatable for Vec<T> {
    type Batch = Vec<T::Batch>;

    fn collate(samples: Vec<Vec<T>>) -> Vec<T::Batch> {
        let width = samples.first().map_or(0, Vec::len);
        assert!(
            samples.iter().all(|s| s.len() == width),
            "each element in list of batch should be of equal size"
        );
        let mut columns: Vec<Vec<T>> = (0..width)
            .map(|_| Vec::with_capacity(samples.len()))
            .collect();
        for s in samples {
            for (col, v) in columns.iter_mut().zip(s) {
                col.push(v);
            }
        }
        columns.into_iter().map(T::collate).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::DType;

    #[test]
    fn numbers_become_1d_tensors_of_pytorch_dtypes() {
        assert_eq!(i64::collate(vec![3, 1]).dtype(), DType::I64);
        assert_eq!(usize::collate(vec![3, 1]).to_vec::<i64>(), vec![3, 1]);
        assert_eq!(f64::collate(vec![0.5]).dtype(), DType::F64);
        assert_eq!(f32::collate(vec![0.5]).dtype(), DType::F32);
        assert_eq!(u8::collate(vec![1, 2]).dtype(), DType::U8);
    }

    #[test]
    fn tuples_and_vecs_collate_field_by_field() {
        let s = vec![
            (Tensor::zeros(&[3]), 1i64, 0.5f64),
            (Tensor::ones(&[3]), 2i64, 1.5f64),
        ];
        let (x, y, z) = <(Tensor, i64, f64)>::collate(s);
        assert_eq!(x.shape(), &[2, 3]);
        assert_eq!(y.to_vec::<i64>(), vec![1, 2]);
        assert_eq!(z.to_vec::<f64>(), vec![0.5, 1.5]);
        let v = Vec::<i64>::collate(vec![vec![1, 2], vec![3, 4], vec![5, 6]]);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].to_vec::<i64>(), vec![1, 3, 5]);
        assert_eq!(v[1].to_vec::<i64>(), vec![2, 4, 6]);
    }

    #[test]
    #[should_panic(expected = "each element in list of batch should be of equal size")]
    fn ragged_vecs_panic() {
        Vec::<i64>::collate(vec![vec![1, 2], vec![3]]);
    }
}
