//! Reading a safetensors file without trusting it: only regular files, no more bytes
//! than a stated limit, and the header checked against the file's real size before a
//! byte of the body is read, so a lying header, a huge sparse file, `/dev/zero` or a
//! FIFO is refused at once instead of filling memory (or blocking).

use super::error::IoError;
use super::format::FileFormat;
pub use crate::data::error::file_kind;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Default cap on the size of a weights or checkpoint file: 16 GiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 16 << 30;

/// Largest JSON header accepted (the `safetensors` crate's own limit: 100 MB).
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Opens `path` for reading if it is a regular file (symlinks followed) and returns it
/// with its length. Directories, FIFOs, sockets and devices give [`IoError::NotAFile`]
/// without being opened (opening a FIFO would block).
pub fn open_regular(path: &Path) -> Result<(File, u64), IoError> {
    let meta = std::fs::metadata(path).map_err(|e| IoError::io(path, e))?;
    if !meta.is_file() {
        return Err(IoError::NotAFile {
            path: path.to_path_buf(),
            kind: file_kind(&meta),
        });
    }
    let file = File::open(path).map_err(|e| IoError::io(path, e))?;
    Ok((file, meta.len()))
}

/// Bytes per element of a safetensors dtype name, `None` for names the format lacks.
fn dtype_size(d: &str) -> Option<u64> {
    Some(match d {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => 1,
        "I16" | "U16" | "F16" | "BF16" => 2,
        "I32" | "U32" | "F32" => 4,
        "I64" | "U64" | "F64" => 8,
        _ => return None,
    })
}

/// The dtypes kiln holds.
const KILN_DTYPES: [&str; 5] = ["F32", "F64", "I64", "U8", "BOOL"];

/// Checks a safetensors JSON header against the `body` bytes that follow it: every
/// tensor's dtype is one kiln holds, its shape's byte size equals its `data_offsets`
/// span, and the spans end exactly at the end of the file. Errors name the tensor.
fn check_header(path: &Path, header: &[u8], body: u64) -> Result<(), IoError> {
    let format = |reason: String| IoError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(header)
        .map_err(|e| format(format!("its header is not a JSON object ({e})")))?;
    let mut end = 0u64;
    for (name, info) in &map {
        if name == "__metadata__" {
            continue;
        }
        let bad = |what: &str| format(format!("tensor '{name}': {what}"));
        let dtype = info
            .get("dtype")
            .and_then(|d| d.as_str())
            .ok_or_else(|| bad("no dtype"))?;
        let size = dtype_size(dtype).ok_or_else(|| bad(&format!("unknown dtype '{dtype}'")))?;
        if !KILN_DTYPES.contains(&dtype) {
            return Err(bad(&format!(
                "dtype {dtype}, which kiln cannot load (it holds F32, F64, I64, U8, BOOL)"
            )));
        }
        let shape: Vec<u64> = info
            .get("shape")
            .and_then(|s| s.as_array())
            .and_then(|a| a.iter().map(|d| d.as_u64()).collect())
            .ok_or_else(|| bad("its shape is not a list of sizes"))?;
        let offsets: Vec<u64> = info
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .and_then(|a| a.iter().map(|d| d.as_u64()).collect())
            .filter(|o: &Vec<u64>| o.len() == 2 && o[0] <= o[1])
            .ok_or_else(|| bad("its data_offsets are not [start, end]"))?;
        let need = shape
            .iter()
            .try_fold(size, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| bad(&format!("shape {shape:?} is too large")))?;
        if offsets[1] - offsets[0] != need {
            return Err(bad(&format!(
                "{dtype} {shape:?} needs {need} bytes but its data_offsets span {}",
                offsets[1] - offsets[0]
            )));
        }
        if offsets[1] > body {
            return Err(bad(&format!(
                "its data ends at byte {} but the file holds {body} bytes of tensor data",
                offsets[1]
            )));
        }
        end = end.max(offsets[1]);
    }
    if end != body {
        return Err(format(format!(
            "the header describes {end} bytes of tensor data but the file holds {body}"
        )));
    }
    Ok(())
}

/// Reads a safetensors file whole after checking, from its first bytes only, that it is
/// a regular file of at most `max_bytes` bytes whose header fits it exactly (see
/// [`open_regular`]). The result is what [`super::parse_safetensors`] takes. Errors name
/// the file, the limit, or the tensor at fault.
pub fn read_safetensors_bytes(path: &Path, max_bytes: u64) -> Result<Vec<u8>, IoError> {
    let (mut file, len) = open_regular(path)?;
    if len > max_bytes {
        return Err(IoError::TooLarge {
            path: path.to_path_buf(),
            bytes: len,
            limit: max_bytes,
        });
    }
    let format = |reason: String| IoError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let mut head = [0u8; 8];
    file.read_exact(&mut head)
        .map_err(|_| format(format!("it is {len} bytes, too short for a header")))?;
    let n = u64::from_le_bytes(head);
    if n > MAX_HEADER_BYTES || n > len - 8 {
        return Err(format(format!(
            "its header claims {n} bytes but the file holds {} after the length",
            len - 8
        )));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header)
        .map_err(|e| IoError::io(path, e))?;
    check_header(path, &header, len - 8 - n)?;
    let mut bytes = Vec::with_capacity(len as usize);
    bytes.extend_from_slice(&head);
    bytes.extend_from_slice(&header);
    // One byte of slack notices a file that grew since its size was read.
    (&mut file)
        .take(len - 8 - n + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| IoError::io(path, e))?;
    if bytes.len() as u64 != len {
        return Err(format("the file changed while it was read".into()));
    }
    Ok(bytes)
}

/// Reads a weights or checkpoint file in either format kiln loads, choosing it as
/// [`FileFormat::for_loading`] does, with the same guards as [`read_safetensors_bytes`]:
/// only a regular file of at most `max_bytes` bytes is read. A safetensors file is
/// checked from its header first; a PyTorch archive is read whole (its reader then
/// bounds every allocation by the bytes it holds).
pub fn read_weights_file(path: &Path, max_bytes: u64) -> Result<(FileFormat, Vec<u8>), IoError> {
    let (mut file, len) = open_regular(path)?;
    if len > max_bytes {
        return Err(IoError::TooLarge {
            path: path.to_path_buf(),
            bytes: len,
            limit: max_bytes,
        });
    }
    let mut magic = Vec::with_capacity(8);
    (&mut file)
        .take(8)
        .read_to_end(&mut magic)
        .map_err(|e| IoError::io(path, e))?;
    match FileFormat::for_loading(path, &magic) {
        FileFormat::Safetensors => Ok((
            FileFormat::Safetensors,
            read_safetensors_bytes(path, max_bytes)?,
        )),
        FileFormat::PyTorch => {
            let mut bytes = Vec::with_capacity(len as usize);
            bytes.extend_from_slice(&magic);
            (&mut file)
                .take(len.saturating_sub(magic.len() as u64) + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| IoError::io(path, e))?;
            if bytes.len() as u64 != len {
                return Err(IoError::Format {
                    path: path.to_path_buf(),
                    reason: "the file changed while it was read".into(),
                });
            }
            Ok((FileFormat::PyTorch, bytes))
        }
    }
}
