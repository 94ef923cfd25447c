//! The `kiln` binary fails cleanly: one `error: ...` sentence on stderr, a non-zero
//! exit status, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .env_remove("KILN_DATA")
        .output()
        .expect("the kiln binary runs")
}

/// Asserts a clean failure and returns the error sentence.
fn fails(args: &[&str]) -> String {
    let out = kiln(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("{args:?}: no error line in {stderr:?}"));
    line.to_string()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn repo_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data")
}

#[test]
fn info_prints_the_table() {
    let dir = tmp();
    let p = dir.path().join("m.safetensors");
    let tensors = vec![
        (
            "layers.0.weight".to_string(),
            kiln::Tensor::zeros(&[256, 784]),
        ),
        ("layers.0.bias".to_string(), kiln::Tensor::zeros(&[256])),
    ];
    kiln::io::save_safetensors(&p, &tensors, None).unwrap();
    let out = kiln(&["info", s(&p)]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("layers.0.weight  float32  [256 x 784]   200,704"),
        "{text}"
    );
    assert!(text.contains("2 tensors, 200,960 parameters"), "{text}");
}

#[test]
fn missing_and_corrupt_model_files() {
    let dir = tmp();
    let missing = dir.path().join("nope.safetensors");
    let e = fails(&["info", s(&missing)]);
    assert!(
        e.contains("cannot access") && e.contains("nope.safetensors"),
        "{e}"
    );

    let corrupt = dir.path().join("bad.safetensors");
    std::fs::write(&corrupt, b"\xff\xff\xff\xff\xff\xff\xff\x7fgarbage").unwrap();
    let e = fails(&["info", s(&corrupt)]);
    assert!(e.contains("is not a valid safetensors file"), "{e}");
    let e = fails(&["eval", "--model", s(&corrupt)]);
    assert!(e.contains("is not a valid safetensors file"), "{e}");
    let e = fails(&["predict", "--model", s(&corrupt), "x.png"]);
    assert!(e.contains("is not a valid safetensors file"), "{e}");

    // Valid safetensors, but not a classifier.
    let odd = dir.path().join("odd.safetensors");
    kiln::io::save_safetensors(&odd, &[("emb".into(), kiln::Tensor::zeros(&[3]))], None).unwrap();
    let e = fails(&["predict", "--model", s(&odd), "x.png"]);
    assert!(e.contains("is not a usable model"), "{e}");
}

#[test]
fn unreadable_images() {
    let dir = tmp();
    let model = dir.path().join("m.safetensors");
    let tensors = vec![
        (
            "layers.0.weight".to_string(),
            kiln::Tensor::zeros(&[10, 784]),
        ),
        ("layers.0.bias".to_string(), kiln::Tensor::zeros(&[10])),
    ];
    kiln::io::save_safetensors(&model, &tensors, None).unwrap();
    let text = dir.path().join("digit.png");
    std::fs::write(&text, "not an image").unwrap();
    let e = fails(&["predict", "--model", s(&model), s(&text)]);
    assert!(
        e.starts_with("error: cannot read image") && e.contains("digit.png"),
        "{e}"
    );
    let e = fails(&[
        "predict",
        "--model",
        s(&model),
        s(&dir.path().join("gone.jpg")),
    ]);
    assert!(
        e.contains("cannot read image") && e.contains("gone.jpg"),
        "{e}"
    );
    let blank = dir.path().join("blank.png");
    image::GrayImage::from_pixel(40, 40, image::Luma([255]))
        .save(&blank)
        .unwrap();
    let e = fails(&["predict", "--model", s(&model), s(&blank)]);
    assert!(e.contains("holds no digit"), "{e}");
}

#[test]
fn missing_data() {
    let dir = tmp();
    let out = dir.path().join("run");
    let e = fails(&["train", "--data-dir", s(dir.path()), "--out", s(&out)]);
    assert!(e.contains("MNIST (train) was not found"), "{e}");
    assert!(e.contains("--download"), "{e}");
    let e = fails(&[
        "train",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        s(dir.path()),
    ]);
    assert!(e.contains("Fashion-MNIST (train) was not found"), "{e}");
}

#[test]
fn resume_without_checkpoint_and_bad_options() {
    let dir = tmp();
    let out = dir.path().join("run");
    let data = repo_data();
    let e = fails(&[
        "train",
        "--resume",
        "--out",
        s(&out),
        "--data-dir",
        s(&data),
    ]);
    assert!(e.contains("no checkpoint to resume from"), "{e}");
    let e = fails(&["train", "--dropout", "1.5", "--out", s(&out)]);
    assert!(e.contains("--dropout"), "{e}");
    let e = fails(&["train", "--optimizer", "adam", "--momentum", "0.9"]);
    assert!(e.contains("--momentum applies only to"), "{e}");
    let e = fails(&["train", "--lr", "0"]);
    assert!(e.contains("--lr must be a positive number"), "{e}");
    // The CNN is main.py's network: the MLP's shape options are refused, not ignored.
    for flag in [
        &["--hidden", "64"][..],
        &["--dropout", "0.1"],
        &["--batch-norm"],
    ] {
        let mut args = vec!["train", "--model", "cnn"];
        args.extend_from_slice(flag);
        let e = fails(&args);
        assert!(e.contains(&format!("{} shapes the MLP", flag[0])), "{e}");
    }
    let e = fails(&["train", "--gamma", "0.5"]);
    assert!(e.contains("--gamma needs --lr-step"), "{e}");
    let e = fails(&["train", "--model", "cnn", "--gamma", "0"]);
    assert!(e.contains("--gamma must be a positive number"), "{e}");
    let e = fails(&["train", "--optimizer", "rprop", "--weight-decay", "0.1"]);
    assert!(e.contains("rprop has no weight decay"), "{e}");
}

#[test]
fn bad_arguments_are_clap_errors() {
    let out = kiln(&["train", "--optimizer", "lbfgs"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid value 'lbfgs'"), "{err}");
    for name in ["adadelta", "adamax", "nadam", "radam", "asgd", "rprop"] {
        assert!(err.contains(name), "{err}");
    }
    let out = kiln(&["predict", "--model", "m.safetensors"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(kiln(&["--help"]).status.success());
}

#[test]
fn closed_stdout_is_not_a_crash() {
    let dir = tmp();
    let p = dir.path().join("m.safetensors");
    kiln::io::save_safetensors(&p, &[("w".into(), kiln::Tensor::zeros(&[2]))], None).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["info", s(&p)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `kiln info m.safetensors | head -0`
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
