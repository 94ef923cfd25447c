//! The CNN `kiln train --model cnn` builds: the `Net` of PyTorch's `mnist/main.py`
//! (conv1 → relu → conv2 → relu → max_pool2d(2) → dropout1 → flatten → fc1 → relu →
//! dropout2 → fc2 → log_softmax), under main.py's attribute names, so a state dict saved
//! by `torch.save(model.state_dict(), "mnist_cnn.pt")` loads here and ours loads there.

use super::error::CliError;
use kiln::Tensor;
use kiln::nn::functional::{self as F, MaxPoolOptions};
use kiln::nn::{Conv2d, Dropout, Linear, Module};
use std::collections::HashMap;
use std::path::Path;

/// Side of the input images.
pub const SIDE: usize = 28;

/// main.py's `Net`, with its widths as parameters (main.py: 32 and 64 channels of 3×3
/// kernels, 128 hidden units).
#[derive(Module)]
pub struct Cnn {
    /// `nn.Conv2d(1, 32, 3, 1)`.
    pub conv1: Conv2d,
    /// `nn.Conv2d(32, 64, 3, 1)`.
    pub conv2: Conv2d,
    /// `nn.Dropout(0.25)`, after the pooling.
    pub dropout1: Dropout,
    /// `nn.Dropout(0.5)`, after fc1.
    pub dropout2: Dropout,
    /// `nn.Linear(9216, 128)`.
    pub fc1: Linear,
    /// `nn.Linear(128, classes)`.
    pub fc2: Linear,
}

/// The widths of a [`Cnn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CnnShape {
    /// conv1's output channels.
    pub c1: usize,
    /// conv1's kernel `(kH, kW)`.
    pub k1: (usize, usize),
    /// conv2's output channels.
    pub c2: usize,
    /// conv2's kernel.
    pub k2: (usize, usize),
    /// fc1's outputs.
    pub hidden: usize,
    /// Classes (fc2's outputs).
    pub classes: usize,
}

impl CnnShape {
    /// main.py's network for `classes` classes.
    pub fn main_py(classes: usize) -> Self {
        CnnShape {
            c1: 32,
            k1: (3, 3),
            c2: 64,
            k2: (3, 3),
            hidden: 128,
            classes,
        }
    }

    /// `(height, width)` after conv1, after conv2 and after the 2×2 pooling, for 28×28
    /// inputs; `None` if a kernel does not fit.
    pub fn maps(&self) -> Option<[(usize, usize); 3]> {
        let a = (
            (SIDE + 1).checked_sub(self.k1.0)?,
            (SIDE + 1).checked_sub(self.k1.1)?,
        );
        let b = (
            (a.0 + 1).checked_sub(self.k2.0)?,
            (a.1 + 1).checked_sub(self.k2.1)?,
        );
        let p = (b.0 / 2, b.1 / 2);
        (a.0 > 0 && a.1 > 0 && p.0 > 0 && p.1 > 0).then_some([a, b, p])
    }

    /// fc1's inputs: the flattened pooled maps.
    pub fn flat(&self) -> Option<usize> {
        self.maps().map(|m| self.c2 * m[2].0 * m[2].1)
    }
}

impl Cnn {
    /// A fresh network, its weights drawn from the default generator in main.py's order
    /// (so after `manual_seed(s)` they are `torch.manual_seed(s); Net()`'s).
    ///
    /// # Panics
    /// If the kernels do not fit a 28×28 image (a [`CnnShape::maps`] of `None`).
    pub fn new(shape: CnnShape) -> Self {
        let flat = shape.flat().expect("the kernels fit a 28x28 image");
        Cnn {
            conv1: Conv2d::new(1, shape.c1, shape.k1),
            conv2: Conv2d::new(shape.c1, shape.c2, shape.k2),
            dropout1: Dropout::new(0.25),
            dropout2: Dropout::new(0.5),
            fc1: Linear::new(flat, shape.hidden),
            fc2: Linear::new(shape.hidden, shape.classes),
        }
    }

