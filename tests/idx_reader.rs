//! Tests for the IDX reader: real MNIST files, round trips, hostile input.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use kiln::data::DataError;
use kiln::data::idx::{
    IdxData, IdxType, MAX_PAYLOAD_BYTES, encode_idx_u8, parse_idx, read_idx, write_idx_u8,
};
use proptest::prelude::*;

fn mnist(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/mnist")
        .join(name)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A small valid file: 2x3 u8.
fn small() -> Vec<u8> {
    encode_idx_u8(&[2, 3], &[1, 2, 3, 4, 5, 6]).unwrap()
}

fn write_tmp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn real_mnist_labels() {
    let train = read_idx(&mnist("train-labels-idx1-ubyte.gz")).unwrap();
    assert_eq!(train.dims, vec![60000]);
    let labels = train.as_u8().unwrap();
    assert_eq!(&labels[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert!(labels.iter().all(|&l| l < 10));
    let test = read_idx(&mnist("t10k-labels-idx1-ubyte.gz")).unwrap();
    assert_eq!(test.dims, vec![10000]);
    assert_eq!(&test.as_u8().unwrap()[..5], &[7, 2, 1, 0, 4]);
}

#[test]
fn real_mnist_images() {
    let train = read_idx(&mnist("train-images-idx3-ubyte.gz")).unwrap();
    assert_eq!(train.dims, vec![60000, 28, 28]);
    assert_eq!(train.data.len(), 60000 * 28 * 28);
    assert_eq!(train.data.idx_type(), IdxType::U8);
    let test = read_idx(&mnist("t10k-images-idx3-ubyte.gz")).unwrap();
    assert_eq!(test.dims, vec![10000, 28, 28]);
    let px = test.into_u8().unwrap();
    assert_eq!(px.len(), 10000 * 784);
    // Images have black borders and some full-intensity pixels.
    assert_eq!(px[0], 0);
    assert_eq!(px.iter().copied().max(), Some(255));
}

#[test]
fn round_trip_raw_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let dims = [3, 4, 5];
    let data: Vec<u8> = (0..60).map(|i| (i * 7) as u8).collect();
    let raw = dir.path().join("a.idx");
    write_idx_u8(&raw, &dims, &data).unwrap();
    let a = read_idx(&raw).unwrap();
    assert_eq!(a.dims, dims);
    assert_eq!(a.as_u8().unwrap(), &data[..]);
    assert_eq!(parse_idx(&std::fs::read(&raw).unwrap()).unwrap(), a);
    // Gzip is detected by content, whatever the extension says.
    let gz = write_tmp(&dir, "b.idx", &gzip(&std::fs::read(&raw).unwrap()));
    assert_eq!(read_idx(&gz).unwrap(), a);
    // Concatenated gzip members are one stream.
    let bytes = std::fs::read(&raw).unwrap();
    let mut multi = gzip(&bytes[..7]);
    multi.extend(gzip(&bytes[7..]));
    assert_eq!(read_idx(&write_tmp(&dir, "c.gz", &multi)).unwrap(), a);
    // Zero-sized dimensions are allowed.
    let empty = parse_idx(&encode_idx_u8(&[0, 28], &[]).unwrap()).unwrap();
    assert_eq!((empty.dims, empty.data.len()), (vec![0, 28], 0));
}

fn with_header(code: u8, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, code, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

#[test]
fn other_element_types_are_big_endian() {
    let a = parse_idx(&with_header(0x09, &[2], &[0xff, 0x7f])).unwrap();
    assert_eq!(a.data, IdxData::I8(vec![-1, 127]));
    let a = parse_idx(&with_header(0x0B, &[2], &[0x01, 0x02, 0xff, 0xfe])).unwrap();
    assert_eq!(a.data, IdxData::I16(vec![0x0102, -2]));
    let a = parse_idx(&with_header(0x0C, &[1], &(-5i32).to_be_bytes())).unwrap();
    assert_eq!(a.data, IdxData::I32(vec![-5]));
    let a = parse_idx(&with_header(0x0D, &[1, 1], &1.5f32.to_be_bytes())).unwrap();
    assert_eq!(a.data, IdxData::F32(vec![1.5]));
    let a = parse_idx(&with_header(0x0E, &[1], &(-0.25f64).to_be_bytes())).unwrap();
    assert_eq!(a.data, IdxData::F64(vec![-0.25]));
    assert!(a.as_u8().is_none());
    // Payload length must be a whole number of elements.
    let e = parse_idx(&with_header(0x0B, &[2], &[0, 1, 2])).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::Truncated {
                expected: 12,
                got: 11
            }
        ),
        "{e}"
    );
}

#[test]
fn hostile_headers() {
    let e = parse_idx(&[1, 0, 8, 1, 0, 0, 0, 0]).unwrap_err();
    assert!(matches!(e, DataError::BadMagic { found: [1, 0] }), "{e}");
    let e = parse_idx(&[0x1f, 0x8b, 8, 0]).unwrap_err();
    assert!(matches!(e, DataError::BadMagic { .. }), "{e}");
    let e = parse_idx(&with_header(0x0A, &[1], &[0])).unwrap_err();
    assert!(matches!(e, DataError::UnknownType { code: 0x0A }), "{e}");
    let e = parse_idx(&with_header(0x08, &[], &[])).unwrap_err();
    assert!(matches!(e, DataError::NoDimensions), "{e}");
    // 4 GiB of u8: representable, but over the limit.
    let e = parse_idx(&with_header(0x08, &[u32::MAX], &[1, 2, 3])).unwrap_err();
    assert!(
        matches!(e, DataError::TooLarge { bytes, limit } if bytes == u64::from(u32::MAX) && limit == MAX_PAYLOAD_BYTES),
        "{e}"
    );
    // Dimension product overflows u64.
    let e = parse_idx(&with_header(0x08, &[u32::MAX; 3], &[])).unwrap_err();
    assert!(
        matches!(e, DataError::DimensionOverflow { ref dims } if dims.len() == 3),
        "{e}"
    );
    // Product fits, product times element size does not.
    let e = parse_idx(&with_header(0x0E, &[u32::MAX, u32::MAX], &[])).unwrap_err();
    assert!(matches!(e, DataError::DimensionOverflow { .. }), "{e}");
    // Header promising 255 dimensions but ending early.
    let mut h = vec![0, 0, 8, 255];
    h.extend_from_slice(&[0, 0, 0, 1]);
    let e = parse_idx(&h).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::Truncated {
                expected: 1024,
                got: 8
            }
        ),
        "{e}"
    );
    // Zero in one dimension makes the others irrelevant, even huge ones.
    let a = parse_idx(&with_header(0x08, &[0, u32::MAX, u32::MAX], &[])).unwrap();
    assert!(a.data.is_empty());
}

