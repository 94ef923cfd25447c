//! Where an op was created: a backtrace captured at record time, resolved lazily to the
//! first frame of the user's code.

use parking_lot::Mutex;
use std::backtrace::Backtrace;
use std::sync::OnceLock;

/// kiln's own sources: frames in here are the library, not the user's forward code.
const KILN_SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");
const KILN_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/");

/// A creation site: captured cheaply, resolved once on first use.
pub(crate) struct Site {
    bt: Mutex<Option<Backtrace>>,
    resolved: OnceLock<Option<String>>,
}

impl Site {
    /// Captures the current stack (unresolved).
    pub(crate) fn capture() -> Self {
        Site {
            bt: Mutex::new(Some(Backtrace::force_capture())),
            resolved: OnceLock::new(),
        }
    }

    /// `file:line` of the user's code that created the op, if the backtrace has one.
    pub(crate) fn get(&self) -> Option<&str> {
        self.resolved
            .get_or_init(|| self.bt.lock().take().and_then(|bt| user_frame(&bt)))
            .as_deref()
    }
}

/// Whether a source path belongs to kiln, the standard library or a registry crate.
fn is_library(path: &str) -> bool {
    path.starts_with(KILN_SRC)
        || path.starts_with("/rustc/")
        || path.contains("/library/std/")
        || path.contains("/library/core/")
        || path.contains("/library/alloc/")
        || path.contains("/.cargo/registry/")
        || path.contains("/.cargo/git/")
        || path.contains("/.rustup/")
}

/// The first frame outside the libraries, as `path:line` with the path made relative.
fn user_frame(bt: &Backtrace) -> Option<String> {
    let text = format!("{bt:#}");
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("at "))
        .filter_map(|loc| {
            // `path:line:col`
            let mut parts = loc.rsplitn(3, ':');
            let _col = parts.next()?;
            let line = parts.next()?;
            let path = parts.next()?;
            line.parse::<u32>().ok()?;
            Some((path.to_string(), line.to_string()))
        })
        .find(|(path, _)| !is_library(path))
        .map(|(path, line)| format!("{}:{line}", relative(&path)))
}

/// `path` relative to the kiln crate or the current directory when under either.
pub(crate) fn relative(path: &str) -> String {
    let path = &normalize(path);
    if let Some(r) = path.strip_prefix(KILN_ROOT) {
        return r.to_string();
    }
    if let Ok(cwd) = std::env::current_dir()
        && let Some(r) = std::path::Path::new(path)
            .strip_prefix(&cwd)
            .ok()
            .and_then(|p| p.to_str())
    {
        return r.to_string();
    }
    path.to_string()
}

/// Removes `.` and `dir/..` segments (`tests/../examples/x.rs` is `examples/x.rs`).
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "." => {}
            ".." if parts.last().is_some_and(|l| !l.is_empty() && *l != "..") => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}
