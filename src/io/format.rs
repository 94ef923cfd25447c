//! Which file format a path means: the extension decides, as PyTorch users name files.

use std::path::Path;

/// A tensor file format kiln reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// safetensors (`.safetensors`, and any unknown extension when saving).
    Safetensors,
    /// PyTorch's `torch.save` zip archive (`.pt`, `.pth`, `.bin`).
    PyTorch,
}

impl FileFormat {
    /// The format an extension names: `.pt`, `.pth` and `.bin` (Hugging Face's
    /// `pytorch_model.bin`) are PyTorch files, `.safetensors` is safetensors, anything
    /// else `None`.
    pub fn from_extension(path: &Path) -> Option<FileFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "pt" | "pth" | "bin" => Some(FileFormat::PyTorch),
            "safetensors" => Some(FileFormat::Safetensors),
            _ => None,
        }
    }

    /// The format to save `path` in: its extension's, safetensors otherwise.
    ///
    /// ```
    /// use kiln::io::FileFormat;
    /// use std::path::Path;
    /// assert_eq!(FileFormat::for_saving(Path::new("model.pth")), FileFormat::PyTorch);
    /// assert_eq!(FileFormat::for_saving(Path::new("model.ckpt")), FileFormat::Safetensors);
    /// ```
    pub fn for_saving(path: &Path) -> FileFormat {
        Self::from_extension(path).unwrap_or(FileFormat::Safetensors)
    }

    /// The format to load `path` in: its extension's; for other extensions, a zip
    /// archive (or a legacy `torch.save` pickle) is a PyTorch file, anything else
    /// safetensors.
    pub fn for_loading(path: &Path, bytes: &[u8]) -> FileFormat {
        Self::from_extension(path).unwrap_or(
            if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0x80, 0x02, 0x8a]) {
                FileFormat::PyTorch
            } else {
                FileFormat::Safetensors
            },
        )
    }
}
