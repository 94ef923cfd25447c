//! Verified, atomic downloads from a list of mirrors.
//!
//! # What is verified
//!
//! Checksums in this module are **content digests**: the SHA-256 of a file's
//! bytes *after* gunzipping it when it starts with the gzip magic `1f 8b`, or
//! of its raw bytes otherwise (see [`content_sha256`]). Mirrors of MNIST and
//! Debian's Fashion-MNIST package ship differently compressed `.gz` files
//! whose compressed bytes differ but whose decompressed content is identical,
//! and [`crate::data::idx::read_idx`] decodes gzip by content the same way, so
//! the digest pins exactly the bytes the IDX reader will see.
//!
//! # Atomicity
//!
//! A download is streamed into a temporary file in the destination
//! directory, fsynced, verified, and only then renamed over the destination.
//! A failed or corrupt download therefore never replaces an existing file and
//! leaves no temporary file behind.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use super::error::DataError;
use super::idx::{GZIP_MAGIC, MAX_PAYLOAD_BYTES};

/// Largest number of bytes a single download may transfer: 1 GiB.
pub const MAX_DOWNLOAD_BYTES: u64 = 1 << 30;

/// Largest decompressed content [`content_sha256`] will hash: an IDX header
/// of the biggest possible size plus [`MAX_PAYLOAD_BYTES`].
pub const MAX_CONTENT_BYTES: u64 = MAX_PAYLOAD_BYTES + 4 + 4 * 255;

/// A file that can be fetched from a mirror and checked against a content digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name, appended to a mirror's base URL and used as the local name.
    pub name: &'static str,
    /// Lower-case hex SHA-256 of the *decompressed* content (see the module docs).
    pub sha256: &'static str,
}

/// Public MNIST mirrors, in the order they should be tried.
pub const MNIST_MIRRORS: &[&str] = &[
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
];

/// The four MNIST files with the SHA-256 of their decompressed content.
pub const MNIST_FILES: [RemoteFile; 4] = [
    RemoteFile {
        name: "train-images-idx3-ubyte.gz",
        sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    },
    RemoteFile {
        name: "train-labels-idx1-ubyte.gz",
        sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    },
    RemoteFile {
        name: "t10k-images-idx3-ubyte.gz",
        sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    },
    RemoteFile {
        name: "t10k-labels-idx1-ubyte.gz",
        sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
];

/// Public Fashion-MNIST mirrors, in the order they should be tried.
pub const FASHION_MNIST_MIRRORS: &[&str] =
    &["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"];

/// The four Fashion-MNIST files with the SHA-256 of their decompressed content.
///
/// The digests were computed from Debian's `dataset-fashion-mnist` package
/// (`/usr/share/datasets/fashion-mnist`), whose `.gz` files are recompressed
/// and so differ from upstream's byte-for-byte; only the content is pinned.
pub const FASHION_MNIST_FILES: [RemoteFile; 4] = [
    RemoteFile {
        name: "train-images-idx3-ubyte.gz",
        sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    },
    RemoteFile {
        name: "train-labels-idx1-ubyte.gz",
        sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    },
    RemoteFile {
        name: "t10k-images-idx3-ubyte.gz",
        sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    },
    RemoteFile {
        name: "t10k-labels-idx1-ubyte.gz",
        sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
];

fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Hashes everything `r` yields, failing once more than `limit` bytes arrive.
fn sha256_capped(r: &mut impl Read, limit: u64) -> io::Result<Result<String, u64>> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        if total > limit {
            return Ok(Err(total));
        }
        hasher.update(&buf[..n]);
    }
    Ok(Ok(to_hex(&hasher.finalize())))
}

/// Content digest of an open file, reading from its current position.
/// `label` names the file (or URL) in errors.
pub(super) fn content_sha256_of(file: &mut File, label: &Path) -> Result<String, DataError> {
    let io_err = |e| DataError::io(label, e);
    let mut first = [0u8; 2];
    let mut n = 0;
    while n < 2 {
        match file.read(&mut first[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(e)),
        }
    }
    let prefix = io::Cursor::new(first[..n].to_vec());
    let too_large = |bytes| DataError::TooLarge {
        bytes,
        limit: MAX_CONTENT_BYTES,
    };
    if n == 2 && first == GZIP_MAGIC {
        let mut dec = MultiGzDecoder::new(prefix.chain(file));
        match sha256_capped(&mut dec, MAX_CONTENT_BYTES) {
            Ok(r) => r.map_err(too_large),
            Err(e) => Err(DataError::CorruptGzip {
                path: label.to_path_buf(),
                source: e,
            }),
        }
    } else {
        sha256_capped(&mut prefix.chain(file), MAX_CONTENT_BYTES)
            .map_err(io_err)?
            .map_err(too_large)
    }
}

