//! Tests for the verified downloader against a tiny in-process HTTP server on 127.0.0.1.
//! They need the `download` feature (on in `cargo test --workspace`, which builds kiln-cli).
#![cfg(feature = "download")]

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use kiln::data::download::{
    FASHION_MNIST_FILES, MNIST_FILES, content_sha256, download_verified, fetch, find_file,
};
use kiln::data::idx::{encode_idx_u8, read_idx};
use kiln::data::{DataError, RemoteFile};
use sha2::{Digest, Sha256};

/// What the server answers for one path.
#[derive(Clone)]
enum Reply {
    Ok(Vec<u8>),
    /// Announces the full length but sends only the first half, then closes.
    Cut(Vec<u8>),
}

/// A one-thread HTTP/1.1 server serving from memory; unknown paths get 404.
/// It stops after `max_requests`, after 10 s, or when dropped.
struct Server {
    base: String,
    hits: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(routes: HashMap<String, Reply>, max_requests: usize) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (hits.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut served = 0;
            while served < max_requests && !s.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        served += 1;
                        handle(stream, &routes, &h);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => break,
                }
            }
        });
        Server {
            base,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, dir: &str) -> String {
        format!("{}/{dir}/", self.base)
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves one request, recording its path in `hits` before the reply is written: the
/// client may finish reading (and the test look at the hits) before this thread runs
/// again, so a hit recorded after the reply raced the test's check.
fn handle(
    mut stream: TcpStream,
    routes: &HashMap<String, Reply>,
    hits: &Mutex<Vec<String>>,
) -> Option<()> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        req.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&req);
    let path = line.split_whitespace().nth(1)?.to_string();
    hits.lock().unwrap().push(path.clone());
    let (status, body, send) = match routes.get(&path) {
        Some(Reply::Ok(b)) => ("200 OK", b.clone(), b.len()),
        Some(Reply::Cut(b)) => ("200 OK", b.clone(), b.len() / 2),
        None => ("404 Not Found", b"not found".to_vec(), 9),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body[..send]);
    let _ = stream.flush();
    Some(())
}

/// A port on 127.0.0.1 with nothing listening: connections are refused.
fn refused_mirror() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/")
}

const NAME: &str = "digits-idx1-ubyte.gz";

fn payload() -> Vec<u8> {
    let data: Vec<u8> = (0..300u32).map(|i| (i * 31 % 251) as u8).collect();
    encode_idx_u8(&[3, 10, 10], &data).unwrap()
}

fn gzip(bytes: &[u8], level: u32) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::new(level));
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn corrupt(mut bytes: Vec<u8>) -> Vec<u8> {
    let i = bytes.len() - 1;
    bytes[i] ^= 0x55;
    bytes
}

