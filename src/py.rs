//! Python's formatting of the values a ported tutorial prints, for the few cases Rust's
//! `format!` spells differently: `True`/`False`, `f"{n:,}"`, and `tuple(x.shape)`.
//! (Tensors, `Size`, 0-d tensors with a precision and modules already print as PyTorch.)

/// Python's `str(b)`: `"True"` or `"False"`.
///
/// ```
/// assert_eq!(kiln::py::bool_str(true), "True");
/// ```
pub fn bool_str(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// Python's `f"{n:,}"`: thousands separated by commas (`1234567` → `"1,234,567"`).
///
/// ```
/// assert_eq!(kiln::py::thousands(235146), "235,146");
/// assert_eq!(kiln::py::thousands(999), "999");
/// ```
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Python's `str(tuple(dims))`: `(8, 784)`, `(5,)`, `()` (`tuple(x.shape)`).
///
/// ```
/// assert_eq!(kiln::py::tuple(&[8, 784]), "(8, 784)");
/// assert_eq!(kiln::py::tuple(&[5]), "(5,)");
/// ```
pub fn tuple(dims: &[usize]) -> String {
    let items: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    match items.len() {
        1 => format!("({},)", items[0]),
        _ => format!("({})", items.join(", ")),
    }
}
