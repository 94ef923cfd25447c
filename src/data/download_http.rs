//! The HTTP half of [`super::download_verified`] (the `download` feature): streaming a
//! mirror's body into a verified temporary file.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use super::{DataError, MAX_DOWNLOAD_BYTES, content_sha256_of};

/// A one-line byte counter on stderr, drawn only when stderr is a terminal.
struct Progress {
    name: String,
    len: Option<u64>,
    done: u64,
    shown: u64,
    on: bool,
}

impl Progress {
    fn new(len: Option<u64>, name: &str) -> Self {
        let on = io::stderr().is_terminal();
        Progress {
            name: name.to_string(),
            len,
            done: 0,
            shown: 0,
            on,
        }
    }

    fn inc(&mut self, n: u64) {
        self.done += n;
        // Redraw every MiB (and at the end), not on every 64 KiB read.
        if self.on && (self.done - self.shown >= 1 << 20 || Some(self.done) == self.len) {
            self.shown = self.done;
            let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
            let line = match self.len {
                Some(t) => format!("\r{} {:.1}/{:.1} MiB", self.name, mib(self.done), mib(t)),
                None => format!("\r{} {:.1} MiB", self.name, mib(self.done)),
            };
            let _ = io::stderr().write_all(line.as_bytes());
        }
    }

    fn finish(&self) {
        if self.on && self.shown > 0 {
            let _ = io::stderr().write_all(b"\r\x1b[2K");
        }
    }
}

/// Downloads `url` into a temporary file in `dir`, verifies it and renames it to `dest`.
pub(super) fn fetch_one(
    agent: &ureq::Agent,
    url: &str,
    name: &str,
    sha256: &str,
    dir: &Path,
    dest: &Path,
) -> Result<(), DataError> {
    let http_err = |e: ureq::Error| match e {
        ureq::Error::StatusCode(status) => DataError::HttpStatus {
            url: url.to_string(),
            status,
        },
        e => DataError::Http {
            url: url.to_string(),
            source: Box::new(e),
        },
    };
    let too_large = |bytes| DataError::TooLarge {
        bytes,
        limit: MAX_DOWNLOAD_BYTES,
    };
    let mut resp = agent.get(url).call().map_err(http_err)?;
    let len = resp.body().content_length();
    if let Some(n) = len.filter(|&n| n > MAX_DOWNLOAD_BYTES) {
        return Err(too_large(n));
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| DataError::io(dir, e))?;
    let tmp_err = |e| DataError::io(dir, e);
    let mut pb = Progress::new(len, name);
    let mut body = resp.body_mut().as_reader();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(http_err(ureq::Error::Io(e))),
        };
        total += n as u64;
        if total > MAX_DOWNLOAD_BYTES {
            return Err(too_large(total));
        }
        tmp.write_all(&buf[..n]).map_err(tmp_err)?;
        pb.inc(n as u64);
    }
    pb.finish();
    let f = tmp.as_file_mut();
    f.flush().map_err(tmp_err)?;
    f.sync_all().map_err(tmp_err)?;
    f.seek(SeekFrom::Start(0)).map_err(tmp_err)?;
    let got = content_sha256_of(f, Path::new(url))?;
    if got != sha256 {
        return Err(DataError::ChecksumMismatch {
            file: url.to_string(),
            expected: sha256.to_string(),
            got,
        });
    }
    tmp.persist(dest)
        .map_err(|e| DataError::io(dest, e.error))?;
    // Make the rename itself durable; not every platform can open a directory.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

pub(super) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}
