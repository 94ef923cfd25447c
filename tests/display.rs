//! `Display` output checked against PyTorch's repr (tests/fixtures/display.json, made by
//! scripts/fixtures/gen_display.py).

use kiln::{DType, Tensor};
use serde_json::Value;

fn build(case: &Value) -> Tensor {
    let shape: Vec<usize> = case["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let data: Vec<f64> = case["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_f64()
                .unwrap_or_else(|| v.as_str().unwrap().parse().unwrap())
        })
        .collect();
    let dtype = match case["dtype"].as_str().unwrap() {
        "f32" => DType::F32,
        "f64" => DType::F64,
        "i64" => DType::I64,
        "u8" => DType::U8,
        "bool" => DType::Bool,
        other => panic!("unknown dtype {other}"),
    };
    let t = Tensor::from_vec(data, &shape).to_dtype(dtype);
    if case["requires_grad"].as_bool().unwrap() {
        t.requires_grad_(true)
    } else {
        t
    }
}

#[test]
fn display_matches_pytorch_repr() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/display.json"
    ))
    .unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let mut failures = Vec::new();
    for case in fixture["cases"].as_array().unwrap() {
        let got = format!("{}", build(case));
        let want = case["repr"].as_str().unwrap();
        if got != want {
            failures.push(format!(
                "{}:\n  want {want:?}\n  got  {got:?}",
                case["name"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn grad_fn_suffix_names_the_node() {
    let a = kiln::tensor(&[1.0, 2.0]).requires_grad_(true);
    let y = &a * 2.0;
    assert_eq!(format!("{y}"), "tensor([2., 4.], grad_fn=<MulBackward0>)");
}

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/display.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Rust's format spec for Python's (`.2f` is `{:.2}`, `<9.2f` is `{:<9.2}`).
fn format_with(t: &Tensor, spec: &str) -> String {
    match spec {
        ".2f" => format!("{t:.2}"),
        ".4f" => format!("{t:.4}"),
        "8.3f" => format!("{t:8.3}"),
        ".0f" => format!("{t:.0}"),
        "<9.2f" => format!("{t:<9.2}"),
        "+.3f" => format!("{t:+.3}"),
        s => panic!("no Rust spelling for {s}"),
    }
}

#[test]
fn a_zero_dim_tensor_formats_its_value_like_python() {
    for c in fixture()["formats"].as_array().unwrap() {
        let dtype = match c["dtype"].as_str().unwrap() {
            "f32" => DType::F32,
            "f64" => DType::F64,
            _ => DType::I64,
        };
        let t = Tensor::full(&[], c["value"].as_f64().unwrap()).to_dtype(dtype);
        let spec = c["spec"].as_str().unwrap();
        assert_eq!(format_with(&t, spec), c["out"].as_str().unwrap(), "{c}");
    }
    // Without a precision it is the repr, as f"{loss}" is.
    assert_eq!(
        format!("{}", kiln::tensor(&[0.5f32]).sum()),
        "tensor(0.5000)"
    );
}

#[test]
fn sizes_print_as_torch_size() {
    let fx = fixture();
    for c in fx["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .chain(fx["sizes_via_size"].as_array().unwrap())
    {
        let shape: Vec<usize> = c["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let t = Tensor::zeros(&shape);
        assert_eq!(format!("{}", t.size()), c["repr"].as_str().unwrap());
        assert_eq!(format!("{:?}", t.size()), c["repr"].as_str().unwrap());
        assert_eq!(t.size(), shape);
    }
}

#[test]
fn parameters_print_as_pytorch_parameters() {
    let fx = fixture();
    let p = &fx["params"];
    let lin = kiln::nn::Linear::from_weights(
        kiln::tensor(&[[0.5f32, -0.25]]),
        Some(kiln::tensor(&[0.125f32])),
    );
    assert_eq!(format!("{}", lin.weight), p["weight"].as_str().unwrap());
    assert_eq!(format!("{}", lin.bias()), p["bias"].as_str().unwrap());
    assert_eq!(
        format!("{}", lin.weight.detach()),
        p["weight_grad_free_copy"].as_str().unwrap()
    );
    assert_eq!(
        format!("{}", &lin.weight * 2.0),
        p["weight_times_2"].as_str().unwrap()
    );
}

#[test]
fn modules_print_as_pytorch_modules() {
    use kiln::nn::functional::ConvOptions;
    use kiln::nn::*;
    #[derive(Module)]
    struct SimpleNet {
        fc1: Linear,
        fc2: Linear,
        relu: ReLU,
    }
    impl SimpleNet {
        fn forward(&self, x: &Tensor) -> Tensor {
            self.fc2.forward(&self.relu.forward(&self.fc1.forward(x)))
        }
    }
    #[derive(Module)]
    struct DigitClassifier {
        flatten: Flatten,
        layers: Sequential,
    }
    impl DigitClassifier {
        fn forward(&self, x: &Tensor) -> Tensor {
            self.layers.forward(&self.flatten.forward(x))
        }
    }
    #[derive(Module)]
    struct ConvNet {
        features: Sequential,
        pool: AdaptiveAvgPool2d,
        head: ModuleList,
    }
    impl ConvNet {
        fn forward(&self, x: &Tensor) -> Tensor {
            self.pool.forward(&self.features.forward(x))
        }
    }
    let fx = fixture();
    let want = |k: &str| fx["modules"][k].as_str().unwrap().to_string();
    assert_eq!(format!("{}", Linear::new(784, 128)), want("linear"));
    assert_eq!(format!("{}", Linear::no_bias(3, 2)), want("linear_no_bias"));
    assert_eq!(format!("{}", ReLU::new()), want("relu"));
    assert_eq!(format!("{}", LeakyReLU::new(0.1)), want("leaky_relu"));
    assert_eq!(format!("{}", GELU::new()), want("gelu"));
    assert_eq!(format!("{}", Sigmoid::new()), want("sigmoid"));
    assert_eq!(format!("{}", Tanh::new()), want("tanh"));
    assert_eq!(format!("{}", Softmax::new(1)), want("softmax"));
    assert_eq!(format!("{}", Dropout::new(0.2)), want("dropout"));
    assert_eq!(format!("{}", Flatten::new()), want("flatten"));
    assert_eq!(format!("{}", BatchNorm1d::new(256)), want("batchnorm1d"));
    assert_eq!(format!("{}", LayerNorm::new(&[64])), want("layernorm"));
    assert_eq!(format!("{}", Embedding::new(10, 3)), want("embedding"));
    let conv = || Conv2d::with_options(1, 16, 3, ConvOptions::new().padding(1), true);
    assert_eq!(format!("{}", conv()), want("conv2d"));
    let seq = kiln::seq![Linear::new(2, 4), ReLU::new(), Linear::new(4, 1)];
    assert_eq!(format!("{seq}"), want("sequential"));
    let net = SimpleNet {
        fc1: Linear::new(784, 128),
        fc2: Linear::new(128, 10),
        relu: ReLU::new(),
    };
    assert_eq!(format!("{net}"), want("simple_net"));
    let layers = kiln::seq![
        Linear::new(28 * 28, 256),
        ReLU::new(),
        Dropout::new(0.2),
        Linear::new(256, 128),
        ReLU::new(),
        Dropout::new(0.2),
        Linear::new(128, 10)
    ];
    let digits = DigitClassifier {
        flatten: Flatten::new(),
        layers,
    };
    assert_eq!(format!("{digits}"), want("digit_classifier"));
    let features = kiln::seq![
        conv(),
        BatchNorm2d::new(16),
        ReLU::new(),
        MaxPool2d::new(2),
        Conv2d::with_options(16, 32, 5, ConvOptions::new().stride(2), false)
    ];
    let head = ModuleList::new(vec![
        Box::new(Linear::no_bias(32, 10)),
        Box::new(LogSoftmax::new(1)),
    ]);
    let cnn = ConvNet {
        features,
        pool: AdaptiveAvgPool2d::new(1),
        head,
    };
    assert_eq!(format!("{cnn}"), want("conv_net"));
}
