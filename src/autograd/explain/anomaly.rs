//! Anomaly detection (`torch.autograd.detect_anomaly`): the first derivative that
//! produces NaN or Inf panics, naming its node and the forward line that created it.

use super::{ANOMALY, ModeGuard, NodeInfo, mode, set_mode};
use crate::tensor::Tensor;
use crate::tensor::graph::Node;

/// Runs `f` with anomaly detection on (`with torch.autograd.detect_anomaly():`): ops
/// recorded inside keep their creation site, and a backward run inside panics at the
/// first node whose derivative returns NaN or Inf, with PyTorch's message plus the
/// `file:line` of that node's forward call. Off, it costs one flag check per op and node.
pub fn detect_anomaly<R>(f: impl FnOnce() -> R) -> R {
    let _g = ModeGuard::new(ANOMALY, true);
    f()
}

/// Turns anomaly detection on or off for this thread
/// (`torch.autograd.set_detect_anomaly(mode)`).
pub fn set_detect_anomaly(on: bool) {
    set_mode(ANOMALY, on);
}

/// Whether anomaly detection is on for this thread (`torch.is_anomaly_enabled()`).
pub fn is_anomaly_enabled() -> bool {
    mode() & ANOMALY != 0
}

/// "nan" or "inf" if `t` has such a value.
fn non_finite(t: &Tensor) -> Option<&'static str> {
    if !t.dtype().is_float() {
        return None;
    }
    let v = t.detach().to_vec::<f64>();
    if v.iter().any(|x| x.is_nan()) {
        Some("nan")
    } else if v.iter().any(|x| x.is_infinite()) {
        Some("inf")
    } else {
        None
    }
}

/// Panics if any gradient the node's derivative returned is not finite.
pub(crate) fn check(node: &Node, info: Option<&NodeInfo>, grads: &[Option<Tensor>]) {
    for (i, g) in grads.iter().enumerate() {
        if let Some(kind) = g.as_ref().and_then(non_finite) {
            let site = info.and_then(|f| f.site.get()).map_or_else(
                || "; its forward call was not recorded in anomaly mode".to_string(),
                |s| format!("; it was created by the forward call at {s}"),
            );
            panic!(
                "Function '{}' returned {kind} values in its {i}th output{site}",
                node.name()
            );
        }
    }
}
