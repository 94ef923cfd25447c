//! Writes that never leave a half-written file behind.

use super::error::IoError;
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically: the data goes to a temporary file in the same
/// directory, is flushed to disk, then renamed over `path`. If anything fails part way,
/// the previous file at `path` is untouched and the temporary file is removed.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".kiln-tmp-");
    // A temporary file is private (0600); the file it becomes gets the permissions any
    // new file gets (0666 less the umask), like the rest of a run's outputs.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir).map_err(|e| IoError::io(path, e))?;
    tmp.write_all(bytes).map_err(|e| IoError::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| IoError::io(path, e))?;
    tmp.persist(path).map_err(|e| IoError::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.bin");
        atomic_write(&p, b"first").unwrap();
        atomic_write(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failed_write_keeps_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.bin");
        atomic_write(&p, b"good").unwrap();
        // A directory in the way of the rename makes the write fail after the temp file.
        let blocked = dir.path().join("sub");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("x"), b"occupied").unwrap();
        assert!(atomic_write(&blocked, b"new").is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"good");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
