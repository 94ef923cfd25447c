//! Binary elementwise ops with broadcasting: add, sub, mul, div, pow, minimum, maximum,
//! and the comparisons. Gradients of broadcast inputs are summed back to their shapes.

use crate::autograd::record::{Saved, record};
use crate::tensor::backend::check_same_device;
use crate::tensor::kernels::arith::{self, BinaryOp, CompareOp, LogicalOp};
use crate::tensor::{DType, Tensor};

/// Converts both operands to their promoted dtype.
fn promote(a: &Tensor, b: &Tensor) -> (Tensor, Tensor) {
    if a.dtype() == b.dtype() {
        return (a.clone(), b.clone());
    }
    // A 0-D operand does not raise the category of a dimensioned one past float32,
    // mirroring PyTorch (f32 tensor * f64 scalar stays f32).
    let d = if a.dim() == 0 && b.dim() > 0 && a.dtype().is_float() == b.dtype().is_float() {
        b.dtype()
    } else if b.dim() == 0 && a.dim() > 0 && a.dtype().is_float() == b.dtype().is_float() {
        a.dtype()
    } else {
        let p = a.dtype().promote(b.dtype());
        if p.is_float() && !a.dtype().is_float() && b.dim() == 0 && a.dim() > 0 {
            DType::F32.promote(p)
        } else {
            p
        }
    };
    (a.to_dtype(d), b.to_dtype(d))
}

/// A 0-D tensor for a scalar operand, with a dtype that keeps `like`'s dtype when it can.
pub(crate) fn scalar_like(like: &Tensor, v: f64) -> Tensor {
    let d = if like.dtype().is_float() || v.fract() != 0.0 {
        like.dtype().promote(DType::F32)
    } else {
        like.dtype()
    };
    let d = if d == DType::Bool { DType::I64 } else { d };
    let d = if like.dtype().is_float() {
        like.dtype()
    } else {
        d
    };
    Tensor::full_on(&[], v, d, like.device())
}

macro_rules! numeric_zip {
    ($op:expr, $a:expr, $b:expr) => {{
        check_same_device($op.name(), &[$a, $b]);
        let (a, b) = promote($a, $b);
        arith::binary($op, &a, &b)
    }};
}

macro_rules! float_zip {
    ($op:expr, $a:expr, $b:expr) => {{
        check_same_device($op.name(), &[$a, $b]);
        let (a, b) = promote($a, $b);
        let (a, b) = if a.dtype().is_float() {
            (a, b)
        } else {
            (a.float(), b.float())
        };
        let out = arith::binary($op, &a, &b);
        (a, b, out)
    }};
}

impl Tensor {
    /// `self + other` with broadcasting (`torch.add`).
    pub fn add(&self, other: &Tensor) -> Tensor {
        let (a, b) = promote(self, other);
        let out = numeric_zip!(BinaryOp::Add, &a, &b);
        let (sa, sb) = (a.size(), b.size());
        record(out, &[&a, &b], "AddBackward0", move || {
            move |g: &Tensor, n: &[bool]| {
                vec![
                    n[0].then(|| g.sum_to_size(&sa)),
                    n[1].then(|| g.sum_to_size(&sb)),
                ]
            }
        })
    }

    /// `self - other` with broadcasting (`torch.sub`).
    pub fn sub(&self, other: &Tensor) -> Tensor {
        let (a, b) = promote(self, other);
        let out = numeric_zip!(BinaryOp::Sub, &a, &b);
        let (sa, sb) = (a.size(), b.size());
        record(out, &[&a, &b], "SubBackward0", move || {
            move |g: &Tensor, n: &[bool]| {
                vec![
                    n[0].then(|| g.sum_to_size(&sa)),
                    n[1].then(|| g.neg().sum_to_size(&sb)),
                ]
            }
        })
    }

    /// `self * other` with broadcasting (`torch.mul`).
    pub fn mul(&self, other: &Tensor) -> Tensor {
        let (a, b) = promote(self, other);
        let out = numeric_zip!(BinaryOp::Mul, &a, &b);
        record(out, &[&a, &b], "MulBackward0", || {
            let (sa, sb) = (Saved::new(&a), Saved::new(&b));
            move |g: &Tensor, n: &[bool]| {
                let (a, b) = (sa.get(), sb.get());
                vec![
                    n[0].then(|| g.mul(b).sum_to_size(a.shape())),
                    n[1].then(|| g.mul(a).sum_to_size(b.shape())),
                ]
            }
        })
    }

    /// `self / other` with broadcasting (true division, `torch.div`).
    pub fn div(&self, other: &Tensor) -> Tensor {
        let (a, b, out) = float_zip!(BinaryOp::Div, self, other);
        record(out, &[&a, &b], "DivBackward0", || {
            let (sa, sb) = (Saved::new(&a), Saved::new(&b));
            move |g: &Tensor, n: &[bool]| {
                let (a, b) = (sa.get(), sb.get());
                vec![
                    n[0].then(|| g.div(b).sum_to_size(a.shape())),
                    n[1].then(|| g.mul(a).div(&b.mul(b)).neg().sum_to_size(b.shape())),
                ]
            }
        })
    }

