//! The classifiers `kiln train` builds: the tutorial's `DigitClassifier` MLP (a
//! `flatten` and a `layers` Sequential, keys `layers.0.weight`, ...) and the CNN of
//! PyTorch's `mnist/main.py` ([`super::cnn`], keys `conv1.weight`, ...), both under
//! PyTorch's key names so their weights load into the same classes in PyTorch.

use super::args::ModelKind;
use super::cnn::{Cnn, CnnShape, cnn_from_tensors, looks_like_cnn};
use super::error::CliError;
use kiln::Tensor;
use kiln::nn::functional::{CrossEntropyOptions, cross_entropy_with, nll_loss_with};
use kiln::nn::{
    BatchNorm1d, Dropout, Flatten, Identity, Linear, Module, ReLU, Reduction, Sequential, StateDict,
};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// `Flatten`, then an MLP: per hidden width `Linear [BatchNorm1d] ReLU [Dropout]`, then
/// a `Linear` to the classes. Its outputs are logits.
#[derive(Module)]
pub struct Mlp {
    /// `nn.Flatten()`.
    pub flatten: Flatten,
    /// The layers.
    pub layers: Sequential,
}

impl Mlp {
    /// Logits for a batch of images (any shape `[N, ...]`).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.layers.forward(&self.flatten.forward(x))
    }
}

/// A classifier of either kind. As a [`Module`] it is transparent: its parameters,
/// state dict and printed tree are those of the network inside.
pub enum Classifier {
    /// The tutorial's MLP (outputs logits).
    Mlp(Mlp),
    /// main.py's CNN (outputs log-probabilities).
    Cnn(Box<Cnn>),
}

impl Classifier {
    fn inner(&self) -> &dyn Module {
        match self {
            Classifier::Mlp(m) => m,
            Classifier::Cnn(c) => &**c,
        }
    }

    /// The network's output for a batch of images `[N, 1, 28, 28]`: logits (MLP) or
    /// log-probabilities (CNN); either way the argmax is the prediction and
    /// `softmax(1)` the class probabilities.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            Classifier::Mlp(m) => m.forward(x),
            Classifier::Cnn(c) => c.forward(x),
        }
    }

    /// The training loss of `output` against class indices: cross entropy of the MLP's
    /// logits, `nll_loss` of the CNN's log-probabilities (as main.py).
    pub fn loss(&self, output: &Tensor, target: &Tensor, reduction: Reduction) -> Tensor {
        let opts = CrossEntropyOptions {
            reduction,
            ..Default::default()
        };
        match self {
            Classifier::Mlp(_) => cross_entropy_with(output, target, &opts),
            Classifier::Cnn(_) => nll_loss_with(output, target, &opts),
        }
    }

    /// Which kind of network this is.
    pub fn kind(&self) -> ModelKind {
        match self {
            Classifier::Mlp(_) => ModelKind::Mlp,
            Classifier::Cnn(_) => ModelKind::Cnn,
        }
    }
}

impl Module for Classifier {
    fn forward(&self, input: &Tensor) -> Tensor {
        Classifier::forward(self, input)
    }
    fn visit_own_parameters(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        self.inner().visit_own_parameters(f)
    }
    fn visit_own_buffers(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        self.inner().visit_own_buffers(f)
    }
    fn visit_children<'a>(&'a self, f: &mut dyn FnMut(&str, &'a dyn Module)) {
        self.inner().visit_children(f)
    }
    fn set_own_training(&self, on: bool) {
        self.inner().set_own_training(on)
    }
    fn own_training(&self) -> Option<bool> {
        self.inner().own_training()
    }
    fn type_name(&self) -> String {
        self.inner().type_name()
    }
    fn extra_repr(&self) -> String {
        self.inner().extra_repr()
    }
}

