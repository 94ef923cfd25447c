//! PyTorch's own checkpoint files (`torch.save` / `torch.load`, `.pt` `.pth` `.bin`),
//! read and written without running any code.
//!
//! **Reading** takes the zip format `torch.save` writes by default (PyTorch 1.6 and
//! later) and accepts exactly what `torch.load(path, weights_only=True)` accepts, less
//! what kiln cannot hold: dicts, `OrderedDict`s (state dicts), lists, tuples, ints
//! (64-bit), floats, strings, bytes, `None`, bools, `torch.Size`, `torch.device`,
//! `nn.Parameter`s and tensors (shared storages and strided views with offsets
//! included; every tensor loads contiguous). Any other global (`os.system`,
//! `builtins.eval`, a class of the user's program) is an [`IoError::ForbiddenGlobal`]
//! naming it, raised when the pickle names it, before anything else is read. Allowed but
//! unsupported contents (quantized, sparse or complex tensors, the legacy pre-1.6
//! format, TorchScript archives) are [`IoError::PtUnsupported`]. Dtypes map as
//! [`rebuild`] lists: float16 and bfloat16 widen to f32, the signed integers to i64.
//!
//! Whatever the bytes, reading returns an error rather than panicking, and its memory is
//! bounded by the file: a storage is read only if its record holds exactly the bytes its
//! tensors claim, and the tensors together may hold at most 8 elements per byte of
//! file (so a broadcast view of 10^12 elements in a 1 KB file is refused, not allocated;
//! a deflated record, which PyTorch never writes, may expand up to deflate's 1032:1).
//!
//! **Writing** produces the archive `torch.save` writes (stored records aligned to 64
//! bytes, `byteorder` little, `version` 3) with a protocol-2 pickle; `torch.load(path,
//! weights_only=True)` reads it. kiln's dtypes are written as themselves (f32 as
//! float32, ..., Bool as bool). The bytes depend on the content alone.

mod checkpoint;
mod container;
mod globals;
mod object;
mod pickle;
pub mod rebuild;
mod unpickle;
mod value;

pub use value::PtValue;

use super::atomic::atomic_write;
use super::error::IoError;
use crate::nn::StateDict;
use container::{Archive, ContainerError};
use std::path::Path;
use unpickle::PickleError;

pub(crate) use checkpoint::{checkpoint_from_pt, checkpoint_to_pt};

fn container_err(path: &Path, e: ContainerError) -> IoError {
    match e {
        ContainerError::Format(reason) => IoError::PtFormat {
            path: path.to_path_buf(),
            reason,
        },
        ContainerError::Unsupported(what) => IoError::PtUnsupported {
            path: path.to_path_buf(),
            what,
        },
    }
}

/// Decodes the bytes of a `torch.save` file. `path` only labels errors.
pub fn parse_pt(path: &Path, bytes: &[u8]) -> Result<PtValue, IoError> {
    let format = |reason: String| IoError::PtFormat {
        path: path.to_path_buf(),
        reason,
    };
    let mut archive = Archive::open(bytes).map_err(|e| container_err(path, e))?;
    let pkl = archive.pickle().map_err(|e| container_err(path, e))?;
    let parsed = unpickle::unpickle(&pkl).map_err(|e| match e {
        PickleError::Format(r) => format(format!("data.pkl: {r}")),
        PickleError::Forbidden(global) => IoError::ForbiddenGlobal {
            path: path.to_path_buf(),
            global,
        },
        PickleError::Unsupported(what) => IoError::PtUnsupported {
            path: path.to_path_buf(),
            what,
        },
    })?;
    let big_endian = archive.big_endian;
    let mut load = |key: &str, len: u64| {
        archive
            .storage(key, len)
            .map_err(|e| rebuild::RebuildError::Io(container_err(path, e)))
    };
    let mut r = rebuild::Rebuilder::new(&mut load, big_endian, bytes.len());
    let value = r.value(&parsed.root, 0);
    unpickle::teardown(std::iter::once(parsed.root).chain(parsed.rest));
    value.map_err(|e| match e {
        rebuild::RebuildError::Format(reason) => format(reason),
        rebuild::RebuildError::Io(e) => e,
    })
}

/// Reads a `torch.save` file.
///
/// ```
/// use kiln::io::{PtValue, load_pt, save_pt};
/// use kiln::Tensor;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("ck.pt");
/// let ck = PtValue::Dict(vec![
///     (PtValue::Str("epoch".into()), PtValue::Int(3)),
///     (PtValue::Str("w".into()), PtValue::Tensor(Tensor::from_vec(vec![1.0f32, 2.0], &[2]))),
/// ]);
/// save_pt(&path, &ck).unwrap();
/// let back = load_pt(&path).unwrap();
/// assert_eq!(back.get("epoch").and_then(PtValue::as_int), Some(3));
/// assert_eq!(back.get("w").unwrap().as_tensor().unwrap().to_vec::<f32>(), [1.0, 2.0]);
/// ```
pub fn load_pt(path: &Path) -> Result<PtValue, IoError> {
    let (_, bytes) = crate::io::read_weights_file(path, crate::io::DEFAULT_MAX_FILE_BYTES)?;
    parse_pt(path, &bytes)
}

/// Encodes `value` as the bytes of a `torch.save` file.
pub fn serialize_pt(value: &PtValue) -> Result<Vec<u8>, IoError> {
    let (pkl, storages) = pickle::pickle(value);
    container::write_archive(&pkl, &storages).map_err(|reason| IoError::PtFormat {
        path: "<memory>".into(),
        reason: format!("cannot write the archive: {reason}"),
    })
}

/// Writes `value` as a `torch.save` file, atomically.
pub fn save_pt(path: &Path, value: &PtValue) -> Result<(), IoError> {
    atomic_write(path, &serialize_pt(value)?)
}

/// Reads a state dict (a `dict` or `OrderedDict` of tensors) from a `torch.save` file.
pub fn load_pt_state_dict(path: &Path) -> Result<StateDict, IoError> {
    load_pt(path)?
        .to_state_dict()
        .map_err(|reason| IoError::PtFormat {
            path: path.to_path_buf(),
            reason,
        })
}

/// Writes `state` as `torch.save(model.state_dict(), path)` would: an `OrderedDict` of
/// tensors.
pub fn save_pt_state_dict(path: &Path, state: &StateDict) -> Result<(), IoError> {
    save_pt(path, &PtValue::from_state_dict(state))
}
