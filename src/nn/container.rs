//! Containers: `Sequential` and `ModuleList`, whose children are named `0`, `1`, ...

use super::module::{Module, TrainingFlag, training_hooks};
use crate::tensor::Tensor;

/// Runs its layers in order, each on the previous one's output (`nn.Sequential`).
///
/// ```
/// use kiln::nn::{Linear, Module, ReLU};
/// let net = kiln::seq![Linear::new(2, 30), ReLU::new(), Linear::new(30, 2)];
/// assert_eq!(net.forward(&kiln::Tensor::randn(&[4, 2])).shape(), &[4, 2]);
/// assert_eq!(net.named_parameters()[2].0, "2.weight");
/// ```
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
    training: TrainingFlag,
}

impl Sequential {
    /// A sequence of boxed layers (see also the [`seq!`](crate::seq) macro).
    pub fn new(layers: Vec<Box<dyn Module>>) -> Self {
        Sequential {
            layers,
            training: TrainingFlag::new(),
        }
    }

    /// Appends a layer, builder style.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: impl Module) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// Appends a layer (`seq.append(layer)`).
    pub fn push(&mut self, layer: impl Module) {
        self.layers.push(Box::new(layer));
    }

    /// The layer at `index`.
    pub fn get(&self, index: usize) -> Option<&dyn Module> {
        self.layers.get(index).map(|b| &**b)
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether there are no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The layers in order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Module> {
        self.layers.iter().map(|b| &**b)
    }
}

impl std::ops::Index<usize> for Sequential {
    type Output = dyn Module;
    fn index(&self, i: usize) -> &dyn Module {
        &*self.layers[i]
    }
}

impl Module for Sequential {
    fn forward(&self, input: &Tensor) -> Tensor {
        let mut x = input.shallow_clone();
        for l in &self.layers {
            x = l.call(&x);
        }
        x
    }
    fn visit_children<'a>(&'a self, f: &mut dyn FnMut(&str, &'a dyn Module)) {
        for (i, l) in self.layers.iter().enumerate() {
            f(&i.to_string(), &**l);
        }
    }
    training_hooks!();
}

/// A list of submodules without a forward of its own (`nn.ModuleList`).
#[derive(Default)]
pub struct ModuleList {
    modules: Vec<Box<dyn Module>>,
    training: TrainingFlag,
}

impl ModuleList {
    /// A list of boxed modules.
    pub fn new(modules: Vec<Box<dyn Module>>) -> Self {
        ModuleList {
            modules,
            training: TrainingFlag::new(),
        }
    }

    /// Appends a module.
    pub fn push(&mut self, m: impl Module) {
        self.modules.push(Box::new(m));
    }

    /// Number of modules.
    pub fn len(&self) -> usize {
        self.modules.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// The modules in order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Module> {
        self.modules.iter().map(|b| &**b)
    }
}

impl std::ops::Index<usize> for ModuleList {
    type Output = dyn Module;
    fn index(&self, i: usize) -> &dyn Module {
        &*self.modules[i]
    }
}

impl Module for ModuleList {
    /// Panics: a `ModuleList` has no forward, as in PyTorch.
    fn forward(&self, _input: &Tensor) -> Tensor {
        panic!("ModuleList is not callable: iterate over its modules instead")
    }
    fn visit_children<'a>(&'a self, f: &mut dyn FnMut(&str, &'a dyn Module)) {
        for (i, l) in self.modules.iter().enumerate() {
            f(&i.to_string(), &**l);
        }
    }
    training_hooks!();
}

/// Builds a [`Sequential`](crate::nn::Sequential) from layers: `seq![Linear::new(2, 3), ReLU::new()]`.
#[macro_export]
macro_rules! seq {
    ($($layer:expr),* $(,)?) => {
        $crate::nn::Sequential::new(vec![
            $(::std::boxed::Box::new($layer) as ::std::boxed::Box<dyn $crate::nn::Module>),*
        ])
    };
}
