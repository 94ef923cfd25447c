//! The tutorial examples (`examples/*.rs`), run in-process, against what their PyTorch
//! twins (`scripts/torch_examples/*.py`) print (`tests/fixtures/examples.json`, made by
//! `scripts/fixtures/gen_examples.py`), plus each example's own claim.

use serde_json::Value;
use std::sync::{Mutex, MutexGuard};

#[path = "../examples/activations.rs"]
#[allow(dead_code)]
mod activations;
#[path = "../examples/explain_backprop.rs"]
#[allow(dead_code)]
mod explain_backprop;
#[path = "../examples/mnist_cnn.rs"]
#[allow(dead_code)]
mod mnist_cnn;
#[path = "../examples/vanishing_gradients.rs"]
#[allow(dead_code)]
mod vanishing_gradients;

/// The examples seed the process-wide generator: one at a time.
fn lock() -> MutexGuard<'static, ()> {
    static RNG: Mutex<()> = Mutex::new(());
    RNG.lock().unwrap_or_else(|e| e.into_inner())
}

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/examples.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn torch_stdout(name: &str) -> String {
    fixture()["stdout"][name].as_str().unwrap().to_string()
}

fn capture<R>(f: impl FnOnce(&mut Vec<u8>) -> std::io::Result<R>) -> (String, R) {
    let mut buf = Vec::new();
    let r = f(&mut buf).unwrap();
    (String::from_utf8(buf).unwrap(), r)
}

#[test]
fn perceptron_learns_and_prints_what_pytorch_prints() {
    let text = run_example("perceptron_and");
    assert_eq!(text, torch_stdout("perceptron_and"));
    assert!(text.contains("收敛"), "{text}");
    let got: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once("-> "))
        .map(|(_, p)| p)
        .collect();
    assert_eq!(got, ["0", "0", "0", "1"]);
}

#[test]
fn xor_is_solved_as_in_pytorch() {
    let _g = lock();
    let text = run_example("xor_mlp");
    // "  [0.0, 1.0] -> 0.99": the prediction after the arrow.
    let preds: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split_once("-> "))
        .map(|(_, p)| p.parse().unwrap())
        .collect();
    assert_eq!(preds.len(), 4, "{text}");
    for (p, want) in preds.iter().zip([0.0, 1.0, 1.0, 0.0]) {
        assert!((p - want).abs() < 0.05, "XOR not solved: {preds:?}");
    }
    // Adam near zero loss amplifies the last-bit differences of float32 sums, so the
    // trajectories drift apart in their tiny losses (PyTorch's own would across BLAS
    // builds): the lines must match with the losses within 1e-3 and -0.00 read as 0.00.
    let torch = torch_stdout("xor_mlp");
    let (ours, theirs): (Vec<&str>, Vec<&str>) = (text.lines().collect(), torch.lines().collect());
    assert_eq!(ours.len(), theirs.len(), "{text}");
    for (a, b) in ours.iter().zip(&theirs) {
        match (a.split_once("Loss: "), b.split_once("Loss: ")) {
            (Some((ha, la)), Some((hb, lb))) => {
                assert_eq!(ha, hb);
                let (la, lb): (f64, f64) = (la.parse().unwrap(), lb.parse().unwrap());
                assert!((la - lb).abs() <= 1e-3, "{a} vs {b}");
            }
            _ => assert_eq!(a.replace("-0.00", "0.00"), b.replace("-0.00", "0.00")),
        }
    }
}

#[test]
fn linear_regression_recovers_the_true_weights_as_pytorch_does() {
    let text = run_example("linear_regression");
    assert_eq!(text, torch_stdout("linear_regression"));
    // 學習後的權重: Parameter containing:\ntensor([[2.0097, 2.9986]], requires_grad=True)
    let nums = |after: &str| -> Vec<f64> {
        let i = text.find(after).unwrap() + after.len();
        let body = &text[i..];
        let body = &body[body.find("tensor(").unwrap() + 7..body.find(", requires_grad").unwrap()];
        body.trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|v| v.trim().parse().unwrap())
            .collect()
    };
    let (w, b) = (nums("權重"), nums("偏置"));
    assert!(
        (w[0] - 2.0).abs() < 0.05 && (w[1] - 3.0).abs() < 0.05,
        "{w:?}"
    );
    assert!((b[0] - 5.0).abs() < 0.05, "{b:?}");
}