    /// `self ** exponent` elementwise with a tensor exponent (`torch.pow`).
    pub fn pow(&self, exponent: &Tensor) -> Tensor {
        let (a, b, out) = float_zip!(BinaryOp::Pow, self, exponent);
        record(out, &[&a, &b], "PowBackward1", || {
            let (sa, sb) = (Saved::new(&a), Saved::new(&b));
            move |g: &Tensor, n: &[bool]| {
                let (a, b) = (sa.get(), sb.get());
                let ga = n[0].then(|| {
                    g.mul(&b.mul(&a.pow(&b.sub_scalar(1.0))))
                        .sum_to_size(a.shape())
                });
                let gb = n[1].then(|| {
                    // d/db a^b = a^b ln a, taken as 0 where a == 0 and b >= 0 (PyTorch).
                    let zero_base = a.eq_scalar(0.0).logical_and(&b.ge_scalar(0.0));
                    let d = a.pow(b).mul(&a.log()).masked_fill(&zero_base, 0.0);
                    g.mul(&d).sum_to_size(b.shape())
                });
                vec![ga, gb]
            }
        })
    }

    /// Elementwise minimum (`torch.minimum`); a tie sends half the gradient to each side.
    /// NaN on either side gives NaN, and then both sides get the whole gradient (PyTorch).
    pub fn minimum(&self, other: &Tensor) -> Tensor {
        self.min_max(other, true)
    }

    /// Elementwise maximum (`torch.maximum`); a tie sends half the gradient to each side.
    /// NaN on either side gives NaN, and then both sides get the whole gradient (PyTorch).
    pub fn maximum(&self, other: &Tensor) -> Tensor {
        self.min_max(other, false)
    }

    fn min_max(&self, other: &Tensor, is_min: bool) -> Tensor {
        let op = if is_min {
            BinaryOp::Minimum
        } else {
            BinaryOp::Maximum
        };
        let out = numeric_zip!(op, self, other);
        let (a, b) = promote(self, other);
        record(
            out,
            &[&a, &b],
            if is_min {
                "MinimumBackward0"
            } else {
                "MaximumBackward0"
            },
            || {
                let (sa, sb) = (Saved::new(&a), Saved::new(&b));
                move |g: &Tensor, n: &[bool]| {
                    let (a, b) = (sa.get(), sb.get());
                    // PyTorch: each side gets g, halved on a tie and zeroed where it loses;
                    // with a NaN neither side loses, so both get the whole g.
                    let (a_loses, b_loses) = if is_min {
                        (a.gt(b), a.lt(b))
                    } else {
                        (a.lt(b), a.gt(b))
                    };
                    let half_tie = a.eq(b).to_dtype(g.dtype()).mul_scalar(0.5);
                    let wa = half_tie.add(&a_loses.to_dtype(g.dtype())).rsub_scalar(1.0);
                    let wb = half_tie.add(&b_loses.to_dtype(g.dtype())).rsub_scalar(1.0);
                    vec![
                        n[0].then(|| g.mul(&wa).sum_to_size(a.shape())),
                        n[1].then(|| g.mul(&wb).sum_to_size(b.shape())),
                    ]
                }
            },
        )
    }

    /// `self + v` for a scalar `v`.
    pub fn add_scalar(&self, v: f64) -> Tensor {
        self.add(&scalar_like(self, v))
    }

    /// `self - v` for a scalar `v`.
    pub fn sub_scalar(&self, v: f64) -> Tensor {
        self.sub(&scalar_like(self, v))
    }

    /// `self * v` for a scalar `v`.
    pub fn mul_scalar(&self, v: f64) -> Tensor {
        self.mul(&scalar_like(self, v))
    }

    /// `self / v` for a scalar `v`.
    pub fn div_scalar(&self, v: f64) -> Tensor {
        self.div(&scalar_like(self, v))
    }

    /// `v - self` for a scalar `v` (`torch.rsub`).
    pub fn rsub_scalar(&self, v: f64) -> Tensor {
        scalar_like(self, v).sub(self)
    }

    /// `v / self` for a scalar `v`.
    pub fn rdiv_scalar(&self, v: f64) -> Tensor {
        scalar_like(self, v).div(self)
    }
}

macro_rules! comparison {
    ($name:ident, $scalar:ident, $doc:expr, $op:expr) => {
        impl Tensor {
            #[doc = concat!("Elementwise `", $doc, "`, as a `bool` mask (broadcasting).")]
            pub fn $name(&self, other: &Tensor) -> Tensor {
                check_same_device(stringify!($name), &[self, other]);
                let (a, b) = promote(self, other);
                arith::compare($op, &a, &b)
            }

            #[doc = concat!("Elementwise `", $doc, "` against a scalar, as a `bool` mask.")]
            pub fn $scalar(&self, v: f64) -> Tensor {
                self.$name(&scalar_like(self, v))
            }
        }
    };
}

comparison!(eq, eq_scalar, "==", CompareOp::Eq);
comparison!(ne, ne_scalar, "!=", CompareOp::Ne);
comparison!(lt, lt_scalar, "<", CompareOp::Lt);
comparison!(le, le_scalar, "<=", CompareOp::Le);
comparison!(gt, gt_scalar, ">", CompareOp::Gt);
comparison!(ge, ge_scalar, ">=", CompareOp::Ge);

impl Tensor {
    /// Elementwise logical and of two masks (`torch.logical_and`).
    pub fn logical_and(&self, other: &Tensor) -> Tensor {
        check_same_device("logical_and", &[self, other]);
        let (a, b) = (self.to_dtype(DType::Bool), other.to_dtype(DType::Bool));
        arith::logical(LogicalOp::And, &a, &b)
    }

    /// Elementwise logical or of two masks (`torch.logical_or`).
    pub fn logical_or(&self, other: &Tensor) -> Tensor {
        check_same_device("logical_or", &[self, other]);
        let (a, b) = (self.to_dtype(DType::Bool), other.to_dtype(DType::Bool));
        arith::logical(LogicalOp::Or, &a, &b)
    }

    /// Elementwise logical not of a mask (`torch.logical_not`).
    pub fn logical_not(&self) -> Tensor {
        arith::logical_not(&self.to_dtype(DType::Bool))
    }
}
