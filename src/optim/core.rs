//! What every optimizer shares: parameter groups with their own hyper-parameters,
//! per-parameter state, and the state-dict format.

use super::error::OptimError;
use crate::tensor::{DType, Tensor};
use std::collections::BTreeMap;

/// Range checks of a group's hyper-parameters, run by the constructors, the builder
/// setters and `add_param_group`; they panic with PyTorch's `ValueError` messages.
pub(crate) trait Validate {
    /// Panics like PyTorch's constructor when a value is out of range.
    fn validate(&self);
}

/// Panics with `Invalid {what}: {x}` (PyTorch's wording) unless `x >= 0` (NaN fails).
pub(crate) fn check_nonneg(x: f64, what: &str) {
    if x.is_nan() || x < 0.0 {
        panic!("Invalid {what}: {}", py_float(x));
    }
}

/// `x` as Python prints a float (`-1.0`, `nan`, `inf`, `1e+300`, `1e-05`).
pub(crate) fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        let e = format!("{x:e}");
        let (m, exp) = e.split_once('e').unwrap_or((&e, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{m}e{sign}{digits:0>2}");
    }
    if x.fract() == 0.0 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// Hyper-parameters of one parameter group.
pub trait GroupOptions: Clone + Send {
    /// The learning rate.
    fn lr(&self) -> f64;
    /// Sets the learning rate.
    fn set_lr(&mut self, lr: f64);
    /// Every option by name (booleans as 0/1).
    fn to_map(&self) -> BTreeMap<String, f64>;
    /// Reads every option from `m`.
    fn load_map(&mut self, group: usize, m: &BTreeMap<String, f64>) -> Result<(), OptimError>;
}

/// Declares an options struct with a `Default`, builder setters and [`GroupOptions`].
macro_rules! options {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ident = $default:expr),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            $($(#[$fm])* pub $field: $ty,)*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $($field: $default,)* }
            }
        }

        impl $crate::optim::GroupOptions for $name {
            fn lr(&self) -> f64 {
                self.lr
            }
            fn set_lr(&mut self, lr: f64) {
                self.lr = lr;
            }
            fn to_map(&self) -> std::collections::BTreeMap<String, f64> {
                let mut m = std::collections::BTreeMap::new();
                $(m.insert(stringify!($field).to_string(), $crate::optim::core::as_f64(self.$field));)*
                m
            }
            fn load_map(
                &mut self,
                group: usize,
                m: &std::collections::BTreeMap<String, f64>,
            ) -> Result<(), $crate::optim::OptimError> {
                $(
                    let v = *m.get(stringify!($field)).ok_or_else(|| $crate::optim::OptimError::MissingOption {
                        group,
                        key: stringify!($field).to_string(),
                    })?;
                    self.$field = <$ty as $crate::optim::core::FromF64>::from_f64(v);
                )*
                Ok(())
            }
        }
    };
}
pub(crate) use options;

/// Option values stored as f64 in state dicts.
pub trait FromF64 {
    /// Converts back from the stored f64.
    fn from_f64(v: f64) -> Self;
}
impl FromF64 for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
}
impl FromF64 for bool {
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
}

/// An option value as f64 (booleans as 0/1).
pub fn as_f64<V: Into<OptVal>>(v: V) -> f64 {
    v.into().0
}

/// Helper for [`as_f64`].
pub struct OptVal(f64);
impl From<f64> for OptVal {
    fn from(v: f64) -> Self {
        OptVal(v)
    }
}
impl From<bool> for OptVal {
    fn from(v: bool) -> Self {
        OptVal(if v { 1.0 } else { 0.0 })
    }
}

/// A set of parameters sharing hyper-parameters (an entry of `param_groups`).
#[derive(Clone)]
pub struct ParamGroup<O> {
    /// The parameters.
    pub params: Vec<Tensor>,
    /// Their hyper-parameters.
    pub options: O,
}

