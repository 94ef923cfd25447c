//! The Module trait and #[derive(Module)]: tutorial models ported line by line.

use kiln::nn::{BatchNorm1d, Dropout, Flatten, Linear, Module, ReLU, Sequential, StateDict};
use kiln::{Tensor, seq};

#[derive(Module)]
struct SimpleNet {
    fc1: Linear,
    fc2: Linear,
    relu: ReLU,
}

impl SimpleNet {
    fn new() -> Self {
        SimpleNet {
            fc1: Linear::new(784, 128),
            fc2: Linear::new(128, 10),
            relu: ReLU::new(),
        }
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        let x = self.relu.forward(&self.fc1.forward(x));
        self.fc2.forward(&x)
    }
}

#[derive(Module)]
struct DigitClassifier {
    flatten: Flatten,
    layers: Sequential,
}

impl DigitClassifier {
    fn new() -> Self {
        DigitClassifier {
            flatten: Flatten::new(),
            layers: seq![
                Linear::new(28 * 28, 256),
                ReLU::new(),
                Dropout::new(0.2),
                Linear::new(256, 128),
                ReLU::new(),
                Dropout::new(0.2),
                Linear::new(128, 10),
            ],
        }
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        self.layers.forward(&self.flatten.forward(x))
    }
}

#[derive(Module)]
struct ResidualBlock {
    layers: Sequential,
}

impl ResidualBlock {
    fn new(dim: usize) -> Self {
        ResidualBlock {
            layers: seq![Linear::new(dim, dim), ReLU::new(), Linear::new(dim, dim)],
        }
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        x + self.layers.forward(x)
    }
}

#[derive(Module)]
struct NormalizedMLP {
    layers: Sequential,
}

impl NormalizedMLP {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.layers.forward(x)
    }
}

/// A module with a raw parameter, a buffer, a skipped field and a non-module field.
#[derive(Module)]
struct Custom {
    #[module(param)]
    scale: Tensor,
    #[module(buffer)]
    count: Tensor,
    inner: Linear,
    #[module(skip)]
    ignored: Linear,
    name: String,
}

impl Custom {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.inner.forward(x).mul(&self.scale)
    }
}

fn names(v: Vec<(String, Tensor)>) -> Vec<String> {
    v.into_iter().map(|(n, _)| n).collect()
}

#[test]
fn simple_net_forward_and_names() {
    let net = SimpleNet::new();
    let y = net.forward(&Tensor::randn(&[1, 784]));
    assert_eq!(y.shape(), &[1, 10]);
    assert_eq!(
        names(net.named_parameters()),
        ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    );
    assert_eq!(net.num_parameters(), 784 * 128 + 128 + 128 * 10 + 10);
    let children: Vec<String> = net.named_children().into_iter().map(|(n, _)| n).collect();
    assert_eq!(children, ["fc1", "fc2", "relu"]);
}

#[test]
fn digit_classifier_state_dict_keys_and_eval_propagation() {
    let model = DigitClassifier::new();
    let keys: Vec<String> = model.state_dict().keys().cloned().collect();
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
    assert!(model.is_training());
    model.eval();
    assert!(!model.is_training());
    assert!(!model.layers[2].is_training());
    let x = Tensor::randn(&[3, 1, 28, 28]);
    // Eval mode: dropout off, so two passes agree exactly.
    assert_eq!(
        model.forward(&x).to_vec::<f32>(),
        model.forward(&x).to_vec::<f32>()
    );
    model.train();
    assert!(model.layers[5].is_training());
    let lin = model.layers[0].downcast_ref::<Linear>().unwrap();
    assert_eq!(lin.weight.shape(), &[256, 784]);
}

#[test]
fn residual_block_backward_reaches_every_parameter() {
    let block = ResidualBlock::new(4);
    let x = Tensor::randn(&[2, 4]);
    block.forward(&x).sum().backward();
    for (name, p) in block.named_parameters() {
        assert!(p.grad().is_some(), "{name} has no grad");
    }
    block.zero_grad();
    assert!(block.parameters().iter().all(|p| p.grad().is_none()));
}

