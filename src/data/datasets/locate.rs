//! Finding a dataset's files on disk, and choosing where to download them.

use std::fs;
use std::path::{Path, PathBuf};

use crate::data::download::{RemoteFile, fetch};
use crate::data::error::DataError;

/// Environment variable naming a directory that holds datasets, one folder each.
pub const DATA_ENV: &str = "KILN_DATA";

/// Where Debian's `dataset-*` packages install datasets.
pub const SYSTEM_DATA_DIR: &str = "/usr/share/datasets";

/// The directories searched for a dataset called `name` (e.g. `mnist`), in order.
///
/// With an explicit `root`, only that root is searched: `root` itself, `root/<name>` and
/// torchvision's layout `root/<torchvision_dir>/raw`. Without one: `$KILN_DATA/<name>`
/// (if the variable is set), `./data/<name>`, torchvision's `./data/<torchvision_dir>/raw`,
/// then `/usr/share/datasets/<name>`.
pub fn search_dirs(root: Option<&Path>, name: &str, torchvision_dir: &str) -> Vec<PathBuf> {
    let torchvision = |base: &Path| base.join(torchvision_dir).join("raw");
    if let Some(root) = root {
        return vec![root.to_path_buf(), root.join(name), torchvision(root)];
    }
    let mut dirs = Vec::new();
    if let Some(env) = std::env::var_os(DATA_ENV).filter(|v| !v.is_empty()) {
        dirs.push(PathBuf::from(env).join(name));
    }
    let local = local_data();
    dirs.push(local.join(name));
    dirs.push(torchvision(&local));
    dirs.push(Path::new(SYSTEM_DATA_DIR).join(name));
    dirs
}

/// The directories a download may go to, best first: `root/<name>` with an explicit
/// root, else `$KILN_DATA/<name>` (if set) then `./data/<name>`.
pub fn download_dirs(root: Option<&Path>, name: &str) -> Vec<PathBuf> {
    if let Some(root) = root {
        return vec![root.join(name)];
    }
    let mut dirs = Vec::new();
    if let Some(env) = std::env::var_os(DATA_ENV).filter(|v| !v.is_empty()) {
        dirs.push(PathBuf::from(env).join(name));
    }
    dirs.push(local_data().join(name));
    dirs
}

/// `./data`, made absolute so that error messages say where it is.
fn local_data() -> PathBuf {
    std::env::current_dir()
        .map(|d| d.join("data"))
        .unwrap_or_else(|_| PathBuf::from("data"))
}

/// `dir/file`, or `dir/file` without its `.gz` suffix (a decompressed copy, as
/// torchvision leaves next to the archive), whichever exists first. Something at one
/// of those paths that is not a regular file (a directory, FIFO, device, a symlink
/// loop) is an error, not "missing": a download would not fix it.
fn existing(dir: &Path, file: &str) -> Result<Option<PathBuf>, DataError> {
    let plain = file.strip_suffix(".gz");
    for p in std::iter::once(file).chain(plain).map(|f| dir.join(f)) {
        match fs::metadata(&p) {
            Ok(m) if m.is_file() => return Ok(Some(p)),
            Ok(m) => {
                return Err(DataError::NotAFile {
                    kind: crate::data::error::file_kind(&m),
                    path: p,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // A parent that is a file (ENOTDIR) means the same as missing here.
            Err(e) if e.raw_os_error() == Some(20) => {}
            Err(e) => return Err(DataError::io(&p, e)),
        }
    }
    Ok(None)
}

/// The first directory of `dirs` that holds every one of `files`, with their paths.
/// Files of one split always come from one directory, never mixed.
pub fn find_all(dirs: &[PathBuf], files: &[&str]) -> Result<Option<Vec<PathBuf>>, DataError> {
    for d in dirs {
        let mut found = Vec::with_capacity(files.len());
        for f in files {
            match existing(d, f)? {
                Some(p) => found.push(p),
                None => break,
            }
        }
        if found.len() == files.len() {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

fn writable(dir: &Path) -> bool {
    fs::create_dir_all(dir).is_ok() && tempfile::tempfile_in(dir).is_ok()
}

/// Downloads `files` (verified, see [`fetch`]) into the first writable directory of
/// `dirs` and returns their paths. `dataset` names the data in errors.
pub fn download_into(
    dataset: &str,
    dirs: &[PathBuf],
    files: &[RemoteFile],
    mirrors: &[&str],
) -> Result<Vec<PathBuf>, DataError> {
    let dir = dirs
        .iter()
        .find(|d| writable(d))
        .ok_or_else(|| DataError::NoWritableDir {
            dataset: dataset.to_string(),
            tried: dirs.to_vec(),
        })?;
    files.iter().map(|f| fetch(f, mirrors, dir)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_root_is_searched_alone() {
        let dirs = search_dirs(Some(Path::new("/r")), "mnist", "MNIST");
        let want: Vec<PathBuf> = ["/r", "/r/mnist", "/r/MNIST/raw"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(dirs, want);
        assert_eq!(
            download_dirs(Some(Path::new("/r")), "mnist"),
            vec![PathBuf::from("/r/mnist")]
        );
    }

    #[test]
    fn default_search_ends_with_the_system_dir() {
        let dirs = search_dirs(None, "fashion-mnist", "FashionMNIST");
        assert_eq!(
            dirs.last().unwrap(),
            Path::new("/usr/share/datasets/fashion-mnist")
        );
        assert!(dirs.iter().any(|d| d.ends_with("data/fashion-mnist")));
    }

    #[test]
    fn find_all_takes_plain_or_gz_from_one_dir() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        fs::write(a.path().join("x.gz"), b"").unwrap();
        fs::write(b.path().join("x"), b"").unwrap();
        fs::write(b.path().join("y.gz"), b"").unwrap();
        let dirs = vec![a.path().to_path_buf(), b.path().to_path_buf()];
        let found = find_all(&dirs, &["x.gz", "y.gz"]).unwrap().unwrap();
        assert_eq!(found, vec![b.path().join("x"), b.path().join("y.gz")]);
        assert!(find_all(&dirs, &["z.gz"]).unwrap().is_none());
    }
}