/// One parameter's optimizer state: its step count and named buffers.
#[derive(Clone)]
pub struct ParamState {
    /// Number of updates applied (`state['step']`).
    pub step: f64,
    /// Buffers such as `exp_avg`, in a fixed order per optimizer.
    pub buffers: Vec<(String, Tensor)>,
    /// Scalar state besides `step` (NAdam's `mu_product`, ASGD's `eta` and `mu`), which
    /// PyTorch keeps as 0-D f32 tensors.
    pub scalars: Vec<(String, f64)>,
}

impl ParamState {
    /// Zero-filled buffers shaped like `p`, named `names`.
    pub(crate) fn zeros(p: &Tensor, names: &[&'static str]) -> Self {
        ParamState {
            step: 0.0,
            buffers: names
                .iter()
                .map(|&n| (n.to_string(), p.detach().zeros_like()))
                .collect(),
            scalars: Vec::new(),
        }
    }

    /// The scalar called `name`.
    pub(crate) fn scalar(&self, name: &str) -> f64 {
        self.scalars
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("optimizer state has no scalar {name}"))
            .1
    }

    /// Sets (or adds) the scalar called `name`.
    pub(crate) fn set_scalar(&mut self, name: &str, v: f64) {
        match self.scalars.iter_mut().find(|(n, _)| *n == name) {
            Some(s) => s.1 = v,
            None => self.scalars.push((name.to_string(), v)),
        }
    }

    /// The buffer called `name`.
    pub(crate) fn buf(&self, name: &str) -> &Tensor {
        &self
            .buffers
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("optimizer state has no buffer {name}"))
            .1
    }
}

/// One group in a state dict: its options and the indices of its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupState {
    /// Hyper-parameters by name (booleans as 0/1).
    pub options: BTreeMap<String, f64>,
    /// Global parameter indices, numbered in group order.
    pub params: Vec<usize>,
}

/// An optimizer's `state_dict()`: per-parameter state by global index (with `step` as
/// a 0-D f32 tensor, as PyTorch stores it) and the parameter groups.
#[derive(Clone, Debug, Default)]
pub struct OptimizerState {
    /// Per-parameter state by global parameter index.
    pub state: BTreeMap<usize, BTreeMap<String, Tensor>>,
    /// The groups, in order.
    pub param_groups: Vec<GroupState>,
}

/// Groups plus per-parameter state, indexed by global parameter position.
#[derive(Clone)]
pub(crate) struct Groups<O> {
    pub groups: Vec<ParamGroup<O>>,
    pub state: Vec<Option<ParamState>>,
    /// State names that are scalars (0-D in state dicts), not parameter-shaped buffers.
    pub scalars: &'static [&'static str],
}

impl<O: GroupOptions> Groups<O> {
    pub fn new(params: Vec<Tensor>, options: O) -> Self {
        let mut g = Groups {
            groups: Vec::new(),
            state: Vec::new(),
            scalars: &[],
        };
        g.add(params, options);
        g
    }

    pub fn add(&mut self, params: Vec<Tensor>, options: O) {
        for p in &params {
            assert!(
                p.dtype().is_float(),
                "optimizer can only optimize Tensors of floating point dtype, got {}",
                p.dtype()
            );
            assert!(p.is_leaf(), "optimizer: can't optimize a non-leaf Tensor");
        }
        self.state.extend(params.iter().map(|_| None));
        self.groups.push(ParamGroup { params, options });
    }

    /// Calls `f(options, global_index, param, grad, state)` for each parameter with a grad.
    pub fn for_each(&mut self, mut f: impl FnMut(&O, &Tensor, &Tensor, &mut Option<ParamState>)) {
        let mut idx = 0;
        for group in &self.groups {
            for p in &group.params {
                if let Some(g) = p.grad() {
                    assert!(
                        g.dtype() == p.dtype() && g.shape() == p.shape(),
                        "optimizer: gradient ({}, {:?}) does not match its parameter ({}, {:?})",
                        g.dtype(),
                        g.shape(),
                        p.dtype(),
                        p.shape()
                    );
                    f(&group.options, p, &g, &mut self.state[idx]);
                }
                idx += 1;
            }
        }
    }

