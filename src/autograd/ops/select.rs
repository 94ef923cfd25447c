//! Masked selection: `masked_fill` and `where_`.

use crate::autograd::record::{Saved, record};
use crate::tensor::backend::check_same_device;
use crate::tensor::kernels::elementwise::broadcast_or_panic;
use crate::tensor::kernels::select as kernel;
use crate::tensor::{DType, Tensor};

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

    /// `x` where `cond` else `y`, broadcasting all three (`torch.where(cond, x, y)`).
    pub fn where_(cond: &Tensor, x: &Tensor, y: &Tensor) -> Tensor {
        assert!(
            cond.dtype() == DType::Bool,
            "where: expected condition to be a bool tensor, got {}",
            cond.dtype()
        );
        check_same_device("where", &[cond, x, y]);
        let d = x.dtype().promote(y.dtype());
        let (x, y) = (x.to_dtype(d), y.to_dtype(d));
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
