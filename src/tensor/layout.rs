//! Shape, strides and offset: how a tensor's logical elements map onto its storage.
//!
//! Every view op (reshape, permute, narrow, expand, ...) is a pure function from one
//! layout to another; no data moves.

/// The shape, strides (in elements) and starting offset of a tensor view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    shape: Vec<usize>,
    strides: Vec<usize>,
    offset: usize,
}

/// Row-major strides for a shape.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc: usize = 1;
    for (s, &d) in strides.iter_mut().zip(shape).rev() {
        *s = acc;
        // Saturating: only an empty shape can get here with a product past usize, and an
        // empty tensor's strides are never used to address memory.
        acc = acc.saturating_mul(d.max(1));
    }
    strides
}

/// The number of elements of `shape`, panicking like PyTorch ("numel: integer
/// multiplication overflow") when the product does not fit in `usize`.
pub fn checked_numel(shape: &[usize]) -> usize {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .unwrap_or_else(|| panic!("numel: integer multiplication overflow for shape {shape:?}"))
}

/// The element count of a new buffer of `shape` with `elem_size`-byte elements, panicking
/// like PyTorch ("Storage size calculation overflowed") when the count or the byte size
/// does not fit (a Rust allocation is at most `isize::MAX` bytes).
pub fn checked_alloc_numel(op: &str, shape: &[usize], elem_size: usize) -> usize {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| {
            n.checked_mul(elem_size)
                .is_some_and(|b| b <= isize::MAX as usize)
        })
        .unwrap_or_else(|| panic!("{op}: Storage size calculation overflowed with sizes={shape:?}"))
}

/// The broadcast of two shapes (NumPy rules), or `None` if they are incompatible.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return None;
        };
    }
    checked_numel(&out);
    Some(out)
}

/// Resolves a possibly negative dimension index against `ndim`, panicking like PyTorch.
pub fn normalize_dim(dim: isize, ndim: usize, op: &str) -> usize {
    let n = ndim.max(1) as isize;
    let d = if dim < 0 { dim + n } else { dim };
    assert!(
        (0..n).contains(&d),
        "{op}: dimension out of range (expected to be in range of [{}, {}], but got {dim})",
        -n,
        n - 1
    );
    d as usize
}

impl Layout {
    /// A contiguous row-major layout.
    ///
    /// Panics if the number of elements overflows `usize`.
    pub fn contiguous(shape: &[usize]) -> Self {
        checked_numel(shape);
        Layout {
            strides: contiguous_strides(shape),
            shape: shape.to_vec(),
            offset: 0,
        }
    }

    /// A layout from raw parts.
    pub fn new(shape: Vec<usize>, strides: Vec<usize>, offset: usize) -> Self {
        debug_assert_eq!(shape.len(), strides.len());
        Layout {
            shape,
            strides,
            offset,
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The strides, in elements.
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }

    /// Index of the first element in storage.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        checked_numel(&self.shape)
    }

    /// Whether the elements are laid out row-major without gaps.
    pub fn is_contiguous(&self) -> bool {
        // Empty tensors are contiguous whatever their strides, as in PyTorch.
        if self.numel() == 0 {
            return true;
        }
        let mut acc = 1;
        for (&d, &s) in self.shape.iter().zip(&self.strides).rev() {
            if d != 1 && s != acc {
                return false;
            }
            acc *= d;
        }
        true
    }

    /// The storage range `[offset, offset + numel)` when contiguous.
    pub fn contiguous_range(&self) -> Option<std::ops::Range<usize>> {
        self.is_contiguous()
            .then(|| self.offset..self.offset + self.numel())
    }

    /// Reshapes without copying, if the strides allow it (PyTorch's `view` rule).
    pub fn reshaped(&self, new_shape: &[usize]) -> Option<Layout> {
        if checked_numel(new_shape) != self.numel() {
            return None;
        }
        if self.is_contiguous() {
            return Some(Layout {
                strides: contiguous_strides(new_shape),
                shape: new_shape.to_vec(),
                offset: self.offset,
            });
        }
        // Merge runs of old dims that are contiguous with each other, then split them.
        let old: Vec<(usize, usize)> = self
            .shape
            .iter()
            .copied()
            .zip(self.strides.iter().copied())
            .filter(|&(d, _)| d != 1)
            .collect();
        let mut new_strides = vec![0; new_shape.len()];
        let mut oi = 0;
        let mut ni = 0;
        while ni < new_shape.len() {
            if new_shape[ni] == 1 {
                new_strides[ni] = 1;
                ni += 1;
                continue;
            }
            if oi >= old.len() {
                return None;
            }
            // Take a chunk of old dims whose product equals a chunk of new dims.
            let mut old_size = old[oi].0;
            let mut oj = oi;
            let mut new_size = new_shape[ni];
            let mut nj = ni;
            while old_size != new_size {
                if old_size < new_size {
                    oj += 1;
                    if oj >= old.len() || old[oj - 1].1 != old[oj].0 * old[oj].1 {
                        return None;
                    }
                    old_size *= old[oj].0;
                } else {
                    nj += 1;
                    if nj >= new_shape.len() {
                        return None;
                    }
                    new_size *= new_shape[nj];
                }
            }
            for k in oi..oj {
                if old[k].1 != old[k + 1].0 * old[k + 1].1 {
                    return None;
                }
            }
            let mut stride = old[oj].1;
            for k in (ni..=nj).rev() {
                new_strides[k] = stride;
                stride *= new_shape[k];
            }
            oi = oj + 1;
            ni = nj + 1;
        }
        if oi != old.len() {
            return None;
        }
        Some(Layout {
            shape: new_shape.to_vec(),
            strides: new_strides,
            offset: self.offset,
        })
    }