    /// Log-probabilities `[N, classes]` for images `[N, 1, 28, 28]` (main.py's forward).
    /// Each step's input is dropped as soon as the next exists (`x` is reassigned, not
    /// shadowed), which halves the peak memory of a no-grad batch of 1000.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let mut x = F::relu(&self.conv1.forward(x));
        x = F::relu(&self.conv2.forward(&x));
        x = F::max_pool2d(&x, MaxPoolOptions::new(2));
        x = self.dropout1.forward(&x).flatten(1, -1);
        x = F::relu(&self.fc1.forward(&x));
        x = self.fc2.forward(&self.dropout2.forward(&x));
        F::log_softmax(&x, 1)
    }

    /// The widths this network was built with.
    pub fn shape(&self) -> CnnShape {
        let k = |c: &Conv2d| (c.kernel_size.0, c.kernel_size.1);
        CnnShape {
            c1: self.conv1.out_channels,
            k1: k(&self.conv1),
            c2: self.conv2.out_channels,
            k2: k(&self.conv2),
            hidden: self.fc1.out_features,
            classes: self.fc2.out_features,
        }
    }

    /// One row per step of the forward pass: (name, layer, output shape for one image,
    /// parameters), for `kiln info`.
    pub fn summary(&self) -> Vec<[String; 4]> {
        let s = self.shape();
        let [a, b, p] = s.maps().expect("a built network fits 28x28");
        let shape = |d: &[usize]| {
            let inner: Vec<String> = d.iter().map(|x| x.to_string()).collect();
            format!("[N, {}]", inner.join(", "))
        };
        let count = |m: &dyn Module| m.num_parameters().to_string();
        let row = |n: &str, l: String, sh: String, c: String| [n.to_string(), l, sh, c];
        let none = || "0".to_string();
        vec![
            row(
                "conv1",
                self.conv1.repr(),
                shape(&[s.c1, a.0, a.1]),
                count(&self.conv1),
            ),
            row("relu", "F.relu".into(), shape(&[s.c1, a.0, a.1]), none()),
            row(
                "conv2",
                self.conv2.repr(),
                shape(&[s.c2, b.0, b.1]),
                count(&self.conv2),
            ),
            row("relu", "F.relu".into(), shape(&[s.c2, b.0, b.1]), none()),
            row(
                "max_pool2d",
                "F.max_pool2d(kernel_size=2)".into(),
                shape(&[s.c2, p.0, p.1]),
                none(),
            ),
            row(
                "dropout1",
                self.dropout1.repr(),
                shape(&[s.c2, p.0, p.1]),
                none(),
            ),
            row(
                "flatten",
                "torch.flatten(x, 1)".into(),
                shape(&[s.c2 * p.0 * p.1]),
                none(),
            ),
            row("fc1", self.fc1.repr(), shape(&[s.hidden]), count(&self.fc1)),
            row("relu", "F.relu".into(), shape(&[s.hidden]), none()),
            row("dropout2", self.dropout2.repr(), shape(&[s.hidden]), none()),
            row(
                "fc2",
                self.fc2.repr(),
                shape(&[s.classes]),
                count(&self.fc2),
            ),
            row(
                "log_softmax",
                "F.log_softmax(dim=1)".into(),
                shape(&[s.classes]),
                none(),
            ),
        ]
    }
}

/// The tensor names of main.py's `Net`.
pub const KEYS: [&str; 8] = [
    "conv1.weight",
    "conv1.bias",
    "conv2.weight",
    "conv2.bias",
    "fc1.weight",
    "fc1.bias",
    "fc2.weight",
    "fc2.bias",
];

/// Whether `tensors` are named like main.py's `Net` (they hold `conv1.weight`).
pub fn looks_like_cnn(tensors: &[(String, Tensor)]) -> bool {
    tensors.iter().any(|(n, _)| n == "conv1.weight")
}