/// The shape of a [`Classifier`].
#[derive(Clone, Debug, PartialEq)]
pub struct Arch {
    /// Which network.
    pub model: ModelKind,
    /// Input features (784 for 28×28 images; the MLP's first layer).
    pub inputs: usize,
    /// Hidden widths (MLP).
    pub hidden: Vec<usize>,
    /// Output classes.
    pub classes: usize,
    /// Dropout probability after each hidden layer (MLP; no Dropout layer when 0).
    pub dropout: f64,
    /// A BatchNorm1d after each hidden Linear (MLP).
    pub batch_norm: bool,
}

impl Arch {
    /// A fresh classifier, its weights drawn from the default generator in PyTorch's order.
    pub fn build(&self) -> Classifier {
        if self.model == ModelKind::Cnn {
            return Classifier::Cnn(Box::new(Cnn::new(CnnShape::main_py(self.classes))));
        }
        let mut layers = Sequential::default();
        let mut width = self.inputs;
        for &h in &self.hidden {
            layers.push(Linear::new(width, h));
            if self.batch_norm {
                layers.push(BatchNorm1d::new(h));
            }
            layers.push(ReLU::new());
            if self.dropout > 0.0 {
                layers.push(Dropout::new(self.dropout));
            }
            width = h;
        }
        layers.push(Linear::new(width, self.classes));
        Classifier::Mlp(Mlp {
            flatten: Flatten::new(),
            layers,
        })
    }
}

/// The model's state dict as named tensors for a safetensors file.
pub fn named_state(model: &Classifier) -> Vec<(String, Tensor)> {
    model.state_dict().into_iter().collect()
}

/// Copies `tensors` into `model`, strictly (every key, every shape); `path` names the
/// file in the error.
pub fn load_into(
    model: &dyn Module,
    tensors: Vec<(String, Tensor)>,
    path: &Path,
) -> Result<(), CliError> {
    let sd: StateDict = tensors.into_iter().collect();
    model.load_state_dict(&sd).map_err(|e| CliError::BadModel {
        path: path.to_path_buf(),
        reason: e.to_string().replace(":\n\t", ": ").replace("\n\t", " "),
    })?;
    Ok(())
}

/// Refuses tensors holding NaN or infinite values, naming the first such tensor.
pub fn check_finite<'a>(
    tensors: impl IntoIterator<Item = &'a (String, Tensor)>,
) -> Result<(), String> {
    for (name, t) in tensors {
        if !t.dtype().is_float() {
            continue;
        }
        let v = t.to_dtype(kiln::DType::F64).to_vec::<f64>();
        if let Some(x) = v.iter().find(|x| !x.is_finite()) {
            let n = v.iter().filter(|x| !x.is_finite()).count();
            return Err(format!(
                "tensor '{name}' holds {n} non-finite value{} (the first is {x})",
                if n == 1 { "" } else { "s" }
            ));
        }
    }
    Ok(())
}

/// What sits at one index of the saved `Sequential`.
enum Saved {
    Linear { inputs: usize, outputs: usize },
    BatchNorm { features: usize },
}