    /// Reorders dimensions.
    pub fn permuted(&self, dims: &[usize]) -> Layout {
        Layout {
            shape: dims.iter().map(|&d| self.shape[d]).collect(),
            strides: dims.iter().map(|&d| self.strides[d]).collect(),
            offset: self.offset,
        }
    }

    /// Selects `len` indices of `dim` starting at `start` with `step`.
    pub fn narrowed(&self, dim: usize, start: usize, len: usize, step: usize) -> Layout {
        let mut l = self.clone();
        l.offset += start * self.strides[dim];
        l.shape[dim] = len;
        l.strides[dim] *= step;
        l
    }

    /// Broadcasts to `shape` by giving stride 0 to new or size-1 dims.
    ///
    /// Panics if the new number of elements overflows `usize`.
    pub fn expanded(&self, shape: &[usize]) -> Option<Layout> {
        checked_numel(shape);
        if shape.len() < self.ndim() {
            return None;
        }
        let lead = shape.len() - self.ndim();
        let mut strides = vec![0; shape.len()];
        for i in 0..shape.len() {
            if i < lead {
                continue;
            }
            let (d, s) = (self.shape[i - lead], self.strides[i - lead]);
            if d == shape[i] {
                strides[i] = s;
            } else if d != 1 {
                return None;
            }
        }
        Some(Layout {
            shape: shape.to_vec(),
            strides,
            offset: self.offset,
        })
    }

    /// Removes or inserts a size-1 dimension.
    pub fn squeezed(&self, dim: usize) -> Layout {
        let mut l = self.clone();
        l.shape.remove(dim);
        l.strides.remove(dim);
        l
    }

    /// Inserts a size-1 dimension at `dim`.
    pub fn unsqueezed(&self, dim: usize) -> Layout {
        let mut l = self.clone();
        let stride = if dim < self.ndim() {
            self.strides[dim] * self.shape[dim]
        } else {
            1
        };
        l.shape.insert(dim, 1);
        l.strides.insert(dim, stride);
        l
    }

    /// Calls `f` with the storage index of every element, in row-major logical order.
    pub fn for_each_index(&self, mut f: impl FnMut(usize)) {
        if let Some(r) = self.contiguous_range() {
            r.for_each(f);
            return;
        }
        let n = self.ndim();
        let numel = self.numel();
        if numel == 0 {
            return;
        }
        let (inner_len, inner_stride) = (self.shape[n - 1], self.strides[n - 1]);
        let mut idx = vec![0usize; n];
        let mut base = self.offset;
        loop {
            for i in 0..inner_len {
                f(base + i * inner_stride);
            }
            // advance the outer index (dims 0..n-1)
            let mut d = n - 1;
            loop {
                if d == 0 {
                    return;
                }
                d -= 1;
                idx[d] += 1;
                base += self.strides[d];
                if idx[d] < self.shape[d] {
                    break;
                }
                base -= self.strides[d] * self.shape[d];
                idx[d] = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_rules() {
        assert_eq!(broadcast_shapes(&[3, 1], &[4]), Some(vec![3, 4]));
        assert_eq!(broadcast_shapes(&[], &[2, 2]), Some(vec![2, 2]));
        assert_eq!(broadcast_shapes(&[3], &[4]), None);
    }

    #[test]
    fn transpose_then_reshape_needs_copy() {
        let l = Layout::contiguous(&[2, 3]).permuted(&[1, 0]);
        assert!(!l.is_contiguous());
        assert!(l.reshaped(&[6]).is_none());
        assert!(l.reshaped(&[3, 2, 1]).is_some());
    }

    #[test]
    fn empty_layouts_are_contiguous_and_reshape() {
        let l = Layout::contiguous(&[2, 0]);
        assert!(l.is_contiguous());
        assert_eq!(l.reshaped(&[0, 2]).unwrap().shape(), &[0, 2]);
    }

    #[test]
    #[should_panic(
        expected = "numel: integer multiplication overflow for shape [4294967296, 4294967296]"
    )]
    fn numel_overflow_panics_naming_the_shape() {
        Layout::contiguous(&[1 << 32, 1 << 32]);
    }

    #[test]
    fn alloc_checks_bytes_as_well_as_elements() {
        assert_eq!(checked_alloc_numel("zeros", &[2, 3], 8), 6);
        assert_eq!(checked_alloc_numel("zeros", &[0, 1 << 62], 8), 0);
        let bytes = std::panic::catch_unwind(|| checked_alloc_numel("zeros", &[1 << 62], 4));
        let msg = *bytes.unwrap_err().downcast::<String>().unwrap();
        assert_eq!(
            msg,
            "zeros: Storage size calculation overflowed with sizes=[4611686018427387904]"
        );
    }

    #[test]
    fn empty_shapes_with_huge_dims_keep_finite_strides() {
        let l = Layout::contiguous(&[0, 1 << 40, 1 << 40]);
        assert_eq!(l.numel(), 0);
        assert_eq!(l.strides()[2], 1);
    }

    #[test]
    fn strided_walk_matches_manual() {
        let l = Layout::contiguous(&[2, 3]).permuted(&[1, 0]);
        let mut v = vec![];
        l.for_each_index(|i| v.push(i));
        assert_eq!(v, vec![0, 3, 1, 4, 2, 5]);
    }
}