    pub fn state_dict(&self) -> OptimizerState {
        let mut sd = OptimizerState::default();
        let mut idx = 0;
        for group in &self.groups {
            let params: Vec<usize> = (idx..idx + group.params.len()).collect();
            idx += group.params.len();
            sd.param_groups.push(GroupState {
                options: group.options.to_map(),
                params,
            });
        }
        for (i, s) in self.state.iter().enumerate() {
            if let Some(s) = s {
                let mut m = BTreeMap::new();
                m.insert("step".to_string(), Tensor::scalar_dtype(s.step, DType::F32));
                for (n, t) in &s.buffers {
                    m.insert(n.clone(), t.detach().clone());
                }
                for (n, v) in &s.scalars {
                    m.insert(n.clone(), Tensor::scalar_dtype(*v, DType::F32));
                }
                sd.state.insert(i, m);
            }
        }
        sd
    }

    /// Loads `sd`; `buffers(options)` names the state buffers a parameter under those
    /// options must have (after a first step), so a state that would make `step` fail is
    /// refused here instead.
    pub fn load_state_dict(
        &mut self,
        sd: &OptimizerState,
        buffers: impl Fn(&O) -> &'static [&'static str],
    ) -> Result<(), OptimError> {
        if sd.param_groups.len() != self.groups.len() {
            return Err(OptimError::GroupCount {
                expected: self.groups.len(),
                got: sd.param_groups.len(),
            });
        }
        for (gi, (g, s)) in self.groups.iter().zip(&sd.param_groups).enumerate() {
            if g.params.len() != s.params.len() {
                return Err(OptimError::GroupSize {
                    group: gi,
                    expected: g.params.len(),
                    got: s.params.len(),
                });
            }
        }
        let params: Vec<Tensor> = self
            .groups
            .iter()
            .flat_map(|g| g.params.iter().cloned())
            .collect();
        // Map the state dict's parameter ids onto ours, group by group.
        let ids: Vec<usize> = sd
            .param_groups
            .iter()
            .flat_map(|g| g.params.clone())
            .collect();
        let mut opts = Vec::new();
        for (gi, (g, s)) in self.groups.iter().zip(&sd.param_groups).enumerate() {
            let mut o = g.options.clone();
            o.load_map(gi, &s.options)?;
            opts.push(o);
        }
        // The options each parameter will step with.
        let param_opts: Vec<&O> = self
            .groups
            .iter()
            .zip(&opts)
            .flat_map(|(g, o)| g.params.iter().map(move |_| o))
            .collect();
        let mut new_state: Vec<Option<ParamState>> = vec![None; params.len()];
        for (pos, id) in ids.iter().enumerate() {
            let Some(m) = sd.state.get(id) else { continue };
            let p = &params[pos];
            let bad = |key: &str| OptimError::BadState {
                param: pos,
                key: key.to_string(),
            };
            let step = match m.get("step") {
                None => 0.0,
                Some(t) if t.numel() == 1 && t.dtype().is_float() => t.item(),
                Some(_) => return Err(bad("step")),
            };
            let wanted = buffers(param_opts[pos]);
            if let Some(k) = wanted.iter().find(|k| !m.contains_key(**k)) {
                return Err(bad(k));
            }
            let mut st = ParamState {
                step,
                buffers: Vec::new(),
                scalars: Vec::new(),
            };
            for (k, t) in m {
                if k == "step" {
                    continue;
                }
                if self.scalars.contains(&k.as_str()) {
                    if t.numel() != 1 || !t.dtype().is_float() {
                        return Err(bad(k));
                    }
                    st.scalars.push((k.clone(), t.item()));
                    continue;
                }
                if !wanted.contains(&k.as_str()) || t.shape() != p.shape() || !t.dtype().is_float()
                {
                    return Err(bad(k));
                }
                st.buffers
                    .push((k.clone(), t.detach().to_dtype(p.dtype()).clone()));
            }
            new_state[pos] = Some(st);
        }
        for (g, o) in self.groups.iter_mut().zip(opts) {
            g.options = o;
        }
        self.state = new_state;
        Ok(())
    }
}