#[test]
fn truncated_at_every_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let full = small();
    assert_eq!(full.len(), 18);
    for k in 0..full.len() {
        let e = parse_idx(&full[..k]).unwrap_err();
        let got = k as u64;
        assert!(
            matches!(e, DataError::Truncated { got: g, .. } if g == got),
            "prefix {k}: {e}"
        );
        let p = write_tmp(&dir, "t.idx", &full[..k]);
        let e = read_idx(&p).unwrap_err();
        assert!(
            matches!(e.innermost(), DataError::Truncated { got: g, .. } if *g == got),
            "{e}"
        );
        assert!(e.to_string().contains("t.idx"), "{e}");
        let p = write_tmp(&dir, "t.gz", &gzip(&full[..k]));
        let e = read_idx(&p).unwrap_err();
        assert!(matches!(e.innermost(), DataError::Truncated { .. }), "{e}");
    }
    // Prefixes of the compressed bytes: a cut gzip stream is an error too.
    let gz = gzip(&full);
    for k in 0..gz.len() {
        let e = read_idx(&write_tmp(&dir, "cut.gz", &gz[..k])).unwrap_err();
        assert!(
            matches!(
                e.innermost(),
                DataError::CorruptGzip { .. } | DataError::Truncated { .. }
            ),
            "gzip prefix {k}: {e}"
        );
    }
}

#[test]
fn trailing_bytes_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut long = small();
    long.push(0);
    let e = parse_idx(&long).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::TrailingBytes {
                expected: 18,
                got: 19
            }
        ),
        "{e}"
    );
    for bytes in [long.clone(), gzip(&long)] {
        let e = read_idx(&write_tmp(&dir, "long", &bytes)).unwrap_err();
        assert!(
            matches!(e.innermost(), DataError::TrailingBytes { expected: 18, .. }),
            "{e}"
        );
    }
}