/// The [`CnnShape`] the tensors of a saved `Net` describe, checked against each other
/// and against 28×28 grayscale inputs, before anything is built.
pub fn shape_from_tensors(tensors: &[(String, Tensor)]) -> Result<CnnShape, String> {
    let shapes: HashMap<&str, Vec<usize>> = tensors
        .iter()
        .map(|(n, t)| (n.as_str(), t.shape().to_vec()))
        .collect();
    if let Some((n, _)) = tensors.iter().find(|(n, _)| !KEYS.contains(&n.as_str())) {
        return Err(format!(
            "tensor '{n}' is not one of the CNN's ({})",
            KEYS.join(", ")
        ));
    }
    let get = |key: &str, rank: usize| -> Result<Vec<usize>, String> {
        let s = shapes
            .get(key)
            .cloned()
            .ok_or_else(|| format!("it has conv1.weight but no {key}"))?;
        if s.len() != rank || s.contains(&0) {
            return Err(format!(
                "{key} has shape {s:?}; a CNN layer's is {rank}-dimensional and not empty"
            ));
        }
        Ok(s)
    };
    let (w1, w2, f1, f2) = (
        get("conv1.weight", 4)?,
        get("conv2.weight", 4)?,
        get("fc1.weight", 2)?,
        get("fc2.weight", 2)?,
    );
    if w1[1] != 1 {
        return Err(format!(
            "conv1 takes {} input channels, not the 1 of a grayscale image",
            w1[1]
        ));
    }
    if w2[1] != w1[0] {
        return Err(format!(
            "conv2 takes {} channels but conv1 gives {}",
            w2[1], w1[0]
        ));
    }
    let shape = CnnShape {
        c1: w1[0],
        k1: (w1[2], w1[3]),
        c2: w2[0],
        k2: (w2[2], w2[3]),
        hidden: f1[0],
        classes: f2[0],
    };
    let flat = shape
        .flat()
        .ok_or_else(|| "its kernels do not fit a 28x28 image".to_string())?;
    if f1[1] != flat {
        return Err(format!(
            "fc1 takes {} inputs but the pooled 28x28 maps give {flat}",
            f1[1]
        ));
    }
    if f2[1] != f1[0] {
        return Err(format!(
            "fc2 takes {} inputs but fc1 gives {}",
            f2[1], f1[0]
        ));
    }
    Ok(shape)
}

/// Rebuilds a [`Cnn`] from the tensors of a model file and loads them (strictly).
pub fn cnn_from_tensors(path: &Path, tensors: Vec<(String, Tensor)>) -> Result<Cnn, CliError> {
    let shape = shape_from_tensors(&tensors).map_err(|reason| CliError::BadModel {
        path: path.to_path_buf(),
        reason,
    })?;
    let model = Cnn::new(shape);
    let sd: kiln::nn::StateDict = tensors.into_iter().collect();
    model.load_state_dict(&sd).map_err(|e| CliError::BadModel {
        path: path.to_path_buf(),
        reason: e.to_string().replace(":\n\t", ": ").replace("\n\t", " "),
    })?;
    model.eval();
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_py_shapes_and_parameter_count() {
        kiln::manual_seed(1);
        let m = Cnn::new(CnnShape::main_py(10));
        let keys: Vec<String> = m.state_dict().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, KEYS);
        // torch: sum(p.numel() for p in Net().parameters())
        assert_eq!(m.num_parameters(), 1_199_882);
        assert_eq!(CnnShape::main_py(10).flat(), Some(9216));
        let x = Tensor::randn(&[2, 1, 28, 28]);
        assert_eq!(m.forward(&x).shape(), [2, 10]);
        assert_eq!(m.summary().len(), 12);
        assert_eq!(m.summary()[4][2], "[N, 64, 12, 12]");
    }

    #[test]
    fn rebuilds_from_its_tensors_and_refuses_what_does_not_fit() {
        let m = Cnn::new(CnnShape {
            c1: 4,
            k1: (5, 5),
            c2: 6,
            k2: (3, 3),
            hidden: 8,
            classes: 3,
        });
        m.eval();
        let x = Tensor::randn(&[2, 1, 28, 28]);
        let tensors: Vec<(String, Tensor)> = m.state_dict().into_iter().collect();
        assert!(looks_like_cnn(&tensors));
        let back = cnn_from_tensors(Path::new("m"), tensors.clone()).unwrap();
        assert_eq!(
            back.forward(&x).to_vec::<f32>(),
            m.forward(&x).to_vec::<f32>()
        );
        let mut wrong = tensors.clone();
        wrong[4].1 = Tensor::zeros(&[8, 99]);
        let e = shape_from_tensors(&wrong).unwrap_err();
        assert!(
            e.contains("fc1 takes 99 inputs but the pooled 28x28 maps give 726"),
            "{e}"
        );
        let mut rgb = tensors;
        rgb[0].1 = Tensor::zeros(&[4, 3, 5, 5]);
        let e = shape_from_tensors(&rgb).unwrap_err();
        assert!(e.contains("3 input channels"), "{e}");
    }
}
