//! `kiln train`, `eval` and `predict` end to end on small slices of the MNIST copy in
//! `data/mnist`: outputs, reproducibility across thread counts, and exact resumption
//! after a stop (Ctrl-C or the test hook) part way through an epoch.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// Small but real: 32 batches of 64 per epoch, tested on the first 1000 test images.
const SMALL: &[&str] = &["--limit", "2000", "--test-limit", "1000"];

fn data_dir() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data")
        .to_str()
        .unwrap()
        .to_string()
}

fn kiln_cmd(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kiln"));
    c.args(args)
        .env_remove("KILN_DATA")
        .env_remove("KILN_STOP_AFTER_BATCHES");
    c
}

fn train(out: &Path, extra: &[&str]) -> Output {
    let dd = data_dir();
    let mut args = vec!["train", "--data-dir", &dd, "--out", out.to_str().unwrap()];
    args.extend_from_slice(SMALL);
    args.extend_from_slice(extra);
    kiln_cmd(&args).output().unwrap()
}

/// `kiln train` for 2 epochs on the small slice into `out`.
fn two_epochs(out: &Path, extra: &[&str]) -> Command {
    let dd = data_dir();
    let mut args = vec![
        "train",
        "--data-dir",
        &dd,
        "--out",
        out.to_str().unwrap(),
        "--epochs",
        "2",
    ];
    args.extend_from_slice(SMALL);
    args.extend_from_slice(extra);
    kiln_cmd(&args)
}

/// A 2-epoch run on the small slice that the test hook stops after `batches` batches.
fn train_stopped_after(out: &Path, batches: u64, extra: &[&str]) -> Output {
    two_epochs(out, extra)
        .env("KILN_STOP_AFTER_BATCHES", batches.to_string())
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kiln failed: {stderr}");
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn epoch_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.starts_with("Epoch "))
        .map(String::from)
        .collect()
}

/// The reference: 2 epochs straight with the default thread count, trained once and
/// shared by the tests that compare against it.
fn reference() -> &'static (PathBuf, Vec<String>) {
    static REF: OnceLock<(PathBuf, Vec<String>)> = OnceLock::new();
    REF.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let out = dir.join("straight");
        let stdout = ok(&train(&out, &["--epochs", "2", "--threads", "2"]));
        (out, epoch_lines(&stdout))
    })
}

fn model_bytes(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("model.safetensors")).unwrap()
}

#[test]
fn writes_model_metrics_curves_and_checkpoint() {
    let (out, lines) = reference();
    assert_eq!(lines.len(), 2);
    let re = |l: &str| {
        // Epoch 1: Loss=0.2790, Train Acc=91.60%, Test Acc=95.76%
        let rest = l.strip_prefix("Epoch ").unwrap();
        let (n, rest) = rest.split_once(": Loss=").unwrap();
        let (loss, rest) = rest.split_once(", Train Acc=").unwrap();
        let (train, test) = rest.split_once("%, Test Acc=").unwrap();
        let test = test.strip_suffix('%').unwrap();
        assert_eq!(loss.split_once('.').unwrap().1.len(), 4, "{l}");
        assert_eq!(train.split_once('.').unwrap().1.len(), 2, "{l}");
        (
            n.parse::<usize>().unwrap(),
            loss.parse::<f64>().unwrap(),
            test.parse::<f64>().unwrap(),
        )
    };
    let (e1, l1, _) = re(&lines[0]);
    let (e2, l2, acc2) = re(&lines[1]);
    assert_eq!((e1, e2), (1, 2));
    assert!(l2 < l1, "loss did not fall: {lines:?}");
    assert!(acc2 > 70.0, "{lines:?}");

    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["epoch"], 2);
    assert!((records[0]["train_loss"].as_f64().unwrap() - l1).abs() < 5e-5);

    let curves = image::open(out.join("curves.png")).unwrap();
    assert_eq!((curves.width(), curves.height()), (1200, 480));

    // PyTorch's key names for the tutorial's DigitClassifier.
    let tensors = kiln::io::load_safetensors(&out.join("model.safetensors")).unwrap();
    let mut names: Vec<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "layers.0.bias",
            "layers.0.weight",
            "layers.3.bias",
            "layers.3.weight",
            "layers.6.bias",
            "layers.6.weight"
        ]
    );
    assert!(out.join("checkpoint.safetensors").is_file());
}

