//! [`Size`]: a tensor's shape as `tensor.size()` returns it, printing as `torch.Size`.

use std::fmt;
use std::ops::{Deref, DerefMut};

/// A shape (`torch.Size`): a list of dimension sizes that prints as PyTorch prints it,
/// `torch.Size([1, 10])`. It dereferences to `Vec<usize>` (and so to `&[usize]`), so it
/// indexes, iterates and passes to shape arguments like a slice.
///
/// ```
/// let x = kiln::Tensor::zeros(&[1, 10]);
/// assert_eq!(format!("{}", x.size()), "torch.Size([1, 10])");
/// assert_eq!(x.size(), [1, 10]);
/// assert_eq!(x.size()[1], 10);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Size(pub Vec<usize>);

impl Size {
    /// The sizes as a plain vector.
    pub fn into_vec(self) -> Vec<usize> {
        self.0
    }

    /// The number of elements a tensor of this shape holds (`torch.Size.numel()`).
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }
}

impl Deref for Size {
    type Target = Vec<usize>;
    fn deref(&self) -> &Vec<usize> {
        &self.0
    }
}

impl DerefMut for Size {
    fn deref_mut(&mut self) -> &mut Vec<usize> {
        &mut self.0
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "torch.Size({:?})", self.0)
    }
}

impl fmt::Debug for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<Vec<usize>> for Size {
    fn from(v: Vec<usize>) -> Size {
        Size(v)
    }
}

impl From<&[usize]> for Size {
    fn from(v: &[usize]) -> Size {
        Size(v.to_vec())
    }
}

impl From<Size> for Vec<usize> {
    fn from(s: Size) -> Vec<usize> {
        s.0
    }
}

impl IntoIterator for Size {
    type Item = usize;
    type IntoIter = std::vec::IntoIter<usize>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Size {
    type Item = &'a usize;
    type IntoIter = std::slice::Iter<'a, usize>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl PartialEq<Vec<usize>> for Size {
    fn eq(&self, o: &Vec<usize>) -> bool {
        &self.0 == o
    }
}

impl PartialEq<Size> for Vec<usize> {
    fn eq(&self, o: &Size) -> bool {
        self == &o.0
    }
}

impl PartialEq<[usize]> for Size {
    fn eq(&self, o: &[usize]) -> bool {
        self.0 == o
    }
}

impl PartialEq<&[usize]> for Size {
    fn eq(&self, o: &&[usize]) -> bool {
        self.0 == *o
    }
}

impl<const N: usize> PartialEq<[usize; N]> for Size {
    fn eq(&self, o: &[usize; N]) -> bool {
        self.0 == o
    }
}

impl<const N: usize> PartialEq<&[usize; N]> for Size {
    fn eq(&self, o: &&[usize; N]) -> bool {
        self.0 == *o
    }
}

/// A shape argument as PyTorch's `reshape` / `view` / `expand` take it, where one entry
/// may be `-1`: `&[usize]` (e.g. `x.shape()`), a literal like `&[2, -1]` or `[2, -1]`,
/// `&[isize]`, `&[i64]`, `&[i32]`, `Vec`s of those, a [`Size`], or `()` for the 0-d
/// shape (PyTorch's `reshape(())`).
///
/// ```
/// let x = kiln::Tensor::zeros(&[2, 6]);
/// assert_eq!(x.reshape(&[3, -1]).shape(), [3, 4]);
/// assert_eq!(x.reshape([-1]).shape(), [12]);
/// assert_eq!(x.reshape(x.shape()).shape(), [2, 6]);
/// assert_eq!(kiln::Tensor::zeros(&[1]).reshape(()).shape(), [0usize; 0]);
/// ```
pub trait ShapeArg {
    /// The entries, `-1` (or any negative) marking an inferred or kept size.
    fn dims(&self) -> Vec<isize>;
}

macro_rules! shape_arg {
    ($($t:ty),*) => {$(
        impl ShapeArg for [$t] {
            fn dims(&self) -> Vec<isize> {
                self.iter().map(|&d| d as isize).collect()
            }
        }
        impl<const N: usize> ShapeArg for [$t; N] {
            fn dims(&self) -> Vec<isize> {
                self.as_slice().dims()
            }
        }
        impl ShapeArg for Vec<$t> {
            fn dims(&self) -> Vec<isize> {
                self.as_slice().dims()
            }
        }
    )*};
}
shape_arg!(usize, isize, i64, i32);

impl ShapeArg for Size {
    fn dims(&self) -> Vec<isize> {
        self.0.dims()
    }
}

impl ShapeArg for () {
    fn dims(&self) -> Vec<isize> {
        Vec::new()
    }
}

impl<T: ShapeArg + ?Sized> ShapeArg for &T {
    fn dims(&self) -> Vec<isize> {
        (**self).dims()
    }
}
