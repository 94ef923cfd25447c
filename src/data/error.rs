//! The error type shared by everything in the byte-level data layer.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Every way the data layer (IDX parsing, file access, downloading) can fail.
///
/// Each variant's message is one sentence that says what went wrong and,
/// where it helps, which file or URL was involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// Reading, writing or renaming a file failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory being accessed.
        path: PathBuf,
        /// The underlying operating-system error.
        #[source]
        source: io::Error,
    },

    /// An error that happened while handling a particular file; `source` says what.
    #[error("{}: {error}", path.display())]
    InFile {
        /// The file being read.
        path: PathBuf,
        /// What went wrong with it.
        error: Box<DataError>,
    },

    /// The input does not start with the two zero bytes of an IDX header.
    #[error("not an IDX file: it starts with bytes {:02x} {:02x} instead of 00 00", found[0], found[1])]
    BadMagic {
        /// The first two bytes actually found.
        found: [u8; 2],
    },

    /// The IDX element-type byte is not one of 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E.
    #[error("unsupported IDX element type code 0x{code:02x}")]
    UnknownType {
        /// The type byte found in the header.
        code: u8,
    },

    /// The IDX header declares zero dimensions.
    #[error("the IDX header declares zero dimensions")]
    NoDimensions,

    /// More than 255 dimensions were asked for, which the IDX header cannot encode.
    #[error("{ndim} dimensions cannot be stored in an IDX header, which allows at most 255")]
    TooManyDimensions {
        /// The number of dimensions requested.
        ndim: usize,
    },

    /// A dimension does not fit in the 32-bit field an IDX header stores it in.
    #[error("dimension {dim} does not fit in the 32-bit field of an IDX header")]
    DimensionTooLarge {
        /// The offending dimension.
        dim: usize,
    },

    /// The product of the dimensions (times the element size) overflows.
    #[error("the IDX dimensions {dims:?} overflow when multiplied together")]
    DimensionOverflow {
        /// The dimensions from the header.
        dims: Vec<u64>,
    },

    /// The data length does not match the product of the dimensions.
    #[error("the dimensions multiply to {expected} elements but {got} were given")]
    DimensionMismatch {
        /// Number of elements implied by the dimensions.
        expected: usize,
        /// Number of elements actually supplied.
        got: usize,
    },

    /// A header declares a payload larger than the layer is willing to allocate.
    #[error("the declared size of {bytes} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// Declared (or observed) size in bytes.
        bytes: u64,
        /// The limit that was exceeded.
        limit: u64,
    },

    /// The input ended before the header or payload was complete.
    #[error("the input is truncated: expected {expected} bytes but got only {got}")]
    Truncated {
        /// Number of bytes needed.
        expected: u64,
        /// Number of bytes available.
        got: u64,
    },

    /// The input continues past the end of the payload its header declares.
    #[error(
        "the input has trailing bytes: expected exactly {expected} bytes but got at least {got}"
    )]
    TrailingBytes {
        /// Exact number of bytes the header implies.
        expected: u64,
        /// Number of bytes seen (a lower bound when the input is streamed).
        got: u64,
    },

    /// A gzip stream is malformed (bad header, bad deflate data, bad CRC or cut short).
    #[error("corrupt gzip data in {}: {source}", path.display())]
    CorruptGzip {
        /// The compressed file.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: io::Error,
    },

    /// Content did not hash to the expected SHA-256 digest.
    #[error("checksum mismatch for {file}: expected SHA-256 {expected} but got {got}")]
    ChecksumMismatch {
        /// The file (or URL) that was checked.
        file: String,
        /// Expected lower-case hex digest.
        expected: String,
        /// Actual lower-case hex digest.
        got: String,
    },

    /// A string that should be a SHA-256 hex digest is not one.
    #[error("{value:?} is not a 64-character hexadecimal SHA-256 digest")]
    InvalidChecksum {
        /// The rejected string.
        value: String,
    },

    /// A file name is empty or contains a path separator or `..`.
    #[error("{name:?} is not a plain file name")]
    InvalidFileName {
        /// The rejected name.
        name: String,
    },

    /// The server answered with a non-success HTTP status.
    #[error("HTTP status {status} from {url}")]
    HttpStatus {
        /// The URL requested.
        url: String,
        /// The HTTP status code.
        status: u16,
    },

    /// The HTTP request failed (connection, TLS, protocol or timeout).
    #[error("HTTP request to {url} failed: {source}")]
    Http {
        /// The URL requested.
        url: String,
        /// The client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The path exists but is not a regular file (a directory, FIFO, device...), so it
    /// is not read.
    #[error("{} is {kind}, not a data file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is ("a directory", "a FIFO", "a device").
        kind: &'static str,
    },

    /// A download was needed but kiln was built without its `download` feature (the
    /// library has no HTTP client then).
    #[error(
        "cannot download {file}: kiln was built without the `download` feature (enable it, or put the file in place)"
    )]
    DownloadDisabled {
        /// The file that was wanted.
        file: String,
    },

    /// No mirror was given to download from.
    #[error("no mirror was given to download {file} from")]
    NoMirrors {
        /// The file that was wanted.
        file: String,
    },

    /// Every mirror failed; `errors` holds one error per mirror, in order.
    #[error("could not download {file} from any of {} mirror(s): {}", errors.len(), JoinErrors(errors))]
    AllMirrorsFailed {
        /// The file that was wanted.
        file: String,
        /// What went wrong at each mirror.
        errors: Vec<DataError>,
    },

    /// A file was looked for and not found anywhere.
    #[error("{name} was not found; searched: {}", JoinPaths(searched))]
    NotFound {
        /// The file name looked for.
        name: String,
        /// Every place that was searched, in order.
        searched: Vec<PathBuf>,
    },

    /// An IDX file holds elements of another type than the dataset needs.
    #[error("expected IDX elements of type {expected} but the file holds {got}")]
    WrongElementType {
        /// The type the dataset needs, e.g. `u8`.
        expected: String,
        /// The type found in the header.
        got: String,
    },

    /// An IDX file's dimensions are not the ones the dataset needs.
    #[error("expected dimensions {expected} but the file has {got:?}")]
    BadDims {
        /// The expected dimensions, e.g. `N×28×28`.
        expected: String,
        /// The dimensions found in the header.
        got: Vec<usize>,
    },

    /// An image file and its label file disagree on the number of samples.
    #[error("{} holds {images} images but {} holds {labels} labels", images_path.display(), labels_path.display())]
    LengthMismatch {
        /// The image file.
        images_path: PathBuf,
        /// Number of images in it.
        images: usize,
        /// The label file.
        labels_path: PathBuf,
        /// Number of labels in it.
        labels: usize,
    },

    /// A class label is not below the number of classes.
    #[error("label {label} at index {index} is not below the number of classes ({classes})")]
    LabelOutOfRange {
        /// Position of the bad label.
        index: usize,
        /// The label found.
        label: u64,
        /// The number of classes of the dataset.
        classes: usize,
    },

    /// A dataset's files were not found in any of the places searched.
    #[error(
        "{dataset} was not found: looked for {} in {}; pass download=true (`--download` on the \
         command line) to fetch it, or set KILN_DATA to the directory that holds it",
        files.join(" and "), JoinPaths(searched)
    )]
    DatasetNotFound {
        /// The dataset and split, e.g. `MNIST (train)`.
        dataset: String,
        /// The file names looked for (each also accepted without `.gz`).
        files: Vec<String>,
        /// Every directory searched, in order.
        searched: Vec<PathBuf>,
    },

    /// No candidate directory could be created or written to for a download.
    #[error(
        "no writable directory to download {dataset} into; tried {}",
        JoinPaths(tried)
    )]
    NoWritableDir {
        /// The dataset being downloaded.
        dataset: String,
        /// The directories tried, in order.
        tried: Vec<PathBuf>,
    },
}

impl DataError {
    /// Strips [`DataError::InFile`] context wrappers and returns the underlying error.
    pub fn innermost(&self) -> &DataError {
        let mut e = self;
        while let DataError::InFile { error, .. } = e {
            e = error;
        }
        e
    }

    /// Wraps `self` in [`DataError::InFile`] unless it already names a file.
    pub(crate) fn in_file(self, path: impl Into<PathBuf>) -> DataError {
        match self {
            e @ (DataError::Io { .. }
            | DataError::CorruptGzip { .. }
            | DataError::InFile { .. }) => e,
            e => DataError::InFile {
                path: path.into(),
                error: Box::new(e),
            },
        }
    }

    /// Builds a [`DataError::Io`].
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> DataError {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}

struct JoinErrors<'a>(&'a [DataError]);

impl fmt::Display for JoinErrors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

struct JoinPaths<'a>(&'a [PathBuf]);

impl fmt::Display for JoinPaths<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(nowhere)");
        }
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", p.display())?;
        }
        Ok(())
    }
}

/// What a non-regular file is, for messages.
pub fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}
