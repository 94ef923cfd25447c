//! Reader and writer for the IDX file format used by MNIST and Fashion-MNIST.
//!
//! An IDX file is a 4-byte magic number — two zero bytes, an element-type byte
//! and a dimension-count byte — followed by one big-endian `u32` per
//! dimension and then the elements in row-major order, big-endian.
//!
//! The reader is meant to be safe on hostile input: it never panics, checks
//! every size with checked arithmetic, refuses payloads over
//! [`MAX_PAYLOAD_BYTES`], rejects truncated input *and* trailing bytes, and
//! never allocates more than the input itself can justify.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::error::DataError;

/// Largest payload (bytes after the header) the reader will accept: 2 GiB.
pub const MAX_PAYLOAD_BYTES: u64 = 2 << 30;

/// The two bytes every gzip stream starts with.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Upper bound on the deflate compression ratio (about 1032:1), used to cap
/// how much memory a compressed file of a given size may make us reserve.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// The element type of an IDX file, as coded by its third header byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdxType {
    /// `0x08`: unsigned byte.
    U8,
    /// `0x09`: signed byte.
    I8,
    /// `0x0B`: big-endian signed 16-bit integer.
    I16,
    /// `0x0C`: big-endian signed 32-bit integer.
    I32,
    /// `0x0D`: big-endian IEEE 754 single-precision float.
    F32,
    /// `0x0E`: big-endian IEEE 754 double-precision float.
    F64,
}

impl IdxType {
    /// Decodes a header type byte.
    pub fn from_code(code: u8) -> Result<IdxType, DataError> {
        Ok(match code {
            0x08 => IdxType::U8,
            0x09 => IdxType::I8,
            0x0B => IdxType::I16,
            0x0C => IdxType::I32,
            0x0D => IdxType::F32,
            0x0E => IdxType::F64,
            code => return Err(DataError::UnknownType { code }),
        })
    }

    /// The header type byte for this element type.
    pub fn code(self) -> u8 {
        match self {
            IdxType::U8 => 0x08,
            IdxType::I8 => 0x09,
            IdxType::I16 => 0x0B,
            IdxType::I32 => 0x0C,
            IdxType::F32 => 0x0D,
            IdxType::F64 => 0x0E,
        }
    }

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            IdxType::U8 | IdxType::I8 => 1,
            IdxType::I16 => 2,
            IdxType::I32 | IdxType::F32 => 4,
            IdxType::F64 => 8,
        }
    }
}

/// The elements of an IDX array, converted to native endianness.
#[derive(Clone, Debug, PartialEq)]
pub enum IdxData {
    /// Unsigned bytes (type `0x08`), e.g. MNIST pixels and labels.
    U8(Vec<u8>),
    /// Signed bytes (type `0x09`).
    I8(Vec<i8>),
    /// 16-bit signed integers (type `0x0B`).
    I16(Vec<i16>),
    /// 32-bit signed integers (type `0x0C`).
    I32(Vec<i32>),
    /// 32-bit floats (type `0x0D`).
    F32(Vec<f32>),
    /// 64-bit floats (type `0x0E`).
    F64(Vec<f64>),
}