/// Rebuilds a classifier from the tensors of a model file and loads the weights: a CNN
/// when they are named like main.py's `Net` (`conv1.weight`, ...; see
/// [`super::cnn::shape_from_tensors`]), otherwise an MLP (ours, or a PyTorch state dict
/// of the same kind of MLP: keys `<prefix><index>.<name>`, e.g. `layers.3.weight`), and
/// loads the weights. Indices without tensors are activations: the first after a layer
/// is a ReLU, any further ones are dropout (identity when evaluating). A layer index of
/// `max_layers` or more is refused before anything is built, as are empty layers.
pub fn classifier_from_tensors(
    path: &Path,
    tensors: Vec<(String, Tensor)>,
    max_layers: usize,
) -> Result<Classifier, CliError> {
    let bad = |reason: String| CliError::BadModel {
        path: path.to_path_buf(),
        reason,
    };
    if tensors.is_empty() {
        return Err(bad("it holds no tensors".into()));
    }
    if looks_like_cnn(&tensors) {
        return cnn_from_tensors(path, tensors).map(|c| Classifier::Cnn(Box::new(c)));
    }
    let mut by_index: BTreeMap<usize, HashMap<String, Vec<usize>>> = BTreeMap::new();
    let mut prefix: Option<String> = None;
    for (name, t) in &tensors {
        let parsed = name.rsplit_once('.').and_then(|(head, leaf)| {
            let (pre, idx) = match head.rsplit_once('.') {
                Some((pre, idx)) => (format!("{pre}."), idx),
                None => (String::new(), head),
            };
            idx.parse::<usize>()
                .ok()
                .map(|i| (pre, i, leaf.to_string()))
        });
        let Some((pre, idx, leaf)) = parsed else {
            return Err(bad(format!(
                "tensor '{name}' is not named like a layer of a Sequential (e.g. layers.0.weight)"
            )));
        };
        match &prefix {
            None => prefix = Some(pre),
            Some(p) if *p != pre => {
                return Err(bad(format!("tensor '{name}' is outside the '{p}' layers")));
            }
            _ => {}
        }
        by_index
            .entry(idx)
            .or_default()
            .insert(leaf, t.size().to_vec());
    }
    let mut saved: BTreeMap<usize, Saved> = BTreeMap::new();
    for (&i, leaves) in &by_index {
        let layer = match (leaves.get("weight"), leaves.contains_key("running_mean")) {
            (Some(w), false) if w.len() == 2 => Saved::Linear {
                inputs: w[1],
                outputs: w[0],
            },
            (Some(w), true) if w.len() == 1 => Saved::BatchNorm { features: w[0] },
            _ => {
                return Err(bad(format!(
                    "layer {i} is neither a Linear nor a BatchNorm1d layer"
                )));
            }
        };
        saved.insert(i, layer);
    }
    let last = *saved.keys().next_back().expect("at least one layer");
    if last >= max_layers {
        return Err(bad(format!(
            "it names layer {last}, past the limit of {max_layers} layers (raise it with --max-layers)"
        )));
    }
    for (i, layer) in &saved {
        let empty = match *layer {
            Saved::Linear { inputs, outputs } => inputs == 0 || outputs == 0,
            Saved::BatchNorm { features } => features == 0,
        };
        if empty {
            return Err(bad(format!("layer {i} has no inputs or no outputs")));
        }
    }
    let Some(Saved::Linear { inputs, .. }) = saved.values().next() else {
        return Err(bad("the first layer is not a Linear layer".into()));
    };
    if !matches!(saved[&last], Saved::Linear { .. }) {
        return Err(bad("the last layer is not a Linear layer".into()));
    }
    let mut layers = Sequential::default();
    let mut width = *inputs;
    let mut after_layer = false;
    for i in 0..=last {
        match saved.get(&i) {
            Some(&Saved::Linear { inputs, outputs }) => {
                if inputs != width {
                    return Err(bad(format!(
                        "layer {i} takes {inputs} inputs but the layer before gives {width}"
                    )));
                }
                layers.push(Linear::from_weights(
                    Tensor::zeros(&[outputs, inputs]),
                    Some(Tensor::zeros(&[outputs])),
                ));
                width = outputs;
                after_layer = true;
            }
            Some(&Saved::BatchNorm { features }) => {
                if features != width {
                    return Err(bad(format!(
                        "layer {i} normalises {features} features but the layer before gives {width}"
                    )));
                }
                layers.push(BatchNorm1d::new(features));
                after_layer = true;
            }
            None if after_layer => {
                layers.push(ReLU::new());
                after_layer = false;
            }
            None => layers.push(Identity::new()),
        }
    }
    let model = Mlp {
        flatten: Flatten::new(),
        layers,
    };
    let pre = prefix.unwrap_or_default();
    let renamed = tensors
        .into_iter()
        .map(|(n, t)| (format!("layers.{}", &n[pre.len()..]), t))
        .collect();
    load_into(&model, renamed, path)?;
    model.eval();
    Ok(Classifier::Mlp(model))
}

