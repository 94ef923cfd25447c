//! The tutorial examples (`examples/*.rs`), each run as the program it is, against what
//! their PyTorch twins (`scripts/torch_examples/*.py`) print (`tests/fixtures/examples.json`,
//! made by `scripts/fixtures/gen_examples.py`), plus each example's own claim.

use serde_json::Value;
use std::path::Path;

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/examples.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn torch_stdout(name: &str) -> String {
    fixture()["stdout"][name].as_str().unwrap().to_string()
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
fn activations_draws_five_panels_of_their_curves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("activations.png");
    let text = run_example_with("activations", dir.path(), &[path.to_str().unwrap()]);
    assert_eq!(text, format!("saved {}\n", path.display()));
    let decoder = png::Decoder::new(std::fs::File::open(&path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    // matplotlib's figsize=(15, 3) at 100 dpi.
    assert_eq!((info.width, info.height), (1500, 300));
    let channels = info.line_size / info.width as usize;
    // Each panel's curve, in matplotlib's first colour: the lowest pixel row it reaches
    // on the left fifth of the panel and on the right fifth (image rows grow downwards).
    let blue = |x: usize, y: usize| {
        let p = &buf[y * info.line_size + x * channels..][..3];
        p == [31, 119, 180]
    };
    for (panel, name) in ["Sigmoid", "Tanh", "ReLU", "LeakyReLU", "GELU"]
        .iter()
        .enumerate()
    {
        let (x0, x1) = (panel * 300, panel * 300 + 300);
        let rows = |xs: std::ops::Range<usize>| -> Vec<usize> {
            (0..300)
                .filter(|&y| xs.clone().any(|x| blue(x, y)))
                .collect()
        };
        let all = rows(x0..x1);
        assert!(
            all.len() > 150,
            "{name}: the curve spans {} rows",
            all.len()
        );
        let (left, right) = (rows(x0 + 60..x0 + 110), rows(x1 - 80..x1 - 30));
        assert!(!left.is_empty() && !right.is_empty(), "{name}");
        // Every activation here rises from left to right: the curve is lower on the left.
        assert!(
            left.iter().min() > right.iter().max(),
            "{name}: {left:?} vs {right:?}"
        );
        // ReLU is flat on the left: its curve there keeps to the thickness of its stroke.
        if *name == "ReLU" {
            assert!(
                left.len() <= 4,
                "ReLU's left half is not flat: rows {left:?}"
            );
        }
    }
}

#[test]
fn explain_backprop_traces_the_right_gradients_where_the_tutorials_misprint() {
    let text = run_example("explain_backprop");
    // Seed 003 prints w.grad 4, b.grad 2; its program gives -8 and -4.
    assert!(
        text.contains("kiln:     Gradient of w: tensor([-8.])"),
        "{text}"
    );
    assert!(
        text.contains("kiln:     Gradient of b: tensor([-4.])"),
        "{text}"
    );
    assert!(text.contains("dL/dw = dL/d(w*x) * x = -8"), "{text}");
    assert!(
        text.contains("dL/d(y_pred - y) = 2*(y_pred - y) = -4"),
        "{text}"
    );
    // Seed 002 prints weight.grad [-0.0125, 0.4375]; it is twice that.
    let seed002 = &text[text.find("=== Seed 002").expect("no seed 002 section")..];
    assert!(seed002.contains("kiln:     Loss: 0.12125"), "{seed002}");
    assert!(
        seed002.contains("kiln:     Gradients: tensor([[-0.0250,  0.8750]]), tensor([-0.2500])"),
        "{seed002}"
    );
    assert!(seed002.contains("AddmmBackward0"), "{seed002}");
    assert!(seed002.contains("[[-0.025, 0.875]]"), "{seed002}");
    assert!(text.contains("examples/explain_backprop.rs:"), "{text}");
}

#[test]
fn vanishing_gradients_shows_what_seed_001_claims() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("grads.png");
    let text = run_example_with("vanishing_gradients", dir.path(), &[png.to_str().unwrap()]);
    // "       Sigmoid: 1.2e-9 ... 3.4e-2": the mean norm of each of the 11 Linear layers.
    let ratio = |name: &str| {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{text}"));
        let v: Vec<f64> = line
            .rsplit_once(": ")
            .unwrap()
            .1
            .split(' ')
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(v.len(), 11, "{line}");
        // First layer's gradient norm over the last's.
        v[0] / v[v.len() - 1]
    };
    assert!(ratio("Sigmoid") < 1e-4, "{text}");
    assert!(ratio("Sigmoid") < ratio("Tanh"), "{text}");
    assert!(ratio("ReLU + He init") > 0.1, "{text}");
    assert!(
        text.ends_with(&format!("wrote {}\n", png.display())),
        "{text}"
    );
    assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
}

/// What one test pass of `examples/mnist_cnn.rs` printed: `(correct, total)`.
fn test_results(text: &str) -> Vec<(u64, u64)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("Test set: Average loss: "))
        .map(|l| {
            let acc = l.split_once("Accuracy: ").unwrap().1;
            let (c, rest) = acc.split_once('/').unwrap();
            (
                c.parse().unwrap(),
                rest.split(' ').next().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// `examples/mnist_cnn.rs` run with the flags `tests/fixtures/mnist_cnn.json` ran its twin
/// with (`scripts/fixtures/gen_mnist_cnn.py`): its stdout and the twin's.
fn run_mnist_cnn(run: &str) -> (String, String) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mnist_cnn.json");
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut argv: Vec<&str> = fx["args"][run]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    argv.extend(["--data-dir", concat!(env!("CARGO_MANIFEST_DIR"), "/data")]);
    let dir = tempfile::tempdir().unwrap();
    let text = run_example_with("mnist_cnn", dir.path(), &argv);
    (text, fx["stdout"][run].as_str().unwrap().to_string())
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
    let (text, torch) = run_mnist_cnn("small");
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
    let results = test_results(&text);
    assert_eq!(results.len(), 2);
    assert_eq!(results[1].1, 100);
    assert!(results[1].0 > results[0].0, "{text}");
}

#[test]
fn mnist_cnn_dry_run_is_one_batch_then_the_test() {
    let (text, torch) = run_mnist_cnn("dry_run");
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
    // The help lists main.py's flags with its defaults.
    let help = run_example_with("mnist_cnn", Path::new("."), &["--help"]);
    for flag in [
        "--batch-size <N>",
        "[default: 64]",
        "--test-batch-size <N>",
        "[default: 1000]",
        "--epochs <N>",
        "[default: 14]",
        "--lr <LR>",
        "[default: 1]",
        "--gamma <M>",
        "[default: 0.7]",
        "--seed <S>",
        "--log-interval <N>",
        "[default: 10]",
        "--dry-run",
        "--save-model",
        "--no-accel",
        "PyTorch MNIST Example",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    // `--flag=value`, main.py's aliases, and refusals with argparse's exit status 2.
    let dir = tempfile::tempdir().unwrap();
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
    let text = run_example_with(
        "mnist_cnn",
        dir.path(),
        &[
            "--batch-size=32",
            "--test-batch-size",
            "50",
            "--epochs",
            "1",
            "--lr",
            "0.5",
            "--limit",
            "64",
            "--test-limit",
            "50",
            "--log-interval=1",
            "--no-cuda",
            "--data-dir",
            data,
            "--save-model",
        ],
    );
    assert!(
        text.starts_with("Train Epoch: 1 [0/64 (0%)]\tLoss: "),
        "{text}"
    );
    assert!(
        text.contains("Train Epoch: 1 [32/64 (50%)]\tLoss: "),
        "{text}"
    );
    assert_eq!(test_results(&text).len(), 1);
    assert_eq!(test_results(&text)[0].1, 50);
    assert_eq!(
        kiln::load(dir.path().join("mnist_cnn.pt")).unwrap().len(),
        8
    );
    for (argv, says) in [
        (
            &["--epochs", "x"][..],
            "invalid value 'x' for '--epochs <N>'",
        ),
        (&["--nope"][..], "unexpected argument '--nope'"),
        (
            &["--dataset", "cifar"][..],
            "invalid value 'cifar' for '--dataset <DATASET>'",
        ),
    ] {
        let out = example_command("mnist_cnn").args(argv).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{argv:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{argv:?}: {err}");
    }
}

/// The example program `name`, built by `cargo test` beside this test binary (in
/// `target/<profile>/examples/`), as a command to run.
fn example_command(name: &str) -> std::process::Command {
    let exe = std::env::current_exe().unwrap();
    let examples = exe.parent().unwrap().parent().unwrap().join("examples");
    let bin = examples.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: `cargo test` builds the examples (a `--test examples` filter does not; run `cargo build --examples` first)",
        bin.display()
    );
    std::process::Command::new(bin)
}

/// Runs the example program `name` and returns what it printed.
fn run_example(name: &str) -> String {
    run_example_with(name, Path::new("."), &[])
}

/// [`run_example`] with `dir` as the working directory (for examples that write files).
fn run_example_in(name: &str, dir: &Path) -> String {
    run_example_with(name, dir, &[])
}

/// [`run_example_in`] with command-line arguments.
fn run_example_with(name: &str, dir: &Path, args: &[&str]) -> String {
    let out = example_command(name)
        .args(args)
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
