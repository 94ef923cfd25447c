//! The library against hostile files and misuse (issue 11): bounded, header-first
//! safetensors reads, IDX prefix reads and gzip checksums, data paths that are not
//! files, optimizer hyper-parameters checked with PyTorch's messages, and mse_loss's
//! broadcast warning. Every hostile input is built here at test time.

use std::io::Write;
use std::path::Path;

use kiln::data::DataError;
use kiln::io::{IoError, read_safetensors_bytes};

/// A safetensors file from a raw JSON header and body.
fn raw_safetensors(path: &Path, header: &str, body: &[u8]) {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(body);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_3_gib_sparse_file_is_refused_from_its_first_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sparse.safetensors");
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(3 << 30).unwrap();
    // A header length that fits the file but a header of zeros: refused after 8 + a few
    // bytes, never reading the 3 GiB.
    let e = kiln::io::load_safetensors(&p).unwrap_err();
    assert!(matches!(e, IoError::Format { .. }), "{e}");
    // A header claiming more than the file holds.
    let mut f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.write_all(&(5u64 << 30).to_le_bytes()).unwrap();
    let e = kiln::io::load_safetensors(&p).unwrap_err().to_string();
    assert!(e.contains("its header claims 5368709120 bytes"), "{e}");
    let e = read_safetensors_bytes(&p, 1 << 20).unwrap_err().to_string();
    assert!(e.contains("over the limit of 1048576 bytes"), "{e}");
}

#[cfg(unix)]
#[test]
fn devices_fifos_and_directories_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (p, kind) in [
        (Path::new("/dev/zero"), "a device"),
        (fifo.as_path(), "a FIFO"),
        (dir.path(), "a directory"),
    ] {
        let e = kiln::io::load_safetensors(p).unwrap_err();
        assert!(
            matches!(e, IoError::NotAFile { kind: k, .. } if k == kind),
            "{e}"
        );
        let e = kiln::io::Checkpoint::load(p).err().unwrap();
        assert!(e.to_string().contains(kind), "{e}");
    }
}

#[test]
fn dtype_and_length_errors_name_the_tensor_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("half.safetensors");
    raw_safetensors(
        &p,
        r#"{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#,
        &[0; 4],
    );
    let e = kiln::io::load_safetensors(&p).unwrap_err().to_string();
    assert!(e.contains(&p.display().to_string()), "{e}");
    assert!(
        e.contains("tensor 'w': dtype F16, which kiln cannot load"),
        "{e}"
    );

    let p = dir.path().join("short.safetensors");
    raw_safetensors(
        &p,
        r#"{"w":{"dtype":"F32","shape":[3,4],"data_offsets":[0,40]}}"#,
        &[0; 40],
    );
    let e = kiln::io::load_safetensors(&p).unwrap_err().to_string();
    assert!(e.contains(&p.display().to_string()), "{e}");
    assert!(
        e.contains("tensor 'w': F32 [3, 4] needs 48 bytes but its data_offsets span 40"),
        "{e}"
    );

    let p = dir.path().join("past.safetensors");
    raw_safetensors(
        &p,
        r#"{"w":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}"#,
        &[0; 4],
    );
    let e = kiln::io::load_safetensors(&p).unwrap_err().to_string();
    assert!(
        e.contains("tensor 'w': its data ends at byte 8 but the file holds 4"),
        "{e}"
    );
    // A valid file still loads.
    let p = dir.path().join("ok.safetensors");
    raw_safetensors(
        &p,
        r#"{"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#,
        &[1, 2, 3, 4],
    );
    let t = kiln::io::load_safetensors(&p).unwrap();
    assert_eq!(t[0].1.to_vec::<u8>(), [1, 2, 3, 4]);
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn idx_u8(dims: &[u32], fill: usize) -> Vec<u8> {
    let mut b = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.resize(b.len() + fill, 9);
    b
}

#[test]
fn a_gzip_with_a_flipped_crc_is_corrupt_not_trailing_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.gz");
    let mut g = gz(&idx_u8(&[3, 2], 6));
    let n = g.len();
    g[n - 8] ^= 0xff; // the CRC32 of the gzip trailer
    std::fs::write(&p, &g).unwrap();
    let e = kiln::data::read_idx(&p).unwrap_err();
    assert!(
        matches!(e.innermost(), DataError::CorruptGzip { .. }),
        "{e:?}"
    );
}

