//! `kiln` against hostile files and careless use (issue 11): every input is built here
//! at test time, and each case must end in one `error: ...` line and a non-zero exit
//! (or, where the user asked for it, a clean run), quickly and without a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn kiln_in(dir: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kiln"));
    c.args(args)
        .env_remove("KILN_DATA")
        .env_remove("KILN_STOP_AFTER_BATCHES")
        .env_remove("KILN_NUM_THREADS");
    if let Some(d) = dir {
        c.current_dir(d);
    }
    c.output().expect("the kiln binary runs")
}

fn kiln(args: &[&str]) -> Output {
    kiln_in(None, args)
}

/// Asserts a clean failure (status 1, no panic) and returns the error line.
fn fails(args: &[&str]) -> String {
    failed(args, &kiln(args))
}

fn failed(args: &[&str], out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("{args:?}: no error line in {stderr:?}"))
        .to_string()
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kiln failed: {stderr}");
    format!("{}{stderr}", String::from_utf8_lossy(&out.stdout))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn data_dir() -> String {
    s(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../data")).to_string()
}

/// A tiny run: 128 training and 100 test images, one hidden layer of 16.
fn tiny_train(out: &Path, extra: &[&str]) -> Output {
    let dd = data_dir();
    let mut args = vec![
        "train",
        "--data-dir",
        &dd,
        "--out",
        s(out),
        "--limit",
        "128",
        "--test-limit",
        "100",
        "--hidden",
        "16",
    ];
    if !extra.contains(&"--epochs") {
        args.extend_from_slice(&["--epochs", "1"]);
    }
    args.extend_from_slice(extra);
    kiln(&args)
}

/// A model file of the given named tensors (f32), with optional kiln metadata JSON.
fn model(
    dir: &Path,
    name: &str,
    tensors: Vec<(&str, kiln::Tensor)>,
    note: Option<&str>,
) -> PathBuf {
    let p = dir.join(name);
    let t: Vec<(String, kiln::Tensor)> = tensors
        .into_iter()
        .map(|(n, t)| (n.to_string(), t))
        .collect();
    let meta =
        note.map(|j| std::collections::HashMap::from([("kiln.model".to_string(), j.to_string())]));
    kiln::io::save_safetensors(&p, &t, meta).unwrap();
    p
}

/// A 784 → 10 linear model, weights filled with `v`.
fn linear_model(dir: &Path, v: f32) -> PathBuf {
    model(
        dir,
        "m.safetensors",
        vec![
            ("layers.0.weight", kiln::Tensor::full(&[10, 784], v as f64)),
            ("layers.0.bias", kiln::Tensor::zeros(&[10])),
        ],
        None,
    )
}

fn png_digit(dir: &Path) -> PathBuf {
    let p = dir.join("digit.png");
    let img = image::GrayImage::from_fn(28, 28, |x, _| {
        image::Luma([if (12..16).contains(&x) { 255 } else { 0 }])
    });
    img.save(&p).unwrap();
    p
}

#[test]
fn a_layer_index_of_a_billion_is_refused_before_building() {
    let dir = tempfile::tempdir().unwrap();
    let p = model(
        dir.path(),
        "bomb.safetensors",
        vec![
            ("layers.0.weight", kiln::Tensor::zeros(&[4, 784])),
            ("layers.1000000000.weight", kiln::Tensor::zeros(&[10, 4])),
        ],
        None,
    );
    let img = png_digit(dir.path());
    for cmd in ["eval", "predict"] {
        let mut args = vec![cmd, "--model", s(&p)];
        if cmd == "predict" {
            args.push(s(&img));
        }
        let e = fails(&args);
        assert!(
            e.contains("layer 1000000000, past the limit of 1000 layers"),
            "{e}"
        );
        assert!(e.contains("--max-layers"), "{e}");
    }
}

/// A PNG that is only a signature and an IHDR chunk declaring `w`×`h` 8-bit grey.
fn png_header(path: &Path, w: u32, h: u32) {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut crc = flate2::Crc::new();
    crc.update(&ihdr);
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(&13u32.to_be_bytes());
    bytes.extend_from_slice(&ihdr);
    bytes.extend_from_slice(&crc.sum().to_be_bytes());
    // One tiny IDAT (a few bytes of a stream that would be gigabytes) and the end.
    for (kind, data) in [
        (&b"IDAT"[..], &[0x78u8, 0x9c, 0x03, 0x00][..]),
        (b"IEND", &[]),
    ] {
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(data);
        let mut crc = flate2::Crc::new();
        crc.update(&chunk);
        bytes.extend_from_slice(&(data.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&chunk);
        bytes.extend_from_slice(&crc.sum().to_be_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_20000_by_20000_png_is_refused_from_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let m = linear_model(dir.path(), 0.0);
    let big = dir.path().join("big.png");
    png_header(&big, 20000, 20000);
    let e = fails(&["predict", "--model", s(&m), s(&big)]);
    assert!(
        e.contains("20000×20000 = 400000000 pixels, over the limit of 40000000"),
        "{e}"
    );
    assert!(e.contains("--max-pixels"), "{e}");
    // Raising the limit gets past the check (to the missing image data).
    let e = fails(&[
        "predict",
        "--model",
        s(&m),
        "--max-pixels",
        "500000000",
        s(&big),
    ]);
    assert!(!e.contains("over the limit"), "{e}");
}

#[test]
fn a_jpeg_cut_in_half_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let m = linear_model(dir.path(), 0.0);
    let img = image::RgbImage::from_fn(64, 64, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 4) as u8, 128])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&img)
        .unwrap();
    let whole = dir.path().join("whole.jpg");
    std::fs::write(&whole, &jpeg).unwrap();
    ok(&kiln(&["predict", "--model", s(&m), s(&whole)]));
    let half = dir.path().join("half.jpg");
    std::fs::write(&half, &jpeg[..jpeg.len() / 2]).unwrap();
    let e = fails(&["predict", "--model", s(&m), s(&half)]);
    assert!(e.contains("cut off"), "{e}");
}

