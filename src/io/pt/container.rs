//! The zip archive around a `torch.save` file (PyTorch 1.6 and later):
//! `<name>/data.pkl` (the pickle), `<name>/data/<key>` (one record per storage, raw
//! bytes), `<name>/byteorder` (`little` or `big`; absent means little), `<name>/version`.
//!
//! The `zip` crate parses the archive (central directory, zip64); this module picks
//! the records, bounds every read by the archive's own size, and writes archives as
//! PyTorch does: stored (uncompressed) records, storages aligned to 64 bytes (so
//! `torch.load(mmap=True)` can map them), fixed timestamps (kiln's bytes depend on the
//! content alone).

use std::io::{Cursor, Read, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

/// An opened archive.
pub(crate) struct Archive<'a> {
    zip: ZipArchive<Cursor<&'a [u8]>>,
    prefix: String,
    len: u64,
    /// Whether the storages are big-endian.
    pub big_endian: bool,
}

/// Why an archive could not be read, before the path is attached.
#[derive(Debug)]
pub(crate) enum ContainerError {
    Format(String),
    Unsupported(String),
}

/// The start of a legacy (pre-1.6) `torch.save` file: pickle protocol 2, then the
/// magic number 0x1950a86a20f9469cfc6c as a LONG1.
const LEGACY_MAGIC: &[u8] = &[
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
];

impl<'a> Archive<'a> {
    /// Opens `bytes` as a PyTorch archive.
    pub(crate) fn open(bytes: &'a [u8]) -> Result<Archive<'a>, ContainerError> {
        if bytes.starts_with(LEGACY_MAGIC) {
            return Err(ContainerError::Unsupported(
                "the legacy torch.save format (PyTorch before 1.6, or \
                 _use_new_zipfile_serialization=False); load it in PyTorch and save it again \
                 with torch.save(obj, path)"
                    .into(),
            ));
        }
        if !bytes.starts_with(b"PK\x03\x04") {
            return Err(ContainerError::Format(
                "it is not a zip archive (torch.save writes one)".into(),
            ));
        }
        let zip = ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| ContainerError::Format(format!("the zip archive is invalid: {e}")))?;
        // PyTorch names the top folder after the file; data.pkl directly under it
        // marks the archive (TorchScript archives hold constants.pkl and code/ too).
        let mut prefix = None;
        let mut torchscript = false;
        for name in zip.file_names() {
            let name = name.map_err(|e| ContainerError::Format(format!("bad record name: {e}")))?;
            if let Some((dir, file)) = name.split_once('/') {
                if file == "data.pkl" && prefix.is_none() {
                    prefix = Some(dir.to_string());
                }
                if file == "constants.pkl" {
                    torchscript = true;
                }
            }
        }
        if torchscript {
            return Err(ContainerError::Unsupported(
                "a TorchScript archive (torch.jit.save); save the model's state_dict() \
                 with torch.save instead"
                    .into(),
            ));
        }
        let prefix = prefix.ok_or_else(|| {
            ContainerError::Format("the archive has no <name>/data.pkl record".into())
        })?;
        let mut a = Archive {
            zip,
            prefix,
            len: bytes.len() as u64,
            big_endian: false,
        };
        if a.has("byteorder") {
            let order = a.record("byteorder", None)?;
            a.big_endian = match order.as_slice() {
                b"little" => false,
                b"big" => true,
                other => {
                    return Err(ContainerError::Format(format!(
                        "byteorder is {:?}, not 'little' or 'big'",
                        String::from_utf8_lossy(other)
                    )));
                }
            };
        }
        Ok(a)
    }

    fn has(&self, rel: &str) -> bool {
        self.zip
            .index_for_name(&format!("{}/{rel}", self.prefix))
            .is_some()
    }

    /// The pickle.
    pub(crate) fn pickle(&mut self) -> Result<Vec<u8>, ContainerError> {
        self.record("data.pkl", None)
    }

    /// The bytes of storage `key`, which must be exactly `len` bytes long.
    pub(crate) fn storage(&mut self, key: &str, len: u64) -> Result<Vec<u8>, ContainerError> {
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ContainerError::Format(format!(
                "storage key {key:?} is not a name"
            )));
        }
        let rel = format!("data/{key}");
        if !self.has(&rel) {
            return Err(ContainerError::Format(format!(
                "storage '{key}' has no record {}/{rel}",
                self.prefix
            )));
        }
        let b = self.record(&rel, Some(len))?;
        if b.len() as u64 != len {
            return Err(ContainerError::Format(format!(
                "storage '{key}' holds {} bytes, its tensors need {len}",
                b.len()
            )));
        }
        Ok(b)
    }

    /// Reads record `<prefix>/<rel>`: at most `expected` bytes when given (the
    /// record's declared size must be that), and never more than the archive's
    /// compressed bytes could expand to.
    fn record(&mut self, rel: &str, expected: Option<u64>) -> Result<Vec<u8>, ContainerError> {
        let name = format!("{}/{rel}", self.prefix);
        let mut f = self
            .zip
            .by_name(&name)
            .map_err(|e| ContainerError::Format(format!("record {name}: {e}")))?;
        let declared = f.size();
        if let Some(len) = expected
            && declared != len
        {
            return Err(ContainerError::Format(format!(
                "record {name} holds {declared} bytes, {len} expected"
            )));
        }
        // Deflate expands at most 1032 times; stored records not at all. The declared
        // compressed size may lie too: the archive's length bounds it.
        let packed = f.compressed_size().min(self.len);
        let bound = match f.compression() {
            CompressionMethod::Stored => packed,
            CompressionMethod::Deflated => packed.saturating_mul(1032),
            other => {
                return Err(ContainerError::Unsupported(format!(
                    "record {name} compressed with {other:?}"
                )));
            }
        };
        if declared > bound {
            return Err(ContainerError::Format(format!(
                "record {name} claims {declared} bytes, more than its data can hold"
            )));
        }
        let mut out = Vec::with_capacity(declared.min(self.len) as usize);
        (&mut f)
            .take(declared)
            .read_to_end(&mut out)
            .map_err(|e| ContainerError::Format(format!("record {name}: {e}")))?;
        if out.len() as u64 != declared {
            return Err(ContainerError::Format(format!(
                "record {name} is truncated ({} of {declared} bytes)",
                out.len()
            )));
        }
        Ok(out)
    }
}

/// Writes an archive as `torch.save` lays one out, under the folder `archive`.
pub(crate) fn write_archive(
    pickle: &[u8],
    storages: &[(String, Vec<u8>)],
) -> Result<Vec<u8>, String> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(DateTime::default())
        .with_alignment(64)
        .large_file(false);
    let mut put = |name: &str, data: &[u8]| -> Result<(), String> {
        let big = data.len() as u64 >= u32::MAX as u64;
        w.start_file(format!("archive/{name}"), opts.large_file(big))
            .map_err(|e| e.to_string())?;
        w.write_all(data).map_err(|e| e.to_string())
    };
    put("data.pkl", pickle)?;
    put(".format_version", b"1")?;
    put(".storage_alignment", b"64")?;
    put("byteorder", b"little")?;
    for (key, data) in storages {
        put(&format!("data/{key}"), data)?;
    }
    put("version", b"3\n")?;
    Ok(w.finish().map_err(|e| e.to_string())?.into_inner())
}