/// Routes: /good/ (gzip -9), /good1/ (gzip -1), /bad/ (raw with a flipped byte),
/// /badgz/ (gzip with a broken CRC), /cut/ (body cut short); anything else is 404.
fn standard_server(max_requests: usize) -> Server {
    let raw = payload();
    let mut badgz = gzip(&raw, 9);
    let n = badgz.len();
    badgz[n - 8] ^= 0xff;
    let routes = HashMap::from([
        (format!("/good/{NAME}"), Reply::Ok(gzip(&raw, 9))),
        (format!("/good1/{NAME}"), Reply::Ok(gzip(&raw, 1))),
        (format!("/bad/{NAME}"), Reply::Ok(corrupt(raw.clone()))),
        (format!("/badgz/{NAME}"), Reply::Ok(badgz)),
        (format!("/cut/{NAME}"), Reply::Cut(gzip(&raw, 9))),
    ]);
    Server::start(routes, max_requests)
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn mirror_errors(e: DataError) -> Vec<DataError> {
    match e {
        DataError::AllMirrorsFailed { errors, .. } => errors,
        e => panic!("expected AllMirrorsFailed, got {e}"),
    }
}

#[test]
fn falls_back_through_failing_mirrors() {
    let srv = standard_server(8);
    let dir = tempfile::tempdir().unwrap();
    let sha = sha_hex(&payload());
    let mirrors = [
        refused_mirror(),
        srv.url("missing"),
        srv.url("bad"),
        srv.url("badgz"),
        srv.url("cut"),
        srv.url("good"),
        srv.url("never"),
    ];
    let m: Vec<&str> = mirrors.iter().map(String::as_str).collect();
    let path = download_verified(&m, NAME, &sha, dir.path()).unwrap();
    assert_eq!(path, dir.path().join(NAME));
    let hits = srv.hits();
    let want: Vec<String> = ["missing", "bad", "badgz", "cut", "good"]
        .iter()
        .map(|d| format!("/{d}/{NAME}"))
        .collect();
    assert_eq!(hits, want);
    assert_eq!(content_sha256(&path).unwrap(), sha);
    assert_eq!(read_idx(&path).unwrap().dims, vec![3, 10, 10]);
    assert_eq!(listing(dir.path()), vec![NAME.to_string()]);
}

#[test]
fn rejects_checksum_mismatch_and_reports_every_mirror() {
    let srv = standard_server(8);
    let dir = tempfile::tempdir().unwrap();
    let sha = sha_hex(&payload());
    let refused = refused_mirror();
    let mirrors = [
        srv.url("bad"),
        srv.url("missing"),
        refused.clone(),
        srv.url("badgz"),
        srv.url("cut"),
    ];
    let m: Vec<&str> = mirrors.iter().map(String::as_str).collect();
    let e = download_verified(&m, NAME, &sha, dir.path()).unwrap_err();
    let msg = e.to_string();
    for u in &mirrors {
        assert!(msg.contains(u.as_str()), "{msg}");
    }
    let errs = mirror_errors(e);
    assert_eq!(errs.len(), 5);
    let bad_sha = sha_hex(&corrupt(payload()));
    assert!(
        matches!(&errs[0], DataError::ChecksumMismatch { expected, got, .. } if *expected == sha && *got == bad_sha),
        "{}",
        errs[0]
    );
    assert!(
        matches!(errs[1], DataError::HttpStatus { status: 404, .. }),
        "{}",
        errs[1]
    );
    assert!(matches!(errs[2], DataError::Http { .. }), "{}", errs[2]);
    assert!(
        matches!(errs[3], DataError::CorruptGzip { .. }),
        "{}",
        errs[3]
    );
    assert!(matches!(errs[4], DataError::Http { .. }), "{}", errs[4]);
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[test]
fn existing_file_untouched_when_all_mirrors_fail() {
    let srv = standard_server(4);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join(NAME);
    let old = gzip(b"an older but perfectly readable file", 6);
    std::fs::write(&dest, &old).unwrap();
    let mirrors = [srv.url("missing"), srv.url("bad"), srv.url("cut")];
    let m: Vec<&str> = mirrors.iter().map(String::as_str).collect();
    let e = download_verified(&m, NAME, &sha_hex(&payload()), dir.path()).unwrap_err();
    assert_eq!(mirror_errors(e).len(), 3);
    assert_eq!(std::fs::read(&dest).unwrap(), old);
    assert_eq!(listing(dir.path()), vec![NAME.to_string()]);
}

#[test]
fn stale_file_is_replaced_and_valid_file_is_kept_without_requests() {
    let srv = standard_server(4);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join(NAME);
    std::fs::write(&dest, b"stale").unwrap();
    let sha = sha_hex(&payload());
    // A differently compressed copy has the same content digest.
    let mirrors = [srv.url("good1")];
    let m: Vec<&str> = mirrors.iter().map(String::as_str).collect();
    download_verified(&m, NAME, &sha, dir.path()).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), gzip(&payload(), 1));
    assert_eq!(srv.hits().len(), 1);
    // Now valid: nothing is fetched, even from a mirror that would fail.
    let sha_upper = sha.to_ascii_uppercase();
    let p = download_verified(&[&srv.url("bad")], NAME, &sha_upper, dir.path()).unwrap();
    assert_eq!(p, dest);
    assert_eq!(srv.hits().len(), 1);
    assert_eq!(listing(dir.path()), vec![NAME.to_string()]);
}