/// Implements [`Optimizer`](crate::optim::Optimizer) for a struct with a `groups: Groups<O>`
/// field, an inherent `step_impl` and an inherent `state_buffers(&O)` naming the
/// per-parameter buffers its step uses under those options.
macro_rules! impl_optimizer {
    ($name:ident, $opts:ident) => {
        impl $crate::optim::Optimizer for $name {
            fn step(&mut self) {
                self.step_impl()
            }
            fn num_groups(&self) -> usize {
                self.groups.groups.len()
            }
            fn group_params(&self, group: usize) -> &[$crate::Tensor] {
                &self.groups.groups[group].params
            }
            fn lr(&self, group: usize) -> f64 {
                $crate::optim::GroupOptions::lr(&self.groups.groups[group].options)
            }
            fn set_lr(&mut self, group: usize, lr: f64) {
                $crate::optim::GroupOptions::set_lr(&mut self.groups.groups[group].options, lr)
            }
            fn state_dict(&self) -> $crate::optim::OptimizerState {
                self.groups.state_dict()
            }
            fn load_state_dict(
                &mut self,
                state: &$crate::optim::OptimizerState,
            ) -> Result<(), $crate::optim::OptimError> {
                self.groups.load_state_dict(state, $name::state_buffers)
            }
        }

        impl $name {
            /// Adds a parameter group with its own options (`add_param_group`).
            pub fn add_param_group(&mut self, params: Vec<$crate::Tensor>, options: $opts) {
                $crate::optim::core::Validate::validate(&options);
                self.groups.add(params, options);
            }

            /// The parameter groups, read-only.
            pub fn param_groups(&self) -> &[$crate::optim::ParamGroup<$opts>] {
                &self.groups.groups
            }

            /// The parameter groups, to change options per group.
            pub fn param_groups_mut(&mut self) -> &mut [$crate::optim::ParamGroup<$opts>] {
                &mut self.groups.groups
            }

            /// The state of parameter `index` (global, in group order), if it has one.
            pub fn param_state(&self, index: usize) -> Option<&$crate::optim::ParamState> {
                self.groups.state.get(index).and_then(|s| s.as_ref())
            }

            /// Applies `f` to every group's options, builder style.
            fn map_options(mut self, f: impl Fn(&mut $opts)) -> Self {
                for g in &mut self.groups.groups {
                    f(&mut g.options);
                    $crate::optim::core::Validate::validate(&g.options);
                }
                self
            }
        }
    };
}
pub(crate) use impl_optimizer;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_state_is_set_read_and_exported_as_0d_f32() {
        let p = Tensor::zeros(&[2]).requires_grad_(true);
        let mut s = ParamState::zeros(&p, &["ax"]);
        s.set_scalar("eta", 0.5);
        s.set_scalar("eta", 0.25);
        assert_eq!((s.scalars.len(), s.scalar("eta")), (1, 0.25));
        let mut g: Groups<crate::optim::AsgdOptions> = Groups::new(vec![p], Default::default());
        g.scalars = &["eta"];
        g.state[0] = Some(s);
        let sd = g.state_dict();
        let eta = &sd.state[&0]["eta"];
        assert_eq!(
            (eta.shape(), eta.dtype(), eta.item()),
            (&[][..], DType::F32, 0.25)
        );
        g.load_state_dict(&sd, |_| &["ax", "eta"]).unwrap();
        assert_eq!(g.state[0].as_ref().unwrap().scalar("eta"), 0.25);
    }
}