#[test]
fn batchnorm_buffers_in_pytorch_order() {
    let m = NormalizedMLP {
        layers: seq![
            Linear::new(784, 256),
            BatchNorm1d::new(256),
            ReLU::new(),
            Linear::new(256, 10)
        ],
    };
    let keys: Vec<String> = m.state_dict().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "layers.0.weight",
            "layers.0.bias",
            "layers.1.weight",
            "layers.1.bias",
            "layers.1.running_mean",
            "layers.1.running_var",
            "layers.1.num_batches_tracked",
            "layers.3.weight",
            "layers.3.bias"
        ]
    );
    assert_eq!(
        names(m.named_buffers()),
        [
            "layers.1.running_mean",
            "layers.1.running_var",
            "layers.1.num_batches_tracked"
        ]
    );
    assert_eq!(m.forward(&Tensor::randn(&[5, 784])).shape(), &[5, 10]);
}

#[test]
fn custom_fields_params_buffers_and_skips() {
    let c = Custom {
        scale: Tensor::ones(&[3]).requires_grad_(true),
        count: Tensor::zeros(&[1]),
        inner: Linear::new(2, 3),
        ignored: Linear::new(5, 5),
        name: "x".into(),
    };
    assert_eq!(c.name, "x");
    assert_eq!(c.ignored.in_features, 5);
    assert_eq!(
        names(c.named_parameters()),
        ["scale", "inner.weight", "inner.bias"]
    );
    assert_eq!(names(c.named_buffers()), ["count"]);
    let keys: Vec<String> = c.state_dict().keys().cloned().collect();
    assert_eq!(keys, ["scale", "count", "inner.weight", "inner.bias"]);
    assert_eq!(c.forward(&Tensor::randn(&[4, 2])).shape(), &[4, 3]);
}

#[test]
fn load_state_dict_round_trip_and_errors() {
    let a = SimpleNet::new();
    let b = SimpleNet::new();
    let report = b.load_state_dict(&a.state_dict()).unwrap();
    assert!(report.missing_keys.is_empty() && report.unexpected_keys.is_empty());
    let x = Tensor::randn(&[2, 784]);
    assert_eq!(a.forward(&x).to_vec::<f32>(), b.forward(&x).to_vec::<f32>());
    // Loading copies: later changes to the source do not leak into the model.
    assert!(!a.fc1.weight.storage().same(b.fc1.weight.storage()));

    let mut sd: StateDict = a.state_dict();
    sd.remove("fc2.bias");
    sd.insert("extra.weight", Tensor::zeros(&[1]));
    let err = b.load_state_dict(&sd).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("Missing key(s) in state_dict: \"fc2.bias\""),
        "{msg}"
    );
    assert!(
        msg.contains("Unexpected key(s) in state_dict: \"extra.weight\""),
        "{msg}"
    );
    let report = b.load_state_dict_with(&sd, false).unwrap();
    assert_eq!(report.missing_keys, ["fc2.bias"]);
    assert_eq!(report.unexpected_keys, ["extra.weight"]);

    let mut bad = a.state_dict();
    bad.insert("fc1.bias", Tensor::zeros(&[3]));
    let msg = b.load_state_dict_with(&bad, false).unwrap_err().to_string();
    assert!(msg.contains("size mismatch for fc1.bias"), "{msg}");
}

#[test]
fn repr_matches_pytorch_layout() {
    let model = DigitClassifier::new();
    let want = "DigitClassifier(
  (flatten): Flatten(start_dim=1, end_dim=-1)
  (layers): Sequential(
    (0): Linear(in_features=784, out_features=256, bias=True)
    (1): ReLU()
    (2): Dropout(p=0.2, inplace=False)
    (3): Linear(in_features=256, out_features=128, bias=True)
    (4): ReLU()
    (5): Dropout(p=0.2, inplace=False)
    (6): Linear(in_features=128, out_features=10, bias=True)
  )
)";
    assert_eq!(model.repr(), want);
    let bn: Box<dyn Module> = Box::new(BatchNorm1d::new(256));
    assert_eq!(
        format!("{bn}"),
        "BatchNorm1d(256, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"
    );
}

#[test]
fn modules_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<DigitClassifier>();
    check::<Box<dyn Module>>();
}

#[derive(Module)]
struct LinearNet {
    fc: Linear,
}

impl LinearNet {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.fc.forward(x)
    }
}