/// Number of input features (pixels of a 28×28 image for a CNN) and classes of a
/// classifier.
pub fn io_sizes(model: &Classifier) -> (usize, usize) {
    let model = match model {
        Classifier::Mlp(m) => m,
        Classifier::Cnn(c) => return (28 * 28, c.fc2.out_features),
    };
    let linears: Vec<&Linear> = model
        .layers
        .iter()
        .filter_map(|l| l.downcast_ref::<Linear>())
        .collect();
    (
        linears.first().map_or(0, |l| l.in_features),
        linears.last().map_or(0, |l| l.out_features),
    )
}

/// One row per step of the forward pass: (name, layer, output shape, parameters), for
/// `kiln info`.
pub fn layer_summary(model: &Classifier) -> Vec<[String; 4]> {
    let mlp = match model {
        Classifier::Cnn(c) => return c.summary(),
        Classifier::Mlp(m) => m,
    };
    let (inputs, _) = io_sizes(model);
    let mut rows = vec![[
        "flatten".to_string(),
        mlp.flatten.repr(),
        format!("[N, {inputs}]"),
        "0".to_string(),
    ]];
    let mut width = inputs;
    for (i, layer) in mlp.layers.iter().enumerate() {
        if let Some(l) = layer.downcast_ref::<Linear>() {
            width = l.out_features;
        }
        rows.push([
            format!("layers.{i}"),
            layer.repr(),
            format!("[N, {width}]"),
            layer.num_parameters().to_string(),
        ]);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tutorial() -> Arch {
        Arch {
            model: ModelKind::Mlp,
            inputs: 784,
            hidden: vec![256, 128],
            classes: 10,
            dropout: 0.2,
            batch_norm: false,
        }
    }

    #[test]
    fn tutorial_keys_and_parameter_count() {
        let m = tutorial().build();
        let keys: Vec<String> = named_state(&m).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "layers.0.weight",
                "layers.0.bias",
                "layers.3.weight",
                "layers.3.bias",
                "layers.6.weight",
                "layers.6.bias"
            ]
        );
        assert_eq!(
            m.num_parameters(),
            784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
        );
    }

    #[test]
    fn rebuilds_from_saved_tensors_and_gives_the_same_logits() {
        for arch in [
            tutorial(),
            Arch {
                hidden: vec![32],
                dropout: 0.0,
                batch_norm: true,
                ..tutorial()
            },
        ] {
            let m = arch.build();
            m.eval();
            let x = Tensor::randn(&[3, 1, 28, 28]);
            let want = m.forward(&x).to_vec::<f32>();
            let back = classifier_from_tensors(Path::new("m"), named_state(&m), 1000).unwrap();
            assert_eq!(back.forward(&x).to_vec::<f32>(), want);
            assert_eq!(io_sizes(&back), (784, 10));
        }
    }

    #[test]
    fn plain_sequential_keys_load_too() {
        let m = tutorial().build();
        let bare: Vec<(String, Tensor)> = named_state(&m)
            .into_iter()
            .map(|(k, t)| (k["layers.".len()..].to_string(), t))
            .collect();
        assert!(classifier_from_tensors(Path::new("m"), bare, 1000).is_ok());
    }

    #[test]
    fn foreign_tensors_are_a_clear_error() {
        let e = classifier_from_tensors(
            Path::new("x.safetensors"),
            vec![("embedding".into(), Tensor::zeros(&[2, 2]))],
            1000,
        )
        .err()
        .unwrap();
        assert!(
            e.to_string()
                .starts_with("x.safetensors is not a usable model: tensor 'embedding'"),
            "{e}"
        );
        let e = classifier_from_tensors(
            Path::new("x"),
            vec![
                ("0.weight".into(), Tensor::zeros(&[4, 3])),
                ("1.weight".into(), Tensor::zeros(&[2, 5])),
            ],
            1000,
        )
        .err()
        .unwrap();
        assert!(
            e.to_string()
                .contains("layer 1 takes 5 inputs but the layer before gives 4"),
            "{e}"
        );
    }
}