#[test]
fn creates_missing_destination_dir() {
    let srv = standard_server(1);
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b");
    let p = download_verified(&[&srv.url("good")], NAME, &sha_hex(&payload()), &nested).unwrap();
    assert_eq!(p, nested.join(NAME));
    assert_eq!(listing(&nested), vec![NAME.to_string()]);
}

#[test]
fn validates_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let sha = sha_hex(&payload());
    for name in ["", "..", "../x.gz", "a/b", "/etc/passwd"] {
        let e = download_verified(&["http://127.0.0.1:9/"], name, &sha, dir.path()).unwrap_err();
        assert!(
            matches!(e, DataError::InvalidFileName { .. }),
            "{name}: {e}"
        );
    }
    for bad in ["", "abc", &"g".repeat(64), &"a".repeat(65)] {
        let e = download_verified(&["http://127.0.0.1:9/"], NAME, bad, dir.path()).unwrap_err();
        assert!(matches!(e, DataError::InvalidChecksum { .. }), "{bad}: {e}");
    }
    let e = download_verified(&[], NAME, &sha, dir.path()).unwrap_err();
    assert!(matches!(e, DataError::NoMirrors { .. }), "{e}");
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn find_file_lists_searched_paths() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let dirs = [a.path().to_path_buf(), b.path().to_path_buf()];
    let e = find_file("x.gz", &dirs).unwrap_err();
    match &e {
        DataError::NotFound { name, searched } => {
            assert_eq!(name, "x.gz");
            assert_eq!(searched, &[a.path().join("x.gz"), b.path().join("x.gz")]);
        }
        e => panic!("{e}"),
    }
    assert!(
        e.to_string()
            .contains(&b.path().join("x.gz").display().to_string())
    );
    std::fs::write(b.path().join("x.gz"), b"").unwrap();
    assert_eq!(find_file("x.gz", &dirs).unwrap(), b.path().join("x.gz"));
}

const MNIST_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist");
const FASHION_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Checks the pinned digests of the files in `dir` whose name passes `pick`.
/// `fetch` with no mirrors succeeds only when the local file already matches.
fn check_pinned(files: &[RemoteFile], dir: &Path, pick: impl Fn(&str) -> bool) {
    for f in files.iter().filter(|f| pick(f.name)) {
        if let Err(e) = fetch(f, &[], dir) {
            let got = content_sha256(&dir.join(f.name));
            panic!("{}: {e}; content digest is {got:?}", f.name);
        }
    }
}

/// Debug-build hashing runs at ~30 MB/s, so the default run skips the two
/// 47 MB training-image files; `all_pinned_digests` covers them.
fn small(name: &str) -> bool {
    !name.starts_with("train-images")
}

/// The shipped MNIST files match the pinned content digests, so fetching them
/// into their own directory is a no-op that needs no mirror.
#[test]
fn shipped_mnist_matches_pinned_digests() {
    check_pinned(&MNIST_FILES, Path::new(MNIST_DIR), small);
}

/// Debian's `dataset-fashion-mnist` package, when installed, matches the pinned digests.
#[test]
fn debian_fashion_mnist_matches_pinned_digests_if_installed() {
    if !Path::new(FASHION_DIR).is_dir() {
        eprintln!("skipping: {FASHION_DIR} is not installed");
        return;
    }
    check_pinned(&FASHION_MNIST_FILES, Path::new(FASHION_DIR), small);
}

/// Every pinned digest, including the large training images (slow in debug:
/// run with `cargo test --release --test download -- --ignored`).
#[test]
#[ignore]
fn all_pinned_digests() {
    check_pinned(&MNIST_FILES, Path::new(MNIST_DIR), |_| true);
    if Path::new(FASHION_DIR).is_dir() {
        check_pinned(&FASHION_MNIST_FILES, Path::new(FASHION_DIR), |_| true);
    }
}