#[test]
fn tutorial_linear_regression_recovers_true_weights() {
    use kiln::nn::MSELoss;
    use kiln::optim::{Optimizer, SGD};
    kiln::manual_seed(42);
    let x = Tensor::randn(&[100, 2]);
    let true_w = kiln::tensor(&[2.0, 3.0]);
    let y_true = x.matmul(&true_w).add_scalar(5.0) + Tensor::randn(&[100]).mul_scalar(0.1);
    let model = LinearNet {
        fc: Linear::new(2, 1),
    };
    let criterion = MSELoss::new();
    let mut optimizer = SGD::new(model.parameters(), 0.1);
    for _ in 0..200 {
        let y_pred = model.forward(&x);
        let loss = criterion.forward(&y_pred.squeeze(), &y_true);
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
    }
    let w = model.fc.weight.to_vec::<f32>();
    let b = model.fc.bias.as_ref().unwrap().item();
    assert!(
        (w[0] - 2.0).abs() < 0.05 && (w[1] - 3.0).abs() < 0.05,
        "{w:?}"
    );
    assert!((b - 5.0).abs() < 0.05, "{b}");
}

mod forward_hooks {
    use kiln::Tensor;
    use kiln::nn::{Linear, Module, ModuleHooks, ReLU, Sequential};
    use std::sync::{Arc, Mutex};

    #[derive(kiln::Module)]
    struct Net {
        fc: Linear,
        relu: ReLU,
    }

    impl Net {
        fn forward(&self, x: &Tensor) -> Tensor {
            self.relu.call(&self.fc.call(x))
        }
    }

    #[test]
    fn pre_and_post_hooks_run_in_order_around_forward_and_come_off() {
        let fc = Linear::new(2, 2);
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
        let pre = fc.register_forward_pre_hook(move |x| {
            l1.lock().unwrap().push(format!("pre {:?}", x.shape()));
            Some(x.mul_scalar(0.0))
        });
        let post1 = fc.register_forward_hook(move |x, out| {
            // The input is the pre-hook's replacement.
            l2.lock().unwrap().push(format!("post1 {}", x.sum().item()));
            Some(out.add_scalar(1.0))
        });
        let post2 = fc.register_forward_hook(move |_, out| {
            l3.lock()
                .unwrap()
                .push(format!("post2 {:?}", out.to_vec::<f32>()));
            None
        });
        let x = Tensor::ones(&[1, 2]);
        let b: Vec<f32> = fc.bias.as_ref().unwrap().to_vec();
        let y = fc.call(&x);
        let expect: Vec<f32> = b.iter().map(|v| v + 1.0).collect();
        assert_eq!(y.to_vec::<f32>(), expect);
        assert_eq!(
            *log.lock().unwrap(),
            vec![
                "pre [1, 2]".to_string(),
                "post1 0".to_string(),
                format!("post2 {expect:?}")
            ]
        );
        // forward itself skips hooks, as in PyTorch.
        log.lock().unwrap().clear();
        fc.forward(&x);
        assert!(log.lock().unwrap().is_empty());
        pre.remove();
        post1.remove();
        let y = fc.call(&x);
        assert_eq!(y.to_vec::<f32>(), fc.forward(&x).to_vec::<f32>());
        assert_eq!(log.lock().unwrap().len(), 1, "only post2 is left");
        post2.remove();
    }

    #[test]
    fn hooks_on_layers_inside_a_sequential_and_a_derived_model_run() {
        let seq = Sequential::new(vec![Box::new(Linear::new(2, 3)), Box::new(ReLU::new())]);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let h = seq[1].register_forward_hook(move |x, _| {
            s.lock().unwrap().push(x.size());
            None
        });
        seq.call(&Tensor::ones(&[4, 2]));
        seq.forward(&Tensor::ones(&[5, 2]));
        assert_eq!(*seen.lock().unwrap(), vec![vec![4, 3], vec![5, 3]]);
        h.remove();
        seq.forward(&Tensor::ones(&[5, 2]));
        assert_eq!(seen.lock().unwrap().len(), 2);

        let net = Net {
            fc: Linear::new(2, 2),
            relu: ReLU::new(),
        };
        let h = net
            .fc
            .register_forward_hook(|_, out| Some(out.mul_scalar(0.0).add_scalar(-1.0)));
        // relu(-1) = 0 everywhere: the hook's output reached the next layer.
        assert_eq!(
            net.forward(&Tensor::ones(&[1, 2])).to_vec::<f32>(),
            vec![0.0, 0.0]
        );
        h.remove();
    }

    #[test]
    fn hooks_are_per_module() {
        let (a, b) = (Linear::new(1, 1), Linear::new(1, 1));
        let h = a.register_forward_hook(|_, out| Some(out.mul_scalar(0.0)));
        let x = Tensor::ones(&[1, 1]);
        assert_eq!(a.call(&x).item(), 0.0);
        assert_eq!(b.call(&x).item(), b.forward(&x).item());
        h.remove();
    }
}