#[test]
fn binary_classifier_both_losses_agree_with_each_other_and_pytorch() {
    let text = run_example("binary_classifier");
    assert_eq!(text, torch_stdout("binary_classifier"));
    // Both ways classify the tutorial's five points by their labels.
    assert!(text.contains("预测: tensor([0, 0, 0, 1, 1])"), "{text}");
}

#[test]
fn architectures_print_and_count_as_pytorch() {
    let text = run_example("architectures");
    assert_eq!(text, torch_stdout("architectures"));
    let want = fixture()["param_counts"].clone();
    for name in ["Encoder", "Decoder", "ResidualBlock", "NormalizedMLP"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name} 参数量: ")))
            .unwrap_or_else(|| panic!("no count for {name}:\n{text}"));
        let n: u64 = line
            .rsplit(' ')
            .next()
            .unwrap()
            .replace(',', "")
            .parse()
            .unwrap();
        let key = if name == "ResidualBlock" {
            "ResidualBlock(64)"
        } else {
            name
        };
        assert_eq!(n, want[key].as_u64().unwrap(), "{name}");
    }
}

#[test]
fn save_load_gives_identical_outputs_through_a_pth_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = run_example_in("save_load", dir.path());
    assert_eq!(text, torch_stdout("save_load"));
    assert!(text.contains("输出相同: True"), "{text}");
    // The file is PyTorch's zip format, readable as a state dict.
    let path = dir.path().join("model.pth");
    let state = kiln::load(&path).unwrap();
    assert_eq!(state.len(), 6);
}