#[test]
fn a_prefix_read_keeps_only_what_is_asked_for_and_still_checks_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // An honest file of 1000 images: a prefix of 10 keeps 10.
    let p = dir.path().join("honest.gz");
    std::fs::write(&p, gz(&idx_u8(&[1000, 28, 28], 1000 * 784))).unwrap();
    let (a, declared) = kiln::data::read_idx_prefix(&p, 10).unwrap();
    assert_eq!(
        (declared, a.dims.as_slice(), a.data.len()),
        (1000, &[10, 28, 28][..], 7840)
    );
    // The header declares 2,739,137 images (2.1 GB); the file holds 10. The lie is found
    // while streaming the rest into no memory, whatever prefix is asked for.
    let p = dir.path().join("lying.gz");
    std::fs::write(&p, gz(&idx_u8(&[2_739_137, 28, 28], 10 * 784))).unwrap();
    for n in [10, 11] {
        let e = kiln::data::read_idx_prefix(&p, n).unwrap_err();
        assert!(
            matches!(e.innermost(), DataError::Truncated { .. }),
            "{e:?}"
        );
    }
    // Zero items: the header alone, to learn the declared count.
    assert_eq!(kiln::data::read_idx_prefix(&p, 0).unwrap().1, 2_739_137);
    // A flipped CRC is found behind a prefix read too.
    let mut g = gz(&idx_u8(&[1000, 28, 28], 1000 * 784));
    let len = g.len();
    g[len - 8] ^= 0xff;
    std::fs::write(&p, &g).unwrap();
    let e = kiln::data::read_idx_prefix(&p, 10).unwrap_err();
    assert!(
        matches!(e.innermost(), DataError::CorruptGzip { .. }),
        "{e:?}"
    );
    // Uncompressed: the file's size is checked against the header without reading on.
    let p = dir.path().join("plain");
    std::fs::write(&p, idx_u8(&[2_739_137, 28, 28], 10 * 784)).unwrap();
    let e = kiln::data::read_idx_prefix(&p, 10).unwrap_err();
    assert!(
        matches!(e.innermost(), DataError::Truncated { .. }),
        "{e:?}"
    );
}

#[test]
fn a_bad_crc_behind_extra_bytes_is_reported_as_corrupt() {
    // Two more bytes than the header declares, and a flipped CRC: the damage is named.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.gz");
    let mut g = gz(&idx_u8(&[3, 2], 8));
    let n = g.len();
    g[n - 8] ^= 0xff;
    std::fs::write(&p, &g).unwrap();
    let e = kiln::data::read_idx(&p).unwrap_err();
    assert!(
        matches!(e.innermost(), DataError::CorruptGzip { .. }),
        "{e:?}"
    );
}

#[cfg(unix)]
#[test]
fn data_files_that_are_not_files_are_not_reported_as_missing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let images = d.join("t10k-images-idx3-ubyte.gz");
    std::fs::write(d.join("t10k-labels-idx1-ubyte.gz"), gz(&idx_u8(&[0], 0))).unwrap();
    let reset = || {
        let _ = std::fs::remove_dir(&images);
        let _ = std::fs::remove_file(&images);
    };
    std::fs::create_dir(&images).unwrap();
    let e = kiln::data::Mnist::new(Some(d), false, true).err().unwrap();
    assert!(
        matches!(
            e,
            DataError::NotAFile {
                kind: "a directory",
                ..
            }
        ),
        "{e:?}"
    );
    reset();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&images)
            .status()
            .unwrap()
            .success()
    );
    let e = kiln::data::Mnist::new(Some(d), false, false).err().unwrap();
    assert!(
        matches!(e, DataError::NotAFile { kind: "a FIFO", .. }),
        "{e:?}"
    );
    reset();
    std::os::unix::fs::symlink("/dev/zero", &images).unwrap();
    let e = kiln::data::Mnist::new(Some(d), false, false).err().unwrap();
    assert!(
        matches!(
            e,
            DataError::NotAFile {
                kind: "a device",
                ..
            }
        ),
        "{e:?}"
    );
    reset();
    std::os::unix::fs::symlink(&images, &images).unwrap();
    let e = kiln::data::Mnist::new(Some(d), false, false).err().unwrap();
    assert!(e.to_string().contains("symbolic links"), "{e}");
    assert!(!e.to_string().contains("download"), "{e}");
    // read_idx itself refuses what is not a regular file.
    let e = kiln::data::read_idx(Path::new("/dev/zero")).unwrap_err();
    assert!(matches!(e, DataError::NotAFile { .. }), "{e:?}");
}