#[cfg(unix)]
#[test]
fn sparse_device_fifo_and_directory_models_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let sparse = dir.path().join("sparse.safetensors");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(3 << 30)
        .unwrap();
    let fifo = dir.path().join("fifo.safetensors");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let img = png_digit(dir.path());
    let cases = [
        (sparse.clone(), "its header is not a JSON object"),
        (
            PathBuf::from("/dev/zero"),
            "is a device, not a file kiln reads",
        ),
        (fifo, "is a FIFO, not a file kiln reads"),
        (
            dir.path().to_path_buf(),
            "is a directory, not a file kiln reads",
        ),
    ];
    for (p, want) in &cases {
        for args in [
            vec!["eval", "--model", s(p)],
            vec!["predict", "--model", s(p), s(&img)],
            vec!["info", s(p)],
        ] {
            let e = fails(&args);
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }
    let e = fails(&["info", "--max-model-bytes", "1000", s(&sparse)]);
    assert!(e.contains("over the limit of 1000 bytes"), "{e}");
    // Image paths: only regular files are read.
    let m = linear_model(dir.path(), 0.0);
    let e = fails(&["predict", "--model", s(&m), "/dev/zero"]);
    assert!(e.contains("it is a device"), "{e}");
}

#[test]
fn models_that_do_not_fit_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let dd = data_dir();
    let narrow = model(
        dir.path(),
        "narrow.safetensors",
        vec![
            ("layers.0.weight", kiln::Tensor::zeros(&[10, 100])),
            ("layers.0.bias", kiln::Tensor::zeros(&[10])),
        ],
        None,
    );
    let e = fails(&[
        "eval",
        "--model",
        s(&narrow),
        "--data-dir",
        &dd,
        "--limit",
        "10",
    ]);
    assert!(e.contains("it takes 100 inputs, not the 784 pixels"), "{e}");
    let empty = model(
        dir.path(),
        "empty.safetensors",
        vec![
            ("layers.0.weight", kiln::Tensor::zeros(&[0, 784])),
            ("layers.0.bias", kiln::Tensor::zeros(&[0])),
        ],
        None,
    );
    let img = png_digit(dir.path());
    let e = fails(&["predict", "--model", s(&empty), s(&img)]);
    assert!(e.contains("layer 0 has no inputs or no outputs"), "{e}");
}

