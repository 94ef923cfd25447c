//! safetensors, the weight format PyTorch users exchange: named tensors with their
//! dtypes and shapes, little-endian, behind a JSON header. kiln uses PyTorch's key names
//! (`layers.0.weight`), so files move between the two both ways.

use super::atomic::atomic_write;
use super::error::IoError;
use crate::tensor::{DType, Tensor};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::Path;

fn to_st_dtype(d: DType) -> Dtype {
    match d {
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
        DType::I64 => Dtype::I64,
        DType::U8 => Dtype::U8,
        DType::Bool => Dtype::BOOL,
    }
}

pub(crate) fn le_bytes(t: &Tensor) -> Vec<u8> {
    match t.dtype() {
        DType::F32 => t
            .to_vec::<f32>()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        DType::F64 => t
            .to_vec::<f64>()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        DType::I64 => t
            .to_vec::<i64>()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        DType::U8 => t.to_vec::<u8>(),
        DType::Bool => t.to_vec::<bool>().iter().map(|&b| b as u8).collect(),
    }
}

/// Encodes named tensors as safetensors bytes (with optional string metadata).
pub fn serialize_safetensors(
    tensors: &[(String, Tensor)],
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>, IoError> {
    let bytes: Vec<(String, DType, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.dtype(), t.size().to_vec(), le_bytes(t)))
        .collect();
    let mut views = Vec::with_capacity(bytes.len());
    for (name, dtype, shape, data) in &bytes {
        let view = TensorView::new(to_st_dtype(*dtype), shape.clone(), data).map_err(|e| {
            IoError::Format {
                path: name.into(),
                reason: e.to_string(),
            }
        })?;
        views.push((name.clone(), view));
    }
    safetensors::serialize(views, metadata).map_err(|e| IoError::Format {
        path: "".into(),
        reason: e.to_string(),
    })
}

/// Saves named tensors to a safetensors file, atomically (the previous file survives a
/// failed write).
pub fn save_safetensors(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: Option<HashMap<String, String>>,
) -> Result<(), IoError> {
    atomic_write(path, &serialize_safetensors(tensors, metadata)?)
}

fn decode(name: &str, view: &TensorView<'_>) -> Result<Tensor, IoError> {
    let shape = view.shape().to_vec();
    let d = view.data();
    let t = match view.dtype() {
        Dtype::F32 => Tensor::from_vec(
            d.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect::<Vec<_>>(),
            &shape,
        ),
        Dtype::F64 => Tensor::from_vec(
            d.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect::<Vec<_>>(),
            &shape,
        ),
        Dtype::I64 => Tensor::from_vec(
            d.chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect::<Vec<_>>(),
            &shape,
        ),
        Dtype::U8 => Tensor::from_vec(d.to_vec(), &shape),
        Dtype::BOOL => Tensor::from_vec(d.iter().map(|&b| b != 0).collect::<Vec<_>>(), &shape),
        other => {
            return Err(IoError::UnsupportedDtype {
                name: name.into(),
                dtype: format!("{other:?}"),
            });
        }
    };
    Ok(t)
}

/// Decodes safetensors bytes into named tensors, in file order (writers sort by dtype
/// alignment, then name), plus the metadata.
/// `path` only labels errors.
#[allow(clippy::type_complexity)]
pub fn parse_safetensors(
    path: &Path,
    bytes: &[u8],
) -> Result<(Vec<(String, Tensor)>, HashMap<String, String>), IoError> {
    let format = |reason: String| IoError::Format {
        path: path.to_path_buf(),
        reason,
    };
    // The crate validates header size, offsets and lengths against the buffer; guard
    // against any panic on hostile headers all the same (a loader must never crash).
    let parsed = std::panic::catch_unwind(|| {
        let (_, meta) =
            safetensors::SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
        let mut named: Vec<(usize, String, Dtype, Vec<usize>, &[u8])> = Vec::new();
        for (name, view) in st.iter() {
            let start = meta.info(name).map(|i| i.data_offsets.0).unwrap_or(0);
            let data: &[u8] = view.data();
            named.push((
                start,
                name.to_string(),
                view.dtype(),
                view.shape().to_vec(),
                data,
            ));
        }
        named.sort_by_key(|n| n.0);
        Ok((named, meta.metadata().clone().unwrap_or_default()))
    })
    .map_err(|_| format("the header is malformed".into()))?
    .map_err(format)?;
    let (named, metadata) = parsed;
    let mut out = Vec::with_capacity(named.len());
    for (_, name, dtype, shape, data) in named {
        let view = TensorView::new(dtype, shape, data).map_err(|e| IoError::Format {
            path: path.to_path_buf(),
            reason: format!("tensor '{name}': {e}"),
        })?;
        out.push((name.clone(), decode(&name, &view)?));
    }
    Ok((out, metadata))
}

/// Loads every tensor of a safetensors file, in file order. The file is checked from
/// its header first (see [`super::read_safetensors_bytes`]; at most
/// [`super::DEFAULT_MAX_FILE_BYTES`]).
pub fn load_safetensors(path: &Path) -> Result<Vec<(String, Tensor)>, IoError> {
    let bytes = super::read_safetensors_bytes(path, super::DEFAULT_MAX_FILE_BYTES)?;
    Ok(parse_safetensors(path, &bytes)?.0)
}
