//! Binary elementwise ops with broadcasting: add, sub, mul, div, pow, minimum, maximum,
//! and the comparisons. Gradients of broadcast inputs are summed back to their shapes.

use crate::autograd::record::{Saved, record};
use crate::tensor::backend::check_same_device;
use crate::tensor::kernels::arith::{self, BinaryOp, CompareOp, LogicalOp};
use crate::tensor::{DType, Operand, Scalar, Tensor, result_type};

/// Converts both operands to `torch.result_type(a, b)`.
fn promote(a: &Tensor, b: &Tensor) -> (Tensor, Tensor) {
    if a.dtype() == b.dtype() {
        return (a.shallow_clone(), b.shallow_clone());
    }
    let d = result_type(&[Operand::Tensor(a), Operand::Tensor(b)]);
    (a.to_dtype(d), b.to_dtype(d))
}

/// `like` and a 0-d tensor holding `v`, both of `torch.result_type(like, v)`: PyTorch's
/// promotion of a tensor with a Python scalar (`int64 * 2.0` is float32).
pub(crate) fn with_scalar(like: &Tensor, v: impl Into<Scalar>) -> (Tensor, Tensor) {
    let v = v.into();
    let d = result_type(&[Operand::Tensor(like), Operand::Scalar(v)]);
    (like.to_dtype(d), v.to_tensor_like(d, like))
}

/// A 0-d tensor holding `v` with the dtype `like op v` has: what an in-place op with a
/// scalar operand receives (it then checks that the result fits `like`).
pub(crate) fn scalar_like(like: &Tensor, v: impl Into<Scalar>) -> Tensor {
    with_scalar(like, v).1
}

/// Refuses `-` with a bool operand (tensor or `True`) as PyTorch does.
fn check_bool_sub(a: DType, b: DType) {
    match (a == DType::Bool, b == DType::Bool) {
        (true, true) => panic!(
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead."
        ),
        (true, false) | (false, true) => panic!(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead."
        ),
        _ => {}
    }
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
        if a.dtype() == DType::Bool {
            return a.logical_or(&b);
        }
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
        check_bool_sub(self.dtype(), other.dtype());
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
        if a.dtype() == DType::Bool {
            return a.logical_and(&b);
        }
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

    /// `self ** exponent` (`torch.pow`): `exponent` is a tensor (`x.pow(&e)`) or a Python
    /// scalar (`x.pow(2)`, `x.pow(0.5)`, for a float tensor the same as
    /// [`Tensor::pow_scalar`]). An integer or bool tensor to an integer scalar power stays
    /// integral as in PyTorch (`tensor([1, 2]) ** 2` is int64, exact, wrapping on overflow
    /// as int64 does; a negative power panics with PyTorch's message); a float exponent or a
    /// tensor exponent gives a float tensor.
    ///
    /// ```
    /// let i = kiln::tensor(&[1i64, 2, 3]);
    /// assert_eq!(i.pow(2).to_vec::<i64>(), [1, 4, 9]);
    /// assert_eq!(i.pow(0.5).dtype(), kiln::DType::F32);
    /// ```
    pub fn pow<'a>(&self, exponent: impl Into<Operand<'a>>) -> Tensor {
        match exponent.into() {
            Operand::Tensor(e) => self.pow_tensor(e),
            Operand::Scalar(Scalar::Int(n)) if !self.dtype().is_float() => self.pow_int(n),
            Operand::Scalar(s) => self.pow_scalar(s.to_f64()),
        }
    }

    /// An integer (or bool) tensor to the power `n >= 0` in its promoted integer dtype, by
    /// repeated squaring (integer tensors carry no gradient).
    fn pow_int(&self, n: i64) -> Tensor {
        assert!(
            n >= 0,
            "pow: Integers to negative integer powers are not allowed."
        );
        let (base, _) = with_scalar(self, n);
        let (mut acc, mut b, mut e) = (base.ones_like(), base, n);
        while e > 0 {
            if e & 1 == 1 {
                acc = acc.mul(&b);
            }
            e >>= 1;
            if e > 0 {
                b = b.mul(&b);
            }
        }
        acc
    }

    fn pow_tensor(&self, exponent: &Tensor) -> Tensor {
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

    /// `self + v` for a Python scalar `v` (`x + 2`, `x + 2.0`): promotes as PyTorch does,
    /// so an integer tensor plus `2.0` is float32.
    pub fn add_scalar(&self, v: impl Into<Scalar>) -> Tensor {
        let (a, s) = with_scalar(self, v);
        a.add(&s)
    }

    /// `self - v` for a Python scalar `v`.
    pub fn sub_scalar(&self, v: impl Into<Scalar>) -> Tensor {
        let v = v.into();
        check_bool_sub(self.dtype(), v.dtype());
        let (a, s) = with_scalar(self, v);
        a.sub(&s)
    }

    /// `self * v` for a Python scalar `v` (an integer tensor times `2.0` is float32).
    pub fn mul_scalar(&self, v: impl Into<Scalar>) -> Tensor {
        let (a, s) = with_scalar(self, v);
        a.mul(&s)
    }

    /// `self / v` for a Python scalar `v` (true division).
    pub fn div_scalar(&self, v: impl Into<Scalar>) -> Tensor {
        let (a, s) = with_scalar(self, v);
        a.div(&s)
    }

    /// `v - self` for a Python scalar `v` (`torch.rsub`).
    pub fn rsub_scalar(&self, v: impl Into<Scalar>) -> Tensor {
        let v = v.into();
        check_bool_sub(v.dtype(), self.dtype());
        let (a, s) = with_scalar(self, v);
        s.sub(&a)
    }

    /// `v / self` for a Python scalar `v`.
    pub fn rdiv_scalar(&self, v: impl Into<Scalar>) -> Tensor {
        let (a, s) = with_scalar(self, v);
        s.div(&a)
    }
}

macro_rules! comparison {
    ($name:ident, $scalar:ident, $doc:expr, $op:expr) => {
        impl Tensor {
            #[doc = concat!("Elementwise `", $doc, "` against a tensor (`a.", stringify!($name),
                "(&b)`, broadcasting) or a Python scalar (`a.", stringify!($name),
                "(0)`), as a `bool` mask; values compare after `torch.result_type` promotion.")]
            pub fn $name<'a>(&self, other: impl Into<Operand<'a>>) -> Tensor {
                let other = match other.into() {
                    Operand::Tensor(t) => t,
                    Operand::Scalar(s) => return self.$scalar(s),
                };
                check_same_device(stringify!($name), &[self, other]);
                let (a, b) = promote(self, other);
                arith::compare($op, &a, &b)
            }

            #[doc = concat!("Elementwise `", $doc, "` against a Python scalar, as a `bool` mask.")]
            pub fn $scalar(&self, v: impl Into<Scalar>) -> Tensor {
                let (a, s) = with_scalar(self, v);
                a.$name(&s)
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