#[test]
fn same_seed_same_numbers_whatever_the_thread_count() {
    let (ref_out, ref_lines) = reference();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("one-thread");
    let stdout = ok(&train(&out, &["--epochs", "2", "--threads", "1"]));
    assert_eq!(&epoch_lines(&stdout), ref_lines);
    assert_eq!(model_bytes(&out), model_bytes(ref_out));
}

#[test]
fn one_epoch_then_resume_equals_two_straight() {
    let (ref_out, ref_lines) = reference();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("resumed");
    let first = ok(&train(&out, &["--epochs", "1"]));
    let second = ok(&train(&out, &["--epochs", "2", "--resume"]));
    assert_eq!(epoch_lines(&first), ref_lines[..1]);
    assert_eq!(epoch_lines(&second), ref_lines[1..]);
    assert_eq!(model_bytes(&out), model_bytes(ref_out));
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2);
}

#[test]
fn stop_mid_epoch_then_resume_equals_two_straight() {
    let (ref_out, ref_lines) = reference();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stopped");
    // Batch 45 of 64: part way through epoch 2.
    let stopped = train_stopped_after(&out, 45, &[]);
    assert_eq!(stopped.status.code(), Some(130));
    let err = String::from_utf8_lossy(&stopped.stderr);
    assert!(
        err.contains("Interrupted in epoch 2 after batch 13/32"),
        "{err}"
    );
    assert!(!err.contains("error"), "{err}");
    assert_eq!(
        epoch_lines(&String::from_utf8_lossy(&stopped.stdout)),
        ref_lines[..1]
    );

    // Options that change the result are refused on resume.
    let refused = train(&out, &["--epochs", "2", "--resume", "--lr", "0.01"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--lr is 0.01 but the checkpoint"));

    let resumed = ok(&train(&out, &["--epochs", "2", "--resume"]));
    assert_eq!(epoch_lines(&resumed), ref_lines[1..]);
    assert_eq!(model_bytes(&out), model_bytes(ref_out));
}

#[cfg(unix)]
#[test]
fn ctrl_c_saves_a_checkpoint_and_resume_finishes_the_same() {
    let (ref_out, ref_lines) = reference();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sigint");
    let mut child = two_epochs(&out, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_eq!(first.trim_end(), ref_lines[0]);
    // Epoch 2 is under way (or just finished): either way a clean stop and a checkpoint.
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    if status.code() == Some(130) {
        let resumed = ok(&train(&out, &["--epochs", "2", "--resume"]));
        rest += &resumed;
    } else {
        assert!(status.success(), "{status:?}");
    }
    assert_eq!(epoch_lines(&rest), ref_lines[1..]);
    assert_eq!(model_bytes(&out), model_bytes(ref_out));
}

#[test]
fn eval_prints_accuracy_and_draws_the_confusion_matrix() {
    let (ref_out, ref_lines) = reference();
    let dir = tempfile::tempdir().unwrap();
    let model = ref_out.join("model.safetensors");
    let dd = data_dir();
    let out = kiln_cmd(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data-dir",
        &dd,
        "--limit",
        "1000",
        "--out",
        dir.path().to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let text = ok(&out);
    // Same model, same 1000 test images: the accuracy of the last epoch line.
    let acc = ref_lines[1].rsplit_once("Test Acc=").unwrap().1;
    assert!(text.contains(&format!("Test Acc={acc}")), "{text}");
    assert!(text.contains("Per-class accuracy:"), "{text}");
    assert!(text.contains("  9 - nine"), "{text}");
    let rows: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Confusion matrix"))
        .skip(2)
        .take(10)
        .collect();
    let total: u64 = rows
        .iter()
        .flat_map(|r| r.split_whitespace().skip(1))
        .map(|v| v.parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 1000);
    let png = image::open(dir.path().join("confusion.png")).unwrap();
    assert_eq!((png.width(), png.height()), (860, 760));
}

#[test]
fn predict_classifies_rendered_test_digits() {
    let (ref_out, _) = reference();
    let test = kiln::data::Mnist::new(Some(Path::new(&data_dir())), false, false).unwrap();
    let images = test.images().to_vec::<u8>();
    let labels = test.labels().to_vec::<i64>();
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for i in 0..10 {
        let px = &images[i * 784..(i + 1) * 784];
        // Dark ink on white paper, scaled up 4×, in colour: not MNIST's format.
        let img = image::RgbImage::from_fn(112, 112, |x, y| {
            let v = 255 - px[(y / 4 * 28 + x / 4) as usize];
            image::Rgb([v, v, v])
        });
        let path = dir.path().join(format!("digit{i}.png"));
        img.save(&path).unwrap();
        paths.push(path);
    }
    // And one JPEG, light ink on dark as MNIST has it.
    let jpeg = dir.path().join("digit0.jpg");
    image::GrayImage::from_raw(28, 28, images[..784].to_vec())
        .unwrap()
        .save(&jpeg)
        .unwrap();
    paths.push(jpeg);
    let model = ref_out.join("model.safetensors");
    let mut args = vec!["predict", "--model", model.to_str().unwrap()];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    let text = ok(&kiln_cmd(&args).output().unwrap());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 11, "{text}");
    let mut right = 0;
    for (i, line) in lines.iter().enumerate() {
        // .../digit3.png: 0  (top 3: 0 97.12%, 6 1.20%, 2 0.55%)
        let (path, rest) = line.split_once(": ").unwrap();
        assert_eq!(path, paths[i].to_str().unwrap());
        let (class, top) = rest.split_once("  (top 3: ").unwrap();
        let probs: Vec<f64> = top
            .trim_end_matches(')')
            .split(", ")
            .map(|c| {
                c.split_once(' ')
                    .unwrap()
                    .1
                    .trim_end_matches('%')
                    .parse()
                    .unwrap()
            })
            .collect();
        assert_eq!(probs.len(), 3);
        assert!(
            probs[0] >= probs[1] && probs[1] >= probs[2] && probs.iter().sum::<f64>() <= 100.01
        );
        assert!(top.starts_with(&format!("{class} ")), "{line}");
        right += usize::from(class.parse::<i64>().unwrap() == labels[i % 10]);
    }
    assert!(right >= 9, "only {right} of 11 right:\n{text}");
}

// ---- convert, and both weight formats (moved from tests/pt_files.rs) -----------------

fn kiln_cli_run(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_kiln_command_takes_both_formats_and_converts() {
    let tmp = tempfile::tempdir().unwrap();
    let st = tmp.path().join("m.safetensors");
    let w: Vec<f32> = (0..7840)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) * 1e-3)
        .collect();
    let tensors = vec![
        (
            "layers.0.weight".to_string(),
            kiln::Tensor::from_vec(w, &[10, 784]),
        ),
        (
            "layers.0.bias".to_string(),
            kiln::Tensor::from_vec(vec![0.01f32; 10], &[10]),
        ),
    ];
    kiln::io::save_safetensors(&st, &tensors, None).unwrap();
    let pt = tmp.path().join("m.pth");
    let p = |x: &Path| x.to_str().unwrap().to_string();
    let out = kiln_cli_run(&["convert", &p(&st), &p(&pt)]);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(said.contains("(PyTorch): 2 tensors"), "{said}");
    // The same predictions from either file.
    let img = tmp.path().join("bar.png");
    image::GrayImage::from_fn(28, 28, |x, _| {
        image::Luma([if x / 4 == 3 { 0 } else { 255 }])
    })
    .save(&img)
    .unwrap();
    let predict = |model: &Path| {
        let out = kiln_cli_run(&["predict", "--model", &p(model), &p(&img)]);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(predict(&st), predict(&pt));
    let info = kiln_cli_run(&["info", &p(&pt)]);
    let table = String::from_utf8(info.stdout).unwrap();
    assert!(
        table.contains("layers.0.weight") && table.contains("[10 x 784]"),
        "{table}"
    );
    // Back again: the same tensors.
    let back = tmp.path().join("back.safetensors");
    assert!(
        kiln_cli_run(&["convert", &p(&pt), &p(&back)])
            .status
            .success()
    );
    let again = kiln::io::load_state_dict_file(&back).unwrap();
    assert_eq!(
        again.get("layers.0.weight").unwrap().to_vec::<f32>(),
        tensors[0].1.to_vec::<f32>()
    );
    // A hostile file is an error naming the global, and nothing is written.
    let bad =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/pt/malicious_os_system.pt");
    let out_path = tmp.path().join("never.safetensors");
    let out = kiln_cli_run(&["convert", &p(&bad), &p(&out_path)]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("posix.system"), "{err}");
    assert!(!out_path.exists());
}

// ---- --model cnn: main.py's network through the same train / resume / eval / predict --

/// Tiny: 4 batches of 64 per epoch, tested on 100 images (the CNN is slow unoptimised).
const TINY: &[&str] = &["--limit", "256", "--test-limit", "100", "--model", "cnn"];

fn train_cnn(out: &Path, extra: &[&str]) -> Command {
    let dd = data_dir();
    let mut args = vec!["train", "--data-dir", &dd, "--out", out.to_str().unwrap()];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    kiln_cmd(&args)
}

#[test]
fn cnn_trains_resumes_evaluates_predicts_and_shows_its_layers() {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    let out = train_cnn(&straight, &["--epochs", "2"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let lines = epoch_lines(&ok(&out));
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        err.contains("Training a MNIST CNN classifier: 1,199,882 parameters"),
        "{err}"
    );
    // main.py's key names, so torch's Net().load_state_dict reads the file.
    let tensors = kiln::io::load_safetensors(&straight.join("model.safetensors")).unwrap();
    let mut names: Vec<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "conv1.bias",
            "conv1.weight",
            "conv2.bias",
            "conv2.weight",
            "fc1.bias",
            "fc1.weight",
            "fc2.bias",
            "fc2.weight"
        ]
    );
    // Adadelta at main.py's lr 1.0, StepLR(step_size=1, gamma=0.7) stepped per epoch.
    let ck = kiln::io::Checkpoint::load(&straight.join("checkpoint.safetensors")).unwrap();
    let lr = ck.optimizer.param_groups[0].options["lr"];
    assert!((lr - 0.49).abs() < 1e-12, "{lr}");
    assert!(ck.optimizer.param_groups[0].options.contains_key("rho"));
    assert_eq!(ck.scheduler.as_ref().unwrap().last_epoch, 2);

    // Stopped part way through epoch 2 (batch 6 of 8), then resumed: the same numbers.
    let stopped = dir.path().join("stopped");
    let out = train_cnn(&stopped, &["--epochs", "2"])
        .env("KILN_STOP_AFTER_BATCHES", "6")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(
        epoch_lines(&String::from_utf8_lossy(&out.stdout)),
        lines[..1]
    );
    let resumed = ok(&train_cnn(&stopped, &["--epochs", "2", "--resume"])
        .output()
        .unwrap());
    assert_eq!(epoch_lines(&resumed), lines[1..]);
    assert_eq!(model_bytes(&stopped), model_bytes(&straight));
    let refused = train_cnn(&stopped, &["--epochs", "3", "--resume", "--gamma", "0.5"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--gamma is 0.5 but the checkpoint"),
        "{refused:?}"
    );

    // eval: the accuracy of the last epoch line on the same 100 images, from either format.
    let model = straight.join("model.safetensors");
    let pt = dir.path().join("mnist_cnn.pt");
    ok(
        &kiln_cmd(&["convert", model.to_str().unwrap(), pt.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    let acc = lines[1].rsplit_once("Test Acc=").unwrap().1;
    let dd = data_dir();
    for m in [&model, &pt] {
        let text = ok(&kiln_cmd(&[
            "eval",
            "--model",
            m.to_str().unwrap(),
            "--data-dir",
            &dd,
            "--limit",
            "100",
            "--out",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap());
        assert!(text.contains(&format!("Test Acc={acc} (")), "{text}");
    }

    // predict: probabilities from the log-softmax outputs.
    let test = kiln::data::Mnist::new(Some(Path::new(&dd)), false, false).unwrap();
    let images = test.images().to_vec::<u8>();
    let png = dir.path().join("digit.png");
    image::GrayImage::from_raw(28, 28, images[..784].to_vec())
        .unwrap()
        .save(&png)
        .unwrap();
    let text = ok(&kiln_cmd(&[
        "predict",
        "--model",
        pt.to_str().unwrap(),
        png.to_str().unwrap(),
    ])
    .output()
    .unwrap());
    let top = text.split_once("(top 3: ").unwrap().1;
    let probs: f64 = top
        .trim_end()
        .trim_end_matches(')')
        .split(", ")
        .map(|c| {
            c.split_once(' ')
                .unwrap()
                .1
                .trim_end_matches('%')
                .parse::<f64>()
                .unwrap()
        })
        .sum();
    assert!(probs > 0.0 && probs <= 100.01, "{text}");

    // info: the conv layers with their output shapes and parameter counts.
    let info = ok(&kiln_cmd(&["info", model.to_str().unwrap()])
        .output()
        .unwrap());
    assert!(
        info.contains("conv1.weight  float32  [32 x 1 x 3 x 3]"),
        "{info}"
    );
    assert!(
        info.contains("Layers of the CNN of PyTorch's mnist/main.py"),
        "{info}"
    );
    let row = |name: &str| -> Vec<String> {
        let line = info
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} row:\n{info}"));
        line.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect()
    };
    assert_eq!(
        row("conv1"),
        [
            "conv1",
            "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1))",
            "[N, 32, 26, 26]",
            "320"
        ]
    );
    assert_eq!(row("conv2")[3], "18,496");
    assert_eq!(row("max_pool2d")[2], "[N, 64, 12, 12]");
    assert_eq!(row("flatten")[2], "[N, 9216]");
    assert_eq!(row("fc1")[3], "1,179,776");
    assert!(info.trim_end().ends_with("1,199,882 parameters"), "{info}");
}

#[test]
fn new_optimizers_and_a_step_schedule_train_the_mlp() {
    let dir = tempfile::tempdir().unwrap();
    for opt in ["adadelta", "adamax", "nadam", "radam", "asgd", "rprop"] {
        let out = dir.path().join(opt);
        let dd = data_dir();
        let args = [
            "train",
            "--data-dir",
            &dd,
            "--out",
            out.to_str().unwrap(),
            "--limit",
            "128",
            "--test-limit",
            "100",
            "--epochs",
            "1",
            "--hidden",
            "16",
            "--optimizer",
            opt,
            "--lr-step",
            "1",
            "--gamma",
            "0.5",
        ];
        let stdout = ok(&kiln_cmd(&args).output().unwrap());
        assert_eq!(epoch_lines(&stdout).len(), 1, "{opt}");
        let ck = kiln::io::Checkpoint::load(&out.join("checkpoint.safetensors")).unwrap();
        let lr = ck.optimizer.param_groups[0].options["lr"];
        let default = match opt {
            "adadelta" => 1.0,
            "adamax" | "nadam" => 2e-3,
            "radam" => 1e-3,
            _ => 1e-2,
        };
        assert!((lr - default * 0.5).abs() < 1e-15, "{opt}: {lr}");
    }
}

#[test]
fn grad_stats_log_every_batch_survive_a_resume_and_leave_training_unchanged() {
    let (ref_out, _) = reference();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("grads");
    let stopped = train_stopped_after(&out, 45, &["--grad-stats"]);
    assert_eq!(stopped.status.code(), Some(130));
    ok(&train(&out, &["--epochs", "2", "--resume", "--grad-stats"]));
    // Recording the norms reads the gradients only.
    assert_eq!(model_bytes(&out), model_bytes(ref_out));

    let rows: Vec<serde_json::Value> = std::fs::read_to_string(out.join("grad_norms.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let steps: Vec<(u64, u64)> = rows
        .iter()
        .map(|r| (r["epoch"].as_u64().unwrap(), r["batch"].as_u64().unwrap()))
        .collect();
    let expected: Vec<(u64, u64)> = (1..=2)
        .flat_map(|e| (1..=32).map(move |b| (e, b)))
        .collect();
    assert_eq!(steps, expected);
    // The default 784-256-128-10 network: Linear layers at 0, 3 and 6 of `layers`.
    for r in &rows {
        assert_eq!(
            r["layers"],
            serde_json::json!(["layers.0", "layers.3", "layers.6"])
        );
        for v in r["norms"].as_array().unwrap() {
            let v = v.as_f64().unwrap();
            assert!(v.is_finite() && v > 0.0, "{r}");
        }
    }
    let metrics: Vec<serde_json::Value> = std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(metrics.len(), 2);
    for (e, m) in metrics.iter().enumerate() {
        let means = m["grad_norms"].as_array().unwrap();
        assert_eq!(means.len(), 3);
        for (i, pair) in means.iter().enumerate() {
            let of_epoch: Vec<f64> = rows[e * 32..(e + 1) * 32]
                .iter()
                .map(|r| r["norms"][i].as_f64().unwrap())
                .collect();
            let mean = of_epoch.iter().sum::<f64>() / 32.0;
            assert_eq!(pair[0], rows[0]["layers"][i]);
            assert!(
                (pair[1].as_f64().unwrap() - mean).abs() <= 1e-12 * mean,
                "{pair}"
            );
        }
    }
    let png = image::open(out.join("grad_norms.png")).unwrap();
    assert_eq!((png.width(), png.height()), (900, 520));
    // Without the flag nothing is recorded.
    assert!(!ref_out.join("grad_norms.jsonl").exists());
    assert!(metrics_lack_grad_norms(ref_out));
}

fn metrics_lack_grad_norms(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .all(|l| !l.contains("grad_norms"))
}
