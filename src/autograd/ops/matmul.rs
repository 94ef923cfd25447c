//! Matrix products with PyTorch's `matmul` semantics: 1-D dot, 2-D, and batched with
//! broadcast batch dims. Strided inputs (transposes) go to the GEMM without copies.

use crate::autograd::record::{Saved, record};
use crate::tensor::Tensor;
use crate::tensor::backend::check_same_device;
use crate::tensor::kernels::matmul::matmul_strided;
use crate::tensor::layout::broadcast_shapes;

impl Tensor {
    /// Matrix product (`torch.matmul` / `a @ b`).
    pub fn matmul(&self, other: &Tensor) -> Tensor {
        let (a, b) = (self, other);
        check_same_device("matmul", &[a, b]);
        assert!(
            a.dim() >= 1 && b.dim() >= 1,
            "matmul: both arguments to matmul need to be at least 1D, but they are {}D and {}D",
            a.dim(),
            b.dim()
        );
        if a.dim() > 1 || b.dim() > 1 {
            // Checked here so the message shows the caller's shapes, not the unsqueezed ones.
            let ka = a.shape()[a.dim() - 1];
            let kb = b.shape()[b.dim().saturating_sub(2)];
            assert!(
                ka == kb,
                "matmul: shapes {:?} and {:?} cannot be multiplied ({ka} != {kb})",
                a.shape(),
                b.shape()
            );
        }
        match (a.dim(), b.dim()) {
            (1, 1) => {
                assert_eq!(
                    a.numel(),
                    b.numel(),
                    "dot: inconsistent tensor size, expected tensor [{}] and src [{}] to have the same number of elements",
                    a.numel(),
                    b.numel()
                );
                a.unsqueeze(0).matmul_nd(&b.unsqueeze(1)).reshape(())
            }
            (1, _) => a.unsqueeze(0).matmul_nd(b).squeeze_dim(-2),
            (_, 1) => a.matmul_nd(&b.unsqueeze(1)).squeeze_dim(-1),
            _ => a.matmul_nd(b),
        }
    }

    /// 2-D matrix product (`torch.mm`); both inputs must be matrices.
    pub fn mm(&self, other: &Tensor) -> Tensor {
        assert!(
            self.dim() == 2 && other.dim() == 2,
            "mm: expected 2-D tensors, got shapes {:?} and {:?}",
            self.shape(),
            other.shape()
        );
        self.matmul_nd(other)
    }

    /// Dot product of two 1-D tensors (`torch.dot`).
    pub fn dot(&self, other: &Tensor) -> Tensor {
        assert!(
            self.dim() == 1 && other.dim() == 1,
            "dot: 1D tensors expected, but got {}D and {}D tensors",
            self.dim(),
            other.dim()
        );
        self.matmul(other)
    }

    /// Batched matrix product of two 3-D tensors (`torch.bmm`).
    pub fn bmm(&self, other: &Tensor) -> Tensor {
        assert!(
            self.dim() == 3 && other.dim() == 3 && self.shape()[0] == other.shape()[0],
            "bmm: expected 3-D tensors with the same batch size, got shapes {:?} and {:?}",
            self.shape(),
            other.shape()
        );
        self.matmul_nd(other)
    }

    /// Product of `[..., m, k]` and `[..., k, n]` with broadcast batch dims.
    fn matmul_nd(&self, other: &Tensor) -> Tensor {
        let (a, b) = (self, other);
        check_same_device("matmul", &[a, b]);
        let (ra, rb) = (a.dim(), b.dim());
        let (m, k) = (a.shape()[ra - 2], a.shape()[ra - 1]);
        let (k2, n) = (b.shape()[rb - 2], b.shape()[rb - 1]);
        assert!(
            k == k2,
            "matmul: mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{}; shapes {:?} and {:?})",
            m,
            k,
            k2,
            n,
            a.shape(),
            b.shape()
        );
        assert!(
            a.dtype() == b.dtype(),
            "matmul: expected both inputs to have the same dtype, but got {} and {}",
            a.dtype(),
            b.dtype()
        );
        let batch =
            broadcast_shapes(&a.shape()[..ra - 2], &b.shape()[..rb - 2]).unwrap_or_else(|| {
                panic!(
                    "matmul: batch dimensions of {:?} and {:?} cannot be broadcast",
                    a.shape(),
                    b.shape()
                )
            });
        let mut sa = batch.clone();
        sa.extend([m, k]);
        let mut sb = batch.clone();
        sb.extend([k, n]);
        let out = matmul_strided(&a.broadcast_copy(&sa), &b.broadcast_copy(&sb));
        record(out, &[a, b], "MmBackward0", || {
            let (sa, sb) = (Saved::new(a), Saved::new(b));
            move |g: &Tensor, need: &[bool]| {
                let (a, b) = (sa.get(), sb.get());
                let grad_b = || {
                    if b.dim() == 2 && a.dim() > 2 {
                        // B is shared by the whole batch (whose shape is then A's): the
                        // sum of a_iᵀ g_i is one product `[k, batch·m]·[batch·m, n]`,
                        // not a batch of products and a sum.
                        let (k, n) = (b.shape()[0] as isize, b.shape()[1] as isize);
                        let a2 = a.reshape_infer(&[-1, k]);
                        a2.transpose(0, 1).matmul_nd(&g.reshape_infer(&[-1, n]))
                    } else {
                        a.transpose(-1, -2).matmul_nd(g).sum_to_size(b.shape())
                    }
                };
                vec![
                    need[0].then(|| g.matmul_nd(&b.transpose(-1, -2)).sum_to_size(a.shape())),
                    need[1].then(grad_b),
                ]
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::autograd::gradcheck;
    use crate::tensor::Tensor;

    fn check(a: &[usize], b: &[usize], transpose_a: bool) {
        let (a, b) = (Tensor::randn(a).double(), Tensor::randn(b).double());
        gradcheck(
            |x| {
                let a = if transpose_a {
                    x[0].transpose(-1, -2)
                } else {
                    x[0].shallow_clone()
                };
                a.matmul(&x[1]).tanh()
            },
            &[a, b],
            1e-6,
            1e-6,
            1e-5,
        )
        .unwrap();
    }

    #[test]
    fn gradcheck_batched_matmul_with_a_shared_matrix() {
        // The folded weight gradient: B is 2-D and shared by the batch.
        check(&[2, 3, 4], &[4, 5], false);
        check(&[2, 2, 3, 4], &[4, 5], false);
        // A strided (transposed) batch: reshape copies before the folded product.
        check(&[2, 4, 3], &[4, 5], true);
    }

    #[test]
    fn gradcheck_batched_matmul_with_batched_or_broadcast_operands() {
        check(&[2, 3, 4], &[2, 4, 5], false);
        check(&[3, 4], &[2, 4, 5], false);
        check(&[2, 1, 3, 4], &[3, 4, 5], false);
    }
}