#[test]
fn non_finite_weights_and_a_zero_std_are_refused_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let dd = data_dir();
    let img = png_digit(dir.path());
    for v in [f32::NAN, f32::INFINITY] {
        let m = linear_model(dir.path(), v);
        for args in [
            vec!["eval", "--model", s(&m), "--data-dir", &dd, "--limit", "10"],
            vec!["predict", "--model", s(&m), s(&img)],
        ] {
            let e = fails(&args);
            assert!(
                e.contains("tensor 'layers.0.weight' holds 7840 non-finite values"),
                "{e}"
            );
        }
    }
    let m = model(
        dir.path(),
        "std0.safetensors",
        vec![
            ("layers.0.weight", kiln::Tensor::zeros(&[10, 784])),
            ("layers.0.bias", kiln::Tensor::zeros(&[10])),
        ],
        Some(r#"{"dataset":"mnist","normalize":[0.1307,0.0]}"#),
    );
    let e = fails(&["predict", "--model", s(&m), s(&img)]);
    assert!(e.contains("normalize metadata (mean 0.1307, std 0)"), "{e}");
}

#[test]
fn a_diverging_run_stops_at_the_first_nan_and_keep_going_round_trips_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let e = failed(&["train"], &tiny_train(&out, &["--lr", "1e300"]));
    assert!(e.contains("training diverged in epoch 1 at batch"), "{e}");
    assert!(e.contains("--keep-going"), "{e}");
    assert!(
        !out.join("model.safetensors").exists(),
        "a NaN model was saved"
    );

    let out = dir.path().join("keep");
    ok(&tiny_train(&out, &["--lr", "1e300", "--keep-going"]));
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert!(metrics.contains("\"train_loss\":\"NaN\""), "{metrics}");
    // A resumed run keeps the NaN epoch's record (it used to drop lines it could not parse).
    ok(&tiny_train(
        &out,
        &["--lr", "1e300", "--keep-going", "--resume", "--epochs", "2"],
    ));
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2, "{metrics}");
    // ...and a checkpoint with NaN weights is refused on resume without --keep-going's
    // help: it names the tensor.
    let e = failed(
        &["train"],
        &tiny_train(&out, &["--lr", "1e300", "--resume", "--epochs", "3"]),
    );
    assert!(e.contains("non-finite value"), "{e}");
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A data directory whose splits hold `n` images each.
fn dataset_of(dir: &Path, n: u32) {
    for split in ["train", "t10k"] {
        let mut img = vec![0, 0, 8, 3];
        for d in [n, 28, 28] {
            img.extend_from_slice(&d.to_be_bytes());
        }
        img.resize(16 + n as usize * 784, 7);
        let mut lab = vec![0, 0, 8, 1];
        lab.extend_from_slice(&n.to_be_bytes());
        lab.resize(8 + n as usize, 3);
        std::fs::write(dir.join(format!("{split}-images-idx3-ubyte.gz")), gz(&img)).unwrap();
        std::fs::write(dir.join(format!("{split}-labels-idx1-ubyte.gz")), gz(&lab)).unwrap();
    }
}

#[test]
fn empty_data_sets_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    dataset_of(dir.path(), 0);
    let out = dir.path().join("run");
    let e = fails(&["train", "--data-dir", s(dir.path()), "--out", s(&out)]);
    assert!(e.contains("the MNIST training set has no samples"), "{e}");
}