#[cfg(feature = "download")]
#[path = "download_http.rs"]
mod http;

/// Returns the lower-case hex SHA-256 of a file's content: of its gunzipped
/// bytes if it starts with the gzip magic, else of its raw bytes.
///
/// Decompression stops with [`DataError::TooLarge`] past [`MAX_CONTENT_BYTES`];
/// a malformed gzip stream gives [`DataError::CorruptGzip`].
pub fn content_sha256(path: &Path) -> Result<String, DataError> {
    let mut f = File::open(path).map_err(|e| DataError::io(path, e))?;
    content_sha256_of(&mut f, path)
}

fn check_name(name: &str) -> Result<(), DataError> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\', '\0'])
        || Path::new(name).is_absolute();
    if bad {
        return Err(DataError::InvalidFileName {
            name: name.to_string(),
        });
    }
    Ok(())
}

fn check_sha(hex: &str) -> Result<String, DataError> {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DataError::InvalidChecksum {
            value: hex.to_string(),
        });
    }
    Ok(hex.to_ascii_lowercase())
}

#[cfg_attr(not(feature = "download"), allow(dead_code))]
fn join_url(base: &str, name: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{name}")
    } else {
        format!("{base}/{name}")
    }
}

/// Ensures `dest_dir/file_name` exists with content digest `sha256_hex`,
/// downloading it from the first mirror that serves verified content.
///
/// If the destination already has the right content digest (see
/// [`content_sha256`]) nothing is fetched. Otherwise each mirror base URL is
/// tried in order (`base` + `file_name`, a `/` inserted if needed); a
/// connection error, an HTTP error status, an oversized body, corrupt gzip or
/// a digest mismatch moves on to the next mirror. The winning download is
/// written atomically (temporary file in `dest_dir`, fsync, rename), so an
/// existing destination file is left untouched unless a verified replacement
/// is ready. `dest_dir` is created if missing. A progress bar is drawn on
/// stderr only when stderr is a terminal.
///
/// Fails with [`DataError::InvalidFileName`], [`DataError::InvalidChecksum`],
/// [`DataError::NoMirrors`] or [`DataError::AllMirrorsFailed`] (holding one
/// error per mirror), or [`DataError::Io`] for local file problems.
pub fn download_verified(
    mirrors: &[&str],
    file_name: &str,
    sha256_hex: &str,
    dest_dir: &Path,
) -> Result<PathBuf, DataError> {
    check_name(file_name)?;
    let sha256 = check_sha(sha256_hex)?;
    let dest = dest_dir.join(file_name);
    if dest.is_file() && content_sha256(&dest).is_ok_and(|got| got == sha256) {
        return Ok(dest);
    }
    if mirrors.is_empty() {
        return Err(DataError::NoMirrors {
            file: file_name.to_string(),
        });
    }
    #[cfg(not(feature = "download"))]
    {
        Err(DataError::DownloadDisabled {
            file: file_name.to_string(),
        })
    }
    #[cfg(feature = "download")]
    {
        std::fs::create_dir_all(dest_dir).map_err(|e| DataError::io(dest_dir, e))?;
        let agent = http::agent();
        let mut errors = Vec::new();
        for base in mirrors {
            let url = join_url(base, file_name);
            match http::fetch_one(&agent, &url, file_name, &sha256, dest_dir, &dest) {
                Ok(()) => return Ok(dest),
                Err(e) => errors.push(e),
            }
        }
        Err(DataError::AllMirrorsFailed {
            file: file_name.to_string(),
            errors,
        })
    }
}

/// [`download_verified`] for a [`RemoteFile`].
pub fn fetch(file: &RemoteFile, mirrors: &[&str], dest_dir: &Path) -> Result<PathBuf, DataError> {
    download_verified(mirrors, file.name, file.sha256, dest_dir)
}

/// Returns the first `dir/name` that is an existing file, or
/// [`DataError::NotFound`] listing every path that was tried.
pub fn find_file(name: &str, dirs: &[PathBuf]) -> Result<PathBuf, DataError> {
    check_name(name)?;
    let mut searched = Vec::with_capacity(dirs.len());
    for d in dirs {
        let p = d.join(name);
        if p.is_file() {
            return Ok(p);
        }
        searched.push(p);
    }
    Err(DataError::NotFound {
        name: name.to_string(),
        searched,
    })
}