impl IdxData {
    /// The element type of this data.
    pub fn idx_type(&self) -> IdxType {
        match self {
            IdxData::U8(_) => IdxType::U8,
            IdxData::I8(_) => IdxType::I8,
            IdxData::I16(_) => IdxType::I16,
            IdxData::I32(_) => IdxType::I32,
            IdxData::F32(_) => IdxType::F32,
            IdxData::F64(_) => IdxType::F64,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            IdxData::U8(v) => v.len(),
            IdxData::I8(v) => v.len(),
            IdxData::I16(v) => v.len(),
            IdxData::I32(v) => v.len(),
            IdxData::F32(v) => v.len(),
            IdxData::F64(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A decoded IDX file: its shape and its elements in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    /// The dimensions from the header, outermost first.
    pub dims: Vec<usize>,
    /// The elements; `data.len()` is always the product of `dims`.
    pub data: IdxData,
}

impl IdxArray {
    /// The elements as bytes if the element type is `u8`, else `None`.
    pub fn as_u8(&self) -> Option<&[u8]> {
        match &self.data {
            IdxData::U8(v) => Some(v),
            _ => None,
        }
    }

    /// Consumes the array and returns its `u8` elements, or `None` for other types.
    pub fn into_u8(self) -> Option<Vec<u8>> {
        match self.data {
            IdxData::U8(v) => Some(v),
            _ => None,
        }
    }
}

/// What the fixed part of a header says.
struct Header {
    ty: IdxType,
    dims: Vec<usize>,
    payload: usize,
}

/// Checks the 4-byte magic and returns the element type and dimension count.
fn parse_magic(m: [u8; 4]) -> Result<(IdxType, usize), DataError> {
    if m[0] != 0 || m[1] != 0 {
        return Err(DataError::BadMagic {
            found: [m[0], m[1]],
        });
    }
    let ty = IdxType::from_code(m[2])?;
    if m[3] == 0 {
        return Err(DataError::NoDimensions);
    }
    Ok((ty, usize::from(m[3])))
}

/// Decodes the dimension words and computes the payload size with checked arithmetic.
fn parse_dims(ty: IdxType, raw: &[u8]) -> Result<Header, DataError> {
    let dims64: Vec<u64> = raw
        .chunks_exact(4)
        .map(|c| u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    let overflow = || DataError::DimensionOverflow {
        dims: dims64.clone(),
    };
    let count = dims64
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(overflow)?;
    let bytes = count.checked_mul(ty.size() as u64).ok_or_else(overflow)?;
    if bytes > MAX_PAYLOAD_BYTES {
        return Err(DataError::TooLarge {
            bytes,
            limit: MAX_PAYLOAD_BYTES,
        });
    }
    let payload = usize::try_from(bytes).map_err(|_| overflow())?;
    let dims = dims64
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| overflow()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Header { ty, dims, payload })
}

/// Converts a payload of exactly `ty.size() * n` big-endian bytes to elements.
fn decode(ty: IdxType, bytes: Vec<u8>) -> IdxData {
    fn be<const N: usize, T>(b: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
        b.chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                f(a)
            })
            .collect()
    }
    match ty {
        IdxType::U8 => IdxData::U8(bytes),
        IdxType::I8 => IdxData::I8(bytes.into_iter().map(|b| b as i8).collect()),
        IdxType::I16 => IdxData::I16(be(&bytes, i16::from_be_bytes)),
        IdxType::I32 => IdxData::I32(be(&bytes, i32::from_be_bytes)),
        IdxType::F32 => IdxData::F32(be(&bytes, f32::from_be_bytes)),
        IdxType::F64 => IdxData::F64(be(&bytes, f64::from_be_bytes)),
    }
}

/// Parses a complete, uncompressed IDX file held in memory.
///
/// Fails with a typed [`DataError`] — never panics — on a bad magic number,
/// an unknown type byte, zero dimensions, a dimension product that overflows
/// or exceeds [`MAX_PAYLOAD_BYTES`], input that is too short
/// ([`DataError::Truncated`]) or too long ([`DataError::TrailingBytes`]).
/// Gzip-compressed input is not accepted here; use [`read_idx`] for files.
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray, DataError> {
    let got = bytes.len() as u64;
    let magic: [u8; 4] = match bytes.get(..4) {
        Some(m) => [m[0], m[1], m[2], m[3]],
        None => return Err(DataError::Truncated { expected: 4, got }),
    };
    let (ty, ndim) = parse_magic(magic)?;
    let header_len = 4 + 4 * ndim;
    let raw_dims = bytes.get(4..header_len).ok_or(DataError::Truncated {
        expected: header_len as u64,
        got,
    })?;
    let header = parse_dims(ty, raw_dims)?;
    let expected = (header_len as u64) + header.payload as u64;
    let body = &bytes[header_len..];
    if body.len() < header.payload {
        return Err(DataError::Truncated { expected, got });
    }
    if body.len() > header.payload {
        return Err(DataError::TrailingBytes { expected, got });
    }
    Ok(IdxArray {
        dims: header.dims,
        data: decode(header.ty, body.to_vec()),
    })
}

/// Reads into `buf` until it is full or the input ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads an IDX file from disk, gunzipping it first if it starts with the gzip magic.
///
/// Compression is detected from the content (bytes `1f 8b`), not from the
/// file name. The header is read and validated before any payload memory is
/// reserved; the payload is then read through a limit of exactly one byte
/// more than the header declares, so a decompression bomb or a lying header
/// cannot make the reader allocate more than the input justifies. Besides the
/// errors of [`parse_idx`] this can return [`DataError::Io`] and
/// [`DataError::CorruptGzip`]; format errors are wrapped in
/// [`DataError::InFile`] naming the path (see [`DataError::innermost`]).
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    read_idx_prefix(path, usize::MAX).map(|(a, _)| a)
}