#[test]
fn a_lying_image_count_is_refused_whatever_limit_asks_for() {
    // The headers declare 2,739,137 samples; the files hold 20.
    let dir = tempfile::tempdir().unwrap();
    dataset_of(dir.path(), 20);
    let mut img = vec![0, 0, 8, 3];
    for d in [2_739_137u32, 28, 28] {
        img.extend_from_slice(&d.to_be_bytes());
    }
    img.resize(16 + 20 * 784, 7);
    std::fs::write(dir.path().join("train-images-idx3-ubyte.gz"), gz(&img)).unwrap();
    let mut lab = vec![0, 0, 8, 1];
    lab.extend_from_slice(&2_739_137u32.to_be_bytes());
    lab.resize(8 + 20, 3);
    std::fs::write(dir.path().join("train-labels-idx1-ubyte.gz"), gz(&lab)).unwrap();
    let out = dir.path().join("run");
    let dd = s(dir.path());
    let base = ["train", "--data-dir", dd, "--out", s(&out), "--hidden", "8"];
    // With --limit only 10 samples are kept; the rest is streamed, found short.
    let e = fails(&[&base[..], &["--limit", "10"]].concat());
    assert!(e.contains("truncated"), "{e}");
    // Without --limit the declared count is over --max-samples, named in the error.
    let e = fails(&base);
    assert!(
        e.contains("declare 2739137 samples, over the limit of 1000000"),
        "{e}"
    );
    assert!(e.contains("--max-samples"), "{e}");
    // An honest data set under a lower --max-samples: refused unless --limit fits it.
    dataset_of(dir.path(), 20);
    let e = fails(&[&base[..], &["--max-samples", "15"]].concat());
    assert!(
        e.contains("declare 20 samples, over the limit of 15"),
        "{e}"
    );
    ok(&kiln(
        &[
            &base[..],
            &["--max-samples", "15", "--limit", "15", "--test-limit", "15"],
        ]
        .concat(),
    ));
}

#[cfg(unix)]
#[test]
fn data_paths_that_are_not_files_are_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let images = d.join("train-images-idx3-ubyte.gz");
    type Setup<'a> = (Box<dyn Fn() + 'a>, &'static str);
    let setups: Vec<Setup> = vec![
        (
            Box::new(|| std::fs::create_dir(&images).unwrap()),
            "is a directory",
        ),
        (
            Box::new(|| {
                assert!(
                    Command::new("mkfifo")
                        .arg(&images)
                        .status()
                        .unwrap()
                        .success()
                )
            }),
            "is a FIFO",
        ),
        (
            Box::new(|| std::os::unix::fs::symlink("/dev/zero", &images).unwrap()),
            "is a device",
        ),
        (
            Box::new(|| std::os::unix::fs::symlink(&images, &images).unwrap()),
            "symbolic links",
        ),
    ];
    for (make, want) in setups {
        let _ = std::fs::remove_dir(&images);
        let _ = std::fs::remove_file(&images);
        make();
        let e = fails(&["train", "--data-dir", s(d), "--out", s(&d.join("run"))]);
        assert!(e.contains(want), "{e}");
        assert!(!e.contains("download"), "{e}");
    }
}

