//! Gradient health: the norm of each parameter's gradient after every backward, collected
//! by post-accumulate-grad hooks, and grouped per layer.

use crate::tensor::Tensor;
use crate::tensor::hooks::RemovableHandle;
use parking_lot::Mutex;
use std::sync::Arc;

/// Per-parameter and per-layer gradient norms, recorded by hooks on a module's named
/// parameters each time a backward accumulates their `.grad`.
///
/// The norm is that of `.grad` after accumulation (what an optimizer step would use), so
/// zero the gradients between steps as usual. A layer is a parameter name's prefix before
/// its last `.` (`layers.0.weight` and `layers.0.bias` make layer `layers.0`); its norm is
/// the Euclidean norm over all its parameters' gradients (top-level parameters make the
/// layer `""`).
///
/// ```
/// use kiln::nn::utils::GradStats;
/// use kiln::nn::{Linear, Module};
/// use kiln::Tensor;
/// let fc = Linear::new(3, 2);
/// let stats = GradStats::attach(fc.named_parameters());
/// fc.forward(&Tensor::ones(&[4, 3])).sum().backward();
/// let layers = stats.layer_norms();
/// assert_eq!(layers.len(), 1);
/// assert!(layers[0].1 > 0.0);
/// stats.remove();
/// ```
pub struct GradStats {
    names: Vec<String>,
    /// Latest norm of each parameter (same order as `names`), `None` before a backward.
    latest: Arc<Mutex<Vec<Option<f64>>>>,
    /// Every recorded norm: one row per backward, cleared by `take_history`.
    history: Arc<Mutex<Vec<Vec<Option<f64>>>>>,
    handles: Vec<RemovableHandle>,
}

fn grad_norm(t: &Tensor) -> f64 {
    t.grad().map_or(0.0, |g| {
        g.to_vec::<f64>().iter().map(|v| v * v).sum::<f64>().sqrt()
    })
}

impl GradStats {
    /// Registers a post-accumulate-grad hook on each named parameter
    /// (`module.named_parameters()`).
    pub fn attach(named: Vec<(String, Tensor)>) -> Self {
        let n = named.len();
        let latest = Arc::new(Mutex::new(vec![None; n]));
        let history: Arc<Mutex<Vec<Vec<Option<f64>>>>> = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::with_capacity(n);
        let mut names = Vec::with_capacity(n);
        for (i, (name, t)) in named.into_iter().enumerate() {
            let (latest, history) = (latest.clone(), history.clone());
            handles.push(t.register_post_accumulate_grad_hook(move |t| {
                let v = grad_norm(t);
                let mut l = latest.lock();
                // A parameter seen twice means a new backward began: keep the last row.
                let mut h = history.lock();
                if h.last().is_none_or(|row| row[i].is_some()) {
                    h.push(vec![None; l.len()]);
                }
                if let Some(row) = h.last_mut() {
                    row[i] = Some(v);
                }
                l[i] = Some(v);
            }));
            names.push(name);
        }
        GradStats {
            names,
            latest,
            history,
            handles,
        }
    }

    /// The parameter names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Each parameter's latest gradient norm (0 for one no backward has reached).
    pub fn norms(&self) -> Vec<(String, f64)> {
        let l = self.latest.lock();
        self.names
            .iter()
            .zip(l.iter())
            .map(|(n, v)| (n.clone(), v.unwrap_or(0.0)))
            .collect()
    }

    /// Each layer's latest gradient norm, layers in order of first appearance.
    pub fn layer_norms(&self) -> Vec<(String, f64)> {
        group(&self.norms())
    }

    /// The per-layer norms of every backward so far (one row per backward), emptied.
    pub fn take_history(&self) -> Vec<Vec<(String, f64)>> {
        let rows = std::mem::take(&mut *self.history.lock());
        rows.into_iter()
            .map(|row| {
                let named: Vec<(String, f64)> = self
                    .names
                    .iter()
                    .zip(row)
                    .map(|(n, v)| (n.clone(), v.unwrap_or(0.0)))
                    .collect();
                group(&named)
            })
            .collect()
    }

    /// Removes the hooks.
    pub fn remove(&self) {
        for h in &self.handles {
            h.remove();
        }
    }
}

/// Each layer's gradient norm as `.grad` holds it now (0 for a parameter without one),
/// layers grouped as [`GradStats`] groups them. Read after a backward, this sees what
/// the hooks cannot where `.grad` is rewritten at the end of backward: under
/// `DistributedDataParallel`, the gradients averaged over the ranks.
pub fn layer_grad_norms(named: &[(String, Tensor)]) -> Vec<(String, f64)> {
    let norms: Vec<(String, f64)> = named
        .iter()
        .map(|(n, t)| (n.clone(), grad_norm(t)))
        .collect();
    group(&norms)
}

/// Sums squares per layer prefix.
fn group(named: &[(String, f64)]) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = Vec::new();
    for (n, v) in named {
        let layer = n.rsplit_once('.').map_or("", |(l, _)| l);
        match out.iter_mut().find(|(l, _)| l == layer) {
            Some((_, s)) => *s += v * v,
            None => out.push((layer.to_string(), v * v)),
        }
    }
    out.into_iter().map(|(l, s)| (l, s.sqrt())).collect()
}