#[test]
fn activations_png_is_drawn_from_the_right_curves() {
    let curves = activations::curves();
    let names: Vec<&str> = curves.iter().map(|c| c.0).collect();
    assert_eq!(names, ["Sigmoid", "Tanh", "ReLU", "LeakyReLU", "GELU"]);
    for (name, x, y) in &curves {
        assert_eq!((x.len(), y.len()), (100, 100));
        assert_eq!((x[0], x[99]), (-5.0, 5.0));
        for (&x, &y) in x.iter().zip(y) {
            let want = match *name {
                "Sigmoid" => 1.0 / (1.0 + (-x).exp()),
                "Tanh" => x.tanh(),
                "ReLU" => x.max(0.0),
                "LeakyReLU" => {
                    if x > 0.0 {
                        x
                    } else {
                        0.1 * x
                    }
                }
                _ => 0.5 * x * (1.0 + libm::erff(x / std::f32::consts::SQRT_2)),
            };
            assert!((y - want).abs() < 1e-5, "{name}({x}) = {y}, want {want}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("activations.png");
    activations::draw(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // Width and height from the IHDR chunk.
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((w, h), (1500, 300));
}

#[test]
fn explain_backprop_traces_the_right_gradients_where_the_tutorials_misprint() {
    let _g = lock();
    let (text, o) = capture(|out| explain_backprop::run(out));
    // Seed 003 prints w.grad 4, b.grad 2; its program gives -8 and -4.
    assert_eq!(o.seed003, (-8.0, -4.0));
    assert!(text.contains("dL/dw = dL/d(w*x) * x = -8"), "{text}");
    assert!(
        text.contains("dL/d(y_pred - y) = 2*(y_pred - y) = -4"),
        "{text}"
    );
    // Seed 002 prints weight.grad [-0.0125, 0.4375]; it is twice that.
    let (loss, gw, gb) = o.seed002.clone();
    assert!((loss - 0.12125).abs() < 1e-6, "{loss}");
    assert!(
        (gw[0] + 0.025).abs() < 1e-6 && (gw[1] - 0.875).abs() < 1e-6,
        "{gw:?}"
    );
    assert!((gb + 0.25).abs() < 1e-6, "{gb}");
    assert!(o.traces[1].contains("AddmmBackward0"), "{}", o.traces[1]);
    assert!(o.traces[1].contains("[[-0.025, 0.875]]"), "{}", o.traces[1]);
    assert!(text.contains("examples/explain_backprop.rs:"), "{text}");
}

#[test]
fn vanishing_gradients_shows_what_seed_001_claims() {
    let _g = lock();
    let (text, data) = capture(|out| vanishing_gradients::run(out));
    let ratio = |name: &str| {
        let v = &data.iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(v.len(), vanishing_gradients::DEPTH + 1);
        v[0] / v[v.len() - 1]
    };
    // First layer's gradient norm over the last's.
    assert!(ratio("Sigmoid") < 1e-4, "{text}");
    assert!(ratio("Sigmoid") < ratio("Tanh"), "{text}");
    assert!(ratio("ReLU + He init") > 0.1, "{text}");
}

/// `examples/mnist_cnn.rs` with the flags `tests/fixtures/mnist_cnn.json` ran its twin
/// with (`scripts/fixtures/gen_mnist_cnn.py`): its stdout and test results.
fn run_mnist_cnn(run: &str) -> (String, Vec<mnist_cnn::TestResult>, String) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mnist_cnn.json");
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let argv: Vec<String> = fx["args"][run]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let mut args = mnist_cnn::Args::parse(argv).unwrap();
    args.data_dir = Some(concat!(env!("CARGO_MANIFEST_DIR"), "/data").into());
    let mut buf = Vec::new();
    let results = mnist_cnn::run(&args, &mut buf).unwrap();
    let torch = fx["stdout"][run].as_str().unwrap().to_string();
    (String::from_utf8(buf).unwrap(), results, torch)
}

/// Splits a line at its numbers: the text between them must match exactly, the decimals
/// within `tol`, the integers exactly, except a test line's count of correct answers
/// (within 2: the last bits of a sum can flip a near-tie on another CPU).
fn same_line_up_to(ours: &str, theirs: &str, tol: f64) {
    let split = |l: &str| -> (String, Vec<(bool, f64)>) {
        let mut text = String::new();
        let mut nums = Vec::new();
        for tok in l.split(|c: char| c.is_whitespace() || "[]()/:,%".contains(c)) {
            match tok.parse::<f64>() {
                Ok(v) => {
                    nums.push((tok.contains('.'), v));
                    text.push('#');
                }
                _ => text.push_str(tok),
            }
            text.push('|');
        }
        (text, nums)
    };
    let ((ta, na), (tb, nb)) = (split(ours), split(theirs));
    assert_eq!(ta, tb, "{ours:?} vs {theirs:?}");
    let test_line = ours.starts_with("Test set");
    for (i, ((dec, a), (_, b))) in na.iter().zip(&nb).enumerate() {
        let allowed = match (dec, test_line) {
            (true, _) => tol,
            // Average loss, correct, total, percent.
            (false, true) if i == 1 => 2.0,
            (false, true) if i == 3 => 1.0,
            _ => 0.0,
        };
        assert!((a - b).abs() <= allowed, "{ours:?} vs {theirs:?}");
    }
}

#[test]
fn mnist_cnn_trains_and_prints_as_main_py_does() {
    let _g = lock();
    let (text, results, torch) = run_mnist_cnn("small");
    // Same weights (seed 1), same unshuffled batches, same dropout masks: the runs differ
    // only by float rounding, so every logged loss agrees closely.
    let (ours, theirs): (Vec<&str>, Vec<&str>) = (text.lines().collect(), torch.lines().collect());
    assert_eq!(ours.len(), theirs.len(), "{text}\n---\n{torch}");
    assert!(
        text.starts_with("Train Epoch: 1 [0/320 (0%)]\tLoss: 2.3"),
        "{text}"
    );
    assert!(text.contains("\nTest set: Average loss: "), "{text}");
    for (a, b) in ours.iter().zip(&theirs) {
        same_line_up_to(a, b, 2e-3);
    }
    assert_eq!(results.len(), 2);
    assert_eq!(results[1].total, 100);
    assert!(results[1].correct > results[0].correct, "{text}");
}

#[test]
fn mnist_cnn_dry_run_is_one_batch_then_the_test() {
    let _g = lock();
    let (text, _, torch) = run_mnist_cnn("dry_run");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(text.matches("Train Epoch").count(), 1);
    assert!(
        lines[2].starts_with("Test set: Average loss: ") && lines[2].contains("/100 ("),
        "{text}"
    );
    assert_eq!(text.lines().count(), torch.lines().count());
    same_line_up_to(lines[0], torch.lines().next().unwrap(), 1e-4);
}

#[test]
fn mnist_cnn_takes_main_py_flags() {
    let a = mnist_cnn::Args::parse(Vec::<String>::new()).unwrap();
    assert_eq!(
        (
            a.batch_size,
            a.test_batch_size,
            a.epochs,
            a.seed,
            a.log_interval
        ),
        (64, 1000, 14, 1, 10)
    );
    assert_eq!(
        (a.lr, a.gamma, a.dry_run, a.save_model),
        (1.0, 0.7, false, false)
    );
    let argv = "--batch-size 32 --test-batch-size=500 --epochs 2 --lr 0.5 --gamma 0.9 \
                --seed 7 --log-interval 5 --dry-run --save-model --no-accel";
    let b = mnist_cnn::Args::parse(argv.split_whitespace().map(String::from)).unwrap();
    assert_eq!(
        (
            b.batch_size,
            b.test_batch_size,
            b.epochs,
            b.seed,
            b.log_interval
        ),
        (32, 500, 2, 7, 5)
    );
    assert!(b.dry_run && b.save_model && b.lr == 0.5 && b.gamma == 0.9);
    let e = mnist_cnn::Args::parse(["--epochs".to_string(), "x".to_string()]).unwrap_err();
    assert_eq!(e, "argument --epochs: invalid value: 'x'");
    assert!(mnist_cnn::Args::parse(["--nope".to_string()]).is_err());
}

/// Runs the example program `name` (built by `cargo test` beside this test binary, in
/// `target/<profile>/examples/`) and returns what it printed.
fn run_example(name: &str) -> String {
    run_example_in(name, std::path::Path::new("."))
}

/// [`run_example`] with `dir` as the working directory (for examples that write files).
fn run_example_in(name: &str, dir: &std::path::Path) -> String {
    let exe = std::env::current_exe().unwrap();
    let examples = exe.parent().unwrap().parent().unwrap().join("examples");
    let bin = examples.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: `cargo test` builds the examples (a `--test examples` filter does not; run `cargo build --examples` first)",
        bin.display()
    );
    let out = std::process::Command::new(&bin)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn plain_example_programs_print_what_their_pytorch_twins_print() {
    for name in ["linear_mse_grads", "one_sgd_step", "forward_shape"] {
        assert_eq!(run_example(name), torch_stdout(name), "{name}");
    }
}

#[test]
fn mnist_compose_normalizes_as_to_tensor_then_normalize() {
    use kiln::data::{Dataset, Mnist};
    let text = run_example("mnist_compose");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "train: 60000 samples, test: 10000 samples");
    // ToTensor (u8 / 255, a channel dim) then Normalize, computed here by hand in f64.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let (raw, label) = Mnist::new(Some(&root), false, false).unwrap().get(0);
    let v: Vec<f64> = raw
        .to_dtype(kiln::DType::F64)
        .to_vec::<f64>()
        .iter()
        .map(|p| (p / 255.0 - 0.1307) / 0.3081)
        .collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let (min, max) = v
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    let want = format!(
        "test[0]: label {label}, torch.Size([1, 28, 28]), mean {mean:.4}, min {min:.4}, max {max:.4}"
    );
    assert_eq!(label, 7);
    assert_eq!(lines[1], want);
    assert_eq!(
        lines[2],
        "train batch: torch.Size([64, 1, 28, 28]) torch.Size([64])"
    );
    assert_eq!(
        lines[3],
        "test batch: torch.Size([1000, 1, 28, 28]) torch.Size([1000])"
    );
}