#[cfg(unix)]
#[test]
fn a_run_directory_is_locked_and_not_overwritten_by_accident() {
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    std::fs::create_dir_all(&out).unwrap();
    // Hold the lock the way a running `kiln train` does.
    let lock = std::fs::File::create(out.join(".lock")).unwrap();
    std::fs::write(out.join(".lock"), std::process::id().to_string()).unwrap();
    assert_eq!(
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let e = failed(&["train"], &tiny_train(&out, &[]));
    assert!(
        e.contains(&format!("is in use by pid {}", std::process::id())),
        "{e}"
    );
    drop(lock);

    // A killed run's temp file is cleaned up by the next start.
    std::fs::write(out.join(".kiln-tmp-AbC123"), b"half a model").unwrap();
    let first = ok(&tiny_train(&out, &[]));
    assert!(first.contains("Saved"), "{first}");
    assert!(!out.join(".kiln-tmp-AbC123").exists());
    let model = std::fs::read(out.join("model.safetensors")).unwrap();
    let e = failed(&["train"], &tiny_train(&out, &[]));
    assert!(e.contains("already holds a run (model.safetensors)"), "{e}");
    assert!(e.contains("--resume") && e.contains("--overwrite"), "{e}");
    assert_eq!(std::fs::read(out.join("model.safetensors")).unwrap(), model);
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 1);

    // Resuming a finished run does nothing and says so (no "Saved").
    let again = ok(&tiny_train(&out, &["--resume"]));
    assert!(again.contains("Nothing to do"), "{again}");
    assert!(!again.contains("Saved"), "{again}");
    ok(&tiny_train(&out, &["--overwrite", "--seed", "3"]));
    assert_ne!(std::fs::read(out.join("model.safetensors")).unwrap(), model);

    // Outputs get the same permissions as the plots beside them.
    use std::os::unix::fs::PermissionsExt;
    let mode = |f: &str| std::fs::metadata(out.join(f)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("model.safetensors"), mode("curves.png"));
    assert_eq!(mode("checkpoint.safetensors"), mode("curves.png"));
}

#[cfg(unix)]
#[test]
fn sigterm_saves_a_checkpoint_like_ctrl_c() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let dd = data_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "train",
            "--data-dir",
            &dd,
            "--out",
            s(&out),
            "--limit",
            "2000",
            "--test-limit",
            "100",
            "--epochs",
            "50",
        ])
        .env_remove("KILN_STOP_AFTER_BATCHES")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("Epoch 1:"), "{first}");
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out_all = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out_all.stderr);
    assert_eq!(out_all.status.code(), Some(130), "{err}");
    assert!(err.contains("--resume"), "{err}");
    assert!(out.join("checkpoint.safetensors").exists());
    ok(&kiln(&[
        "train",
        "--data-dir",
        &dd,
        "--out",
        s(&out),
        "--limit",
        "2000",
        "--test-limit",
        "100",
        "--epochs",
        "2",
        "--resume",
    ]));
}

#[test]
fn thread_counts_are_bounded_and_env_garbage_is_reported() {
    let out = kiln(&["bench", "--threads", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 is not in 1..=1024"));
    let out = kiln(&["train", "--threads", "1000000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1000000 is not in 1..=1024"));

    let dir = tempfile::tempdir().unwrap();
    let dd = data_dir();
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "train",
            "--data-dir",
            &dd,
            "--out",
            s(&dir.path().join("r")),
            "--limit",
            "64",
            "--test-limit",
            "64",
            "--epochs",
            "1",
            "--hidden",
            "8",
        ])
        .env("KILN_NUM_THREADS", "abc")
        .output()
        .unwrap();
    let err = ok(&out);
    assert!(
        err.contains("warning: KILN_NUM_THREADS=\"abc\" is not a positive whole number"),
        "{err}"
    );
}

#[test]
fn eval_defaults_to_the_model_train_just_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let dd = data_dir();
    let out = kiln_in(
        Some(dir.path()),
        &[
            "train",
            "--data-dir",
            &dd,
            "--limit",
            "64",
            "--test-limit",
            "64",
            "--hidden",
            "8",
            "--epochs",
            "1",
        ],
    );
    ok(&out);
    assert!(dir.path().join("runs/latest/model.safetensors").exists());
    let text = ok(&kiln_in(
        Some(dir.path()),
        &["eval", "--data-dir", &dd, "--limit", "50"],
    ));
    assert!(text.contains("Test Acc="), "{text}");
    assert!(dir.path().join("runs/latest/confusion.png").exists());
}