#[test]
fn corrupt_gzip_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let gz = gzip(&small());
    let n = gz.len();
    // Bad CRC in the trailer.
    let mut bad_crc = gz.clone();
    bad_crc[n - 8] ^= 0xff;
    // Bad compression method in the header.
    let mut bad_method = gz.clone();
    bad_method[2] = 7;
    // Garbage deflate data.
    let mut garbage = gz[..10].to_vec();
    garbage.extend_from_slice(&[0xff; 40]);
    // Wrong length in the trailer.
    let mut bad_len = gz.clone();
    bad_len[n - 4] ^= 1;
    for (i, bytes) in [bad_crc, bad_method, garbage, bad_len].iter().enumerate() {
        let e = read_idx(&write_tmp(&dir, "bad.gz", bytes)).unwrap_err();
        assert!(matches!(e, DataError::CorruptGzip { .. }), "case {i}: {e}");
    }
    let e = read_idx(&dir.path().join("missing")).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }), "{e}");
}

#[test]
fn gzip_header_claiming_huge_payload_is_cheap() {
    // Claims just under 2 GiB but holds 4 bytes: must fail fast as truncated.
    let dir = tempfile::tempdir().unwrap();
    let lie = with_header(0x08, &[(MAX_PAYLOAD_BYTES - 1) as u32], &[1, 2, 3, 4]);
    let e = read_idx(&write_tmp(&dir, "lie.gz", &gzip(&lie))).unwrap_err();
    assert!(
        matches!(e.innermost(), DataError::Truncated { got: 12, .. }),
        "{e}"
    );
}

#[test]
fn encode_validates() {
    let e = encode_idx_u8(&[2, 2], &[1, 2, 3]).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::DimensionMismatch {
                expected: 4,
                got: 3
            }
        ),
        "{e}"
    );
    let e = encode_idx_u8(&[], &[]).unwrap_err();
    assert!(matches!(e, DataError::NoDimensions), "{e}");
    let e = encode_idx_u8(&[1; 256], &[0]).unwrap_err();
    assert!(
        matches!(e, DataError::TooManyDimensions { ndim: 256 }),
        "{e}"
    );
    let e = encode_idx_u8(&[usize::MAX, 2], &[]).unwrap_err();
    assert!(matches!(e, DataError::DimensionOverflow { .. }), "{e}");
    let e = encode_idx_u8(&[1 << 33, 0], &[]).unwrap_err();
    assert!(
        matches!(e, DataError::DimensionTooLarge { dim } if dim == 1 << 33),
        "{e}"
    );
}

fn check_invariants(bytes: &[u8]) {
    if let Ok(a) = parse_idx(bytes) {
        let n: usize = a.dims.iter().product();
        assert_eq!(a.data.len(), n);
        let header = 4 + 4 * a.dims.len();
        assert_eq!(bytes.len(), header + n * a.data.idx_type().size());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        check_invariants(&bytes);
    }

    #[test]
    fn random_header_then_bytes_never_panic(
        code in prop_oneof![Just(8u8), Just(9), Just(0x0B), Just(0x0C), Just(0x0D), Just(0x0E), any::<u8>()],
        dims in proptest::collection::vec(prop_oneof![0u32..4, any::<u32>()], 0..4),
        tail in proptest::collection::vec(any::<u8>(), 0..48),
    ) {
        check_invariants(&with_header(code, &dims, &tail));
    }

    #[test]
    fn mutations_of_valid_file_never_panic(
        edits in proptest::collection::vec((0usize..64, any::<u8>(), 0u8..3), 1..4),
        cut in 0usize..64,
    ) {
        let mut bytes = encode_idx_u8(&[2, 2, 3], &[9; 12]).unwrap();
        for (pos, val, kind) in edits {
            let pos = pos % (bytes.len() + 1);
            match kind {
                0 if pos < bytes.len() => bytes[pos] = val,
                1 => bytes.insert(pos, val),
                _ if pos < bytes.len() => { bytes.remove(pos); }
                _ => {}
            }
        }
        bytes.truncate(bytes.len().min(cut.max(1) * 2));
        check_invariants(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn mutated_gzip_files_never_panic(pos in 0usize..64, val in any::<u8>(), cut in 0usize..64) {
        let dir = tempfile::tempdir().unwrap();
        let mut gz = gzip(&encode_idx_u8(&[4, 4], &[3; 16]).unwrap());
        let pos = pos % gz.len();
        gz[pos] = val;
        gz.truncate(gz.len().min(cut + 2));
        let p = write_tmp(&dir, "m.gz", &gz);
        if let Ok(a) = read_idx(&p) {
            prop_assert_eq!(a.data.len(), a.dims.iter().product::<usize>());
        }
    }
}
