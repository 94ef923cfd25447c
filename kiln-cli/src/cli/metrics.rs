//! `metrics.jsonl`: one JSON record per finished epoch, appended as it happens so a
//! crash or Ctrl-C never loses the epochs already done.

use super::error::CliError;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// What one epoch of training measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (the tutorial's `total_loss / len(loader)`).
    #[serde(with = "any_f64")]
    pub train_loss: f64,
    /// Fraction of training samples classified correctly during the epoch.
    #[serde(with = "any_f64")]
    pub train_acc: f64,
    /// Mean loss over the test set after the epoch.
    #[serde(with = "any_f64")]
    pub test_loss: f64,
    /// Fraction of test samples classified correctly after the epoch.
    #[serde(with = "any_f64")]
    pub test_acc: f64,
    /// Wall-clock seconds of the training loop (not the test pass).
    #[serde(with = "any_f64")]
    pub train_seconds: f64,
    /// Training samples per second.
    #[serde(with = "any_f64")]
    pub samples_per_sec: f64,
    /// With `--grad-stats`: each layer's mean gradient norm over the epoch's batches, as
    /// `[layer, norm]` pairs in layer order (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_norms: Option<Vec<(String, f64)>>,
}

/// Every `f64`, NaN and infinities included: finite values as JSON numbers, the others
/// as the strings `"NaN"`, `"inf"` and `"-inf"` (JSON has no numbers for them); `null`
/// (what older files hold for them) reads back as NaN.
mod any_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if *v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Num(f64),
        Text(String),
        Null(()),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Option::<Raw>::deserialize(d)? {
            Some(Raw::Num(v)) => Ok(v),
            None | Some(Raw::Null(())) => Ok(f64::NAN),
            Some(Raw::Text(t)) => match t.as_str() {
                "NaN" => Ok(f64::NAN),
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                other => Err(serde::de::Error::custom(format!("not a number: {other:?}"))),
            },
        }
    }
}

/// Appends `record` as one line to the JSONL file at `path` (creating it). The line goes
/// out in a single `write` on a file opened for appending, so concurrent readers never see
/// half of it; it is flushed to disk before returning.
pub fn append_record(path: &Path, record: &EpochRecord) -> Result<(), CliError> {
    let mut line = serde_json::to_string(record).expect("an epoch record always serializes");
    line.push('\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| CliError::file(path, e))?;
    f.write_all(line.as_bytes())
        .and_then(|_| f.sync_data())
        .map_err(|e| CliError::file(path, e))
}

/// Reads the records of a JSONL file; a missing file is no records, and lines that do
/// not parse (a torn last line after a power cut) are skipped.
pub fn read_records(path: &Path) -> Result<Vec<EpochRecord>, CliError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CliError::file(path, e)),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// Replaces the file with exactly `records` (atomically), e.g. to drop epochs a resumed
/// run is about to redo.
pub fn write_records(path: &Path, records: &[EpochRecord]) -> Result<(), CliError> {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r).expect("an epoch record always serializes"));
        text.push('\n');
    }
    kiln::io::atomic_write(path, text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(epoch: usize) -> EpochRecord {
        EpochRecord {
            epoch,
            train_loss: 0.5 / epoch as f64,
            train_acc: 0.9,
            test_loss: 0.4,
            test_acc: 0.95,
            train_seconds: 1.5,
            samples_per_sec: 40000.0,
            grad_norms: None,
        }
    }

    #[test]
    fn append_then_read_back_skipping_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.jsonl");
        assert!(read_records(&p).unwrap().is_empty());
        append_record(&p, &rec(1)).unwrap();
        append_record(&p, &rec(2)).unwrap();
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"epoch\":3,\"train_lo").unwrap();
        assert_eq!(read_records(&p).unwrap(), vec![rec(1), rec(2)]);
        write_records(&p, &[rec(1)]).unwrap();
        assert_eq!(read_records(&p).unwrap(), vec![rec(1)]);
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn every_value_round_trips_nan_and_infinities_included() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.jsonl");
        let odd = EpochRecord {
            train_loss: f64::NAN,
            test_loss: f64::INFINITY,
            train_acc: f64::NEG_INFINITY,
            test_acc: 0.1 + 0.2,
            ..rec(1)
        };
        append_record(&p, &odd).unwrap();
        // What older files hold for NaN.
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"epoch\":2,\"train_loss\":null,\"train_acc\":0.5,\"test_loss\":1.0,\"test_acc\":0.5,\"train_seconds\":1.0,\"samples_per_sec\":2.0}\n").unwrap();
        let back = read_records(&p).unwrap();
        assert_eq!(back.len(), 2);
        let bits = |r: &EpochRecord| {
            [
                r.train_loss,
                r.train_acc,
                r.test_loss,
                r.test_acc,
                r.train_seconds,
                r.samples_per_sec,
            ]
            .map(f64::to_bits)
        };
        assert_eq!(bits(&back[0]), bits(&odd));
        assert!(back[1].train_loss.is_nan());
    }
}
