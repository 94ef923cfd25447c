//! `Display` for tensors, following PyTorch's repr: `tensor([[2.0005, 3.0002]])`,
//! `tensor(4.)`, `tensor([-8.], requires_grad=True)`, summarised with `...` when large.

use super::{DType, Tensor};
use std::fmt;

const THRESHOLD: usize = 1000;
const EDGE: usize = 3;
const LINE_WIDTH: usize = 80;

/// How the float elements of one tensor are printed (PyTorch's `_Formatter`).
struct Formatter {
    int_mode: bool,
    sci_mode: bool,
    width: usize,
    dtype: DType,
}

impl Formatter {
    fn new(values: &[f64], dtype: DType) -> Self {
        let mut f = Formatter {
            int_mode: true,
            sci_mode: false,
            width: 1,
            dtype,
        };
        if !dtype.is_float() {
            f.width = values.iter().map(|&v| f.format(v).len()).max().unwrap_or(1);
            return f;
        }
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        f.int_mode = finite.iter().all(|v| v.fract() == 0.0);
        let nonzero: Vec<f64> = finite
            .iter()
            .map(|v| v.abs())
            .filter(|&v| v != 0.0)
            .collect();
        if !nonzero.is_empty() {
            let max = nonzero.iter().cloned().fold(f64::MIN, f64::max);
            let min = nonzero.iter().cloned().fold(f64::MAX, f64::min);
            f.sci_mode = max / min > 1000.0 || max > 1e8 || (!f.int_mode && min < 1e-4);
        }
        f.width = values.iter().map(|&v| f.format(v).len()).max().unwrap_or(1);
        f
    }

    fn format(&self, v: f64) -> String {
        match self.dtype {
            DType::Bool => {
                return if v != 0.0 {
                    "True".into()
                } else {
                    "False".into()
                };
            }
            DType::I64 | DType::U8 => return format!("{}", v as i64),
            _ => {}
        }
        if v.is_nan() {
            return "nan".into();
        }
        if v.is_infinite() {
            return if v > 0.0 { "inf".into() } else { "-inf".into() };
        }
        if self.sci_mode {
            let s = format!("{v:.4e}");
            // Rust prints `1.0000e-5`; PyTorch (Python) prints `1.0000e-05`.
            let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
            let (sign, digits) = if let Some(d) = exp.strip_prefix('-') {
                ('-', d)
            } else {
                ('+', exp)
            };
            format!("{mant}e{sign}{digits:0>2}")
        } else if self.int_mode {
            format!("{v:.0}.")
        } else {
            format!("{v:.4}")
        }
    }
}

fn write_nested(
    out: &mut String,
    values: &[f64],
    shape: &[usize],
    fmt: &Formatter,
    indent: usize,
    summarize: bool,
) {
    if shape.is_empty() {
        out.push_str(&format!("{:>w$}", fmt.format(values[0]), w = fmt.width));
        return;
    }
    let n = shape[0];
    let stride: usize = shape[1..].iter().product();
    let idx: Vec<Option<usize>> = if summarize && n > 2 * EDGE {
        (0..EDGE)
            .map(Some)
            .chain(std::iter::once(None))
            .chain((n - EDGE..n).map(Some))
            .collect()
    } else {
        (0..n).map(Some).collect()
    };
    out.push('[');
    if shape.len() == 1 {
        // Wrap long rows at PyTorch's line width.
        let per_line = ((LINE_WIDTH - indent) / (fmt.width + 2)).max(1);
        for (k, i) in idx.iter().enumerate() {
            if k > 0 {
                out.push(',');
                if k % per_line == 0 {
                    out.push('\n');
                    out.push_str(&" ".repeat(indent + 1));
                } else {
                    out.push(' ');
                }
            }
            match i {
                Some(i) => out.push_str(&format!("{:>w$}", fmt.format(values[*i]), w = fmt.width)),
                None => out.push_str(" ..."),
            }
        }
    } else {
        let sep = format!(
            ",{}{}",
            "\n".repeat(shape.len() - 1),
            " ".repeat(indent + 1)
        );
        for (k, i) in idx.iter().enumerate() {
            if k > 0 {
                out.push_str(&sep);
            }
            match i {
                Some(i) => write_nested(
                    out,
                    &values[i * stride..(i + 1) * stride],
                    &shape[1..],
                    fmt,
                    indent + 1,
                    summarize,
                ),
                None => out.push_str("..."),
            }
        }
    }
    out.push(']');
}

/// The values a summarised print shows (first and last `EDGE` along each dim), used to
/// pick the number format the way PyTorch does.
fn shown_values(values: &[f64], shape: &[usize], summarize: bool, acc: &mut Vec<f64>) {
    if shape.is_empty() {
        acc.push(values[0]);
        return;
    }
    let n = shape[0];
    let stride: usize = shape[1..].iter().product();
    for i in 0..n {
        if summarize && n > 2 * EDGE && (EDGE..n - EDGE).contains(&i) {
            continue;
        }
        shown_values(
            &values[i * stride..(i + 1) * stride],
            &shape[1..],
            summarize,
            acc,
        );
    }
}

/// PyTorch's repr (`print(t)`); a 0-d tensor formatted with a precision prints its value
/// as Python's `f"{t:.2f}"` does (`format!("{:.2}", loss)` is `0.75`), and a
/// [parameter](crate::nn::Parameter) is preceded by `Parameter containing:`.
impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.precision().is_some() && self.numel() == 1 && self.dim() == 0 {
            return fmt::Display::fmt(&self.to_vec::<f64>()[0], f);
        }
        if self.is_parameter() && self.grad_fn().is_none() {
            f.write_str("Parameter containing:\n")?;
        }
        let values = self.to_vec::<f64>();
        let shape = self.shape();
        let summarize = self.numel() > THRESHOLD;
        let mut body = String::from("tensor(");
        if self.numel() == 0 {
            body.push_str("[]");
        } else {
            let mut shown = Vec::new();
            shown_values(&values, shape, summarize, &mut shown);
            let fmtr = Formatter::new(&shown, self.dtype());
            write_nested(&mut body, &values, shape, &fmtr, 7, summarize);
        }
        let mut suffixes = Vec::new();
        if self.numel() == 0 && shape.len() != 1 {
            suffixes.push(
                format!("size={shape:?}")
                    .replace('[', "(")
                    .replace(']', ")"),
            );
        }
        if !matches!(self.dtype(), DType::F32 | DType::I64 | DType::Bool) {
            suffixes.push(format!("dtype={}", self.dtype()));
        }
        if let Some(node) = self.grad_fn() {
            suffixes.push(format!("grad_fn=<{}>", node.name()));
        } else if self.requires_grad() {
            suffixes.push("requires_grad=True".into());
        }
        for s in suffixes {
            body.push_str(", ");
            body.push_str(&s);
        }
        body.push(')');
        f.write_str(&body)
    }
}