/// Like [`read_idx`], but reads only the first `max_items` entries along the first
/// dimension (all of them if the file has fewer), so a file whose header declares
/// millions of images costs only what is asked for. Returns the array (its first
/// dimension cut to what was read) and the count the header declares. The rest of a
/// gzip stream is still decompressed (into no memory) so that its checksum and length
/// are checked; an uncompressed file's size is checked against the header.
/// `max_items == 0` reads the header alone and checks nothing past it.
pub fn read_idx_prefix(path: &Path, max_items: usize) -> Result<(IdxArray, usize), DataError> {
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    if !meta.is_file() {
        return Err(DataError::NotAFile {
            path: path.to_path_buf(),
            kind: super::error::file_kind(&meta),
        });
    }
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let file_len = meta.len();
    let mut file = BufReader::new(file);
    let mut first = [0u8; 2];
    let n = read_full(&mut file, &mut first).map_err(|e| DataError::io(path, e))?;
    let prefix = io::Cursor::new(first[..n].to_vec());
    let gzip = n == 2 && first == GZIP_MAGIC;
    let (reader, hint): (Box<dyn Read>, u64) = if gzip {
        let dec = MultiGzDecoder::new(prefix.chain(file));
        (Box::new(dec), file_len.saturating_mul(MAX_DEFLATE_RATIO))
    } else {
        (Box::new(prefix.chain(file)), file_len)
    };
    read_stream(reader, hint, gzip, path, max_items).map_err(|e| e.in_file(path))
}

