//! Owning a run directory: one `kiln train` at a time per `--out` (an advisory `flock`
//! on `.lock`, released by the kernel however the process ends, so a killed run never
//! leaves a stale lock), and the temporary files a killed run left behind.

use super::error::CliError;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;

/// Holds the lock on a run directory until dropped.
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Locks `dir` (which must exist) for this process, or fails with
    /// "DIR is in use by pid N" when another process holds it.
    pub fn acquire(dir: &Path) -> Result<RunLock, CliError> {
        let path = dir.join(".lock");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| CliError::file(&path, e))?;
        if !try_lock(&file) {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let who = match pid.trim() {
                "" => "another process".to_string(),
                p => format!("pid {p}"),
            };
            return Err(CliError::Usage(format!(
                "{} is in use by {who} (another `kiln train` writes there); wait for it or pick another --out",
                dir.display()
            )));
        }
        let pid = std::process::id().to_string();
        let _ = file
            .set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| file.write_all(pid.as_bytes()));
        Ok(RunLock { _file: file })
    }
}

#[cfg(unix)]
fn try_lock(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this File owns; no memory is involved.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> bool {
    true
}

/// Removes the `.kiln-tmp-*` files an atomic write left in `dir` when its process was
/// killed mid-write (call it holding the lock: no live writer owns them then). Returns
/// how many were removed.
pub fn remove_stale_temps(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".kiln-tmp-"))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}