fn fixture() -> serde_json::Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let e = std::panic::catch_unwind(f).expect_err("the constructor must panic");
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap()
}

#[test]
fn optimizer_hyperparameters_are_checked_with_pytorchs_messages() {
    use kiln::optim::{Adagrad, Adam, AdamW, RMSprop, SGD};
    let fx = fixture();
    let cases = fx["optim"].as_array().unwrap();
    assert!(cases.len() >= 18);
    for case in cases {
        let name = case["optimizer"].as_str().unwrap().to_string();
        let args = case["args"].as_object().unwrap().clone();
        let want = case["message"].as_str().unwrap().to_string();
        let got = panic_message(move || {
            let num = |k: &str, d: f64| match args.get(k) {
                Some(serde_json::Value::String(s)) if s == "nan" => f64::NAN,
                Some(v) => v.as_f64().unwrap(),
                None => d,
            };
            let lr = num("lr", 1e-3);
            let p = vec![kiln::Tensor::zeros(&[1]).requires_grad_(true)];
            match name.as_str() {
                "SGD" => drop(
                    SGD::new(p, lr)
                        .momentum(num("momentum", 0.0))
                        .weight_decay(num("weight_decay", 0.0)),
                ),
                "Adam" | "AdamW" => {
                    let b = args
                        .get("betas")
                        .and_then(|b| b.as_array())
                        .map(|b| (b[0].as_f64().unwrap(), b[1].as_f64().unwrap()));
                    let (b1, b2) = b.unwrap_or((0.9, 0.999));
                    let o = if name == "Adam" {
                        Adam::new(p, lr)
                    } else {
                        AdamW::new(p, lr).into_inner()
                    };
                    drop(
                        o.betas(b1, b2)
                            .eps(num("eps", 1e-8))
                            .weight_decay(num("weight_decay", 0.0)),
                    )
                }
                "Adagrad" => drop(
                    Adagrad::new(p, lr)
                        .lr_decay(num("lr_decay", 0.0))
                        .eps(num("eps", 1e-10))
                        .initial_accumulator_value(num("initial_accumulator_value", 0.0)),
                ),
                "RMSprop" => drop(
                    RMSprop::new(p, lr)
                        .alpha(num("alpha", 0.99))
                        .eps(num("eps", 1e-8))
                        .momentum(num("momentum", 0.0)),
                ),
                other => panic!("unknown optimizer {other}"),
            }
        });
        assert_eq!(got, want, "{case}");
    }
    // PyTorch's SGD lets a NaN learning rate through; kiln refuses it in the same words.
    let got = panic_message(|| drop(SGD::new(vec![kiln::Tensor::zeros(&[1])], f64::NAN)));
    assert_eq!(got, "Invalid learning rate: nan");
}

#[test]
fn mse_loss_of_mismatched_shapes_broadcasts_with_pytorchs_warning() {
    let fx = fixture();
    let want = fx["mse_warning"].as_str().unwrap();
    assert_eq!(kiln::nn::functional::broadcast_warning(&[4, 1], &[4]), want);
    // The result is PyTorch's: the [4, 1] input broadcasts against the [4] target.
    let x = kiln::Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[4, 1]);
    let y = kiln::Tensor::from_vec(vec![0.0f32, 0.0, 0.0, 0.0], &[4]);
    let l = kiln::nn::functional::mse_loss_with(&x, &y, kiln::nn::Reduction::None);
    assert_eq!(l.shape(), [4, 4]);
}