fn read_stream(
    mut r: Box<dyn Read>,
    size_hint: u64,
    gzip: bool,
    path: &Path,
    max_items: usize,
) -> Result<(IdxArray, usize), DataError> {
    let map_io = |e: io::Error| {
        let corrupt = matches!(
            e.kind(),
            io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
        );
        if gzip && corrupt {
            DataError::CorruptGzip {
                path: path.to_path_buf(),
                source: e,
            }
        } else {
            DataError::io(path, e)
        }
    };
    let mut magic = [0u8; 4];
    let n = read_full(&mut r, &mut magic).map_err(map_io)?;
    if n < 4 {
        return Err(DataError::Truncated {
            expected: 4,
            got: n as u64,
        });
    }
    let (ty, ndim) = parse_magic(magic)?;
    let mut raw_dims = vec![0u8; 4 * ndim];
    let n = read_full(&mut r, &mut raw_dims).map_err(map_io)?;
    let header_len = (4 + 4 * ndim) as u64;
    if n < raw_dims.len() {
        return Err(DataError::Truncated {
            expected: header_len,
            got: 4 + n as u64,
        });
    }
    let mut header = parse_dims(ty, &raw_dims)?;
    let declared = header.dims[0];
    let declared_payload = header.payload as u64;
    if max_items == 0 {
        // The header alone: what the file declares, nothing read or checked past it.
        header.dims[0] = 0;
        return Ok((
            IdxArray {
                dims: header.dims,
                data: decode(header.ty, Vec::new()),
            },
            declared,
        ));
    }
    let whole = max_items >= declared;
    if !whole {
        let per_item = header.payload / declared.max(1);
        header.dims[0] = max_items;
        header.payload = per_item * max_items;
    }
    let payload = header.payload as u64;
    let reserve = payload.min(size_hint.saturating_sub(header_len));
    let mut body = Vec::with_capacity(usize::try_from(reserve).unwrap_or(0));
    let limit = if whole { payload + 1 } else { payload };
    (&mut r)
        .take(limit)
        .read_to_end(&mut body)
        .map_err(map_io)?;
    let got = header_len + body.len() as u64;
    let expected = header_len + payload;
    if got < expected {
        return Err(DataError::Truncated { expected, got });
    }
    if got > expected {
        if gzip {
            // A damaged stream is reported as such, not as the bytes it seems to add.
            drain(&mut r, MAX_PAYLOAD_BYTES).map_err(map_io)?;
        }
        return Err(DataError::TrailingBytes { expected, got });
    }
    let full = header_len + declared_payload;
    if gzip {
        // Stream the rest (into no memory) to its end, so the gzip trailer (CRC and
        // length) is checked and a lying count is found even when only a prefix is kept.
        let rest = declared_payload - payload;
        let n = drain(&mut r, rest + 1).map_err(map_io)?;
        if n < rest {
            return Err(DataError::Truncated {
                expected: full,
                got: expected + n,
            });
        }
        if n > rest {
            return Err(DataError::TrailingBytes {
                expected: full,
                got: expected + n,
            });
        }
    } else if !whole && size_hint != full {
        // Uncompressed: the file's size tells without reading the rest.
        return Err(if size_hint < full {
            DataError::Truncated {
                expected: full,
                got: size_hint,
            }
        } else {
            DataError::TrailingBytes {
                expected: full,
                got: size_hint,
            }
        });
    }
    Ok((
        IdxArray {
            dims: header.dims,
            data: decode(header.ty, body),
        },
        declared,
    ))
}

/// Reads and discards up to `limit` bytes of `r`; returns how many there were.
fn drain(r: &mut impl Read, limit: u64) -> io::Result<u64> {
    io::copy(&mut r.take(limit), &mut io::sink())
}

/// Encodes `u8` elements with the given dimensions as an uncompressed IDX file in memory.
///
/// Fails if there are no or more than 255 dimensions, a dimension exceeds
/// `u32::MAX`, or `data.len()` is not the product of `dims`.
pub fn encode_idx_u8(dims: &[usize], data: &[u8]) -> Result<Vec<u8>, DataError> {
    if dims.is_empty() {
        return Err(DataError::NoDimensions);
    }
    let ndim =
        u8::try_from(dims.len()).map_err(|_| DataError::TooManyDimensions { ndim: dims.len() })?;
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| DataError::DimensionOverflow {
            dims: dims.iter().map(|&d| d as u64).collect(),
        })?;
    if count != data.len() {
        return Err(DataError::DimensionMismatch {
            expected: count,
            got: data.len(),
        });
    }
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend_from_slice(&[0, 0, IdxType::U8.code(), ndim]);
    for &d in dims {
        let d32 = u32::try_from(d).map_err(|_| DataError::DimensionTooLarge { dim: d })?;
        out.extend_from_slice(&d32.to_be_bytes());
    }
    out.extend_from_slice(data);
    Ok(out)
}

/// Writes `u8` elements as an uncompressed IDX file at `path` (for tests and tools).
///
/// Validates like [`encode_idx_u8`]; the file is created or truncated.
pub fn write_idx_u8(path: &Path, dims: &[usize], data: &[u8]) -> Result<(), DataError> {
    let bytes = encode_idx_u8(dims, data)?;
    let mut f = File::create(path).map_err(|e| DataError::io(path, e))?;
    f.write_all(&bytes).map_err(|e| DataError::io(path, e))?;
    f.flush().map_err(|e| DataError::io(path, e))
}
