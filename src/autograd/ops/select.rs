//! Masked selection: `masked_fill` and `where_`.

use crate::autograd::record::{Saved, record};
use crate::tensor::backend::check_same_device;
use crate::tensor::kernels::elementwise::broadcast_or_panic;
use crate::tensor::kernels::select as kernel;
use crate::tensor::{DType, Operand, Tensor, result_type};

impl Tensor {
    /// `self` with `value` where `mask` is true (`tensor.masked_fill(mask, value)`);
    /// `mask` broadcasts to `self`'s shape.
    pub fn masked_fill(&self, mask: &Tensor, value: f64) -> Tensor {
        assert!(
            mask.dtype() == DType::Bool,
            "masked_fill: expected a bool mask, got {}",
            mask.dtype()
        );
        let fill = Tensor::scalar_dtype(value, self.dtype());
        Tensor::where_(mask, &fill, self)
    }

    /// `x` where `cond` else `y`, broadcasting all three (`torch.where(cond, x, y)`);
    /// `x` and `y` are tensors or Python scalars (`Tensor::where_(&m, &x, 0.0)`) and
    /// promote as `torch.result_type(x, y)`.
    pub fn where_<'a>(
        cond: &Tensor,
        x: impl Into<Operand<'a>>,
        y: impl Into<Operand<'a>>,
    ) -> Tensor {
        let (x, y) = (x.into(), y.into());
        let d = result_type(&[x, y]);
        let like = match (x, y) {
            (Operand::Tensor(t), _) | (_, Operand::Tensor(t)) => t.shallow_clone(),
            _ => cond.shallow_clone(),
        };
        let as_tensor = |o: Operand<'_>| match o {
            Operand::Tensor(t) => t.to_dtype(d),
            Operand::Scalar(s) => s.to_tensor_like(d, &like),
        };
        let (x, y) = (as_tensor(x), as_tensor(y));
        assert!(
            cond.dtype() == DType::Bool,
            "where: expected condition to be a bool tensor, got {}",
            cond.dtype()
        );
        check_same_device("where", &[cond, &x, &y]);
        let shape = broadcast_or_panic("where", x.shape(), y.shape());
        let shape = broadcast_or_panic("where", &shape, cond.shape());
        let out = kernel::where_(cond, &x, &y, &shape);
        let (xs, ys) = (x.size(), y.size());
        record(out, &[&x, &y], "WhereBackward0", || {
            let sc = Saved::new(cond);
            move |g: &Tensor, n: &[bool]| {
                let c = sc.get();
                let zero = Tensor::scalar_dtype(0.0, g.dtype());
                vec![
                    n[0].then(|| Tensor::where_(c, g, &zero).sum_to_size(&xs)),
                    n[1].then(|| Tensor::where_(c, &zero, g).sum_to_size(&ys)),
                ]
            }
        })
    }
}
