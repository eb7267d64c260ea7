//! Checkpoints: everything that determines the rest of a run, in one file
//! that is written atomically and verified when read.
//!
//! Layout: the magic `DQNRSCK\0`, the format version (u32, little-endian),
//! the payload's length (u64) and its FNV-1a 64 checksum (u64), then the
//! payload (postcard-encoded [`Checkpoint`]). A file is written to a
//! temporary name, flushed to disk, renamed into place, and the folder is
//! synced, so a crash leaves either the old set of checkpoints or the new
//! one, never a half-written file under a checkpoint's name.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::session::SessionState;

const MAGIC: &[u8; 8] = b"DQNRSCK\0";
/// The current format version; files of other versions are refused.
pub const VERSION: u32 = 2;
/// Bytes before the payload: magic, version, length, checksum.
pub const HEADER: usize = 8 + 4 + 8 + 8;
/// The folder of a run that holds its checkpoints.
pub const DIR: &str = "checkpoints";

/// What a checkpoint holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The training session: learner, environment, RNGs, counters.
    pub session: SessionState,
    /// Bytes of `train.csv` written when the checkpoint was taken.
    pub train_csv_len: u64,
    /// Bytes of `timing.csv` written when the checkpoint was taken.
    pub timing_csv_len: u64,
    /// Bytes of `eval.csv` written when the checkpoint was taken.
    pub eval_csv_len: u64,
    /// Seconds of training before the checkpoint.
    pub elapsed_seconds: f64,
}

/// Why a file could not be used as a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckpointProblem {
    /// The file is empty.
    Empty,
    /// The file ends before its header or payload does.
    Truncated {
        /// Bytes present.
        have: u64,
        /// Bytes the header announces (or the header's size).
        need: u64,
    },
    /// The file does not start with the checkpoint magic.
    NotACheckpoint,
    /// Another version of the format.
    Version {
        /// The version found.
        found: u32,
    },
    /// The payload's checksum does not match: the file is damaged.
    Checksum,
    /// Longer than the header says.
    TrailingBytes {
        /// Bytes beyond the payload.
        extra: u64,
    },
    /// The payload does not decode.
    Decode(String),
    /// The payload decodes but describes an impossible state.
    Invalid(String),
}

impl std::fmt::Display for CheckpointProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => write!(f, "the file is empty"),
            Self::Truncated { have, need } => write!(f, "truncated at byte {have} of {need}"),
            Self::NotACheckpoint => write!(f, "not a dqn-rs checkpoint (wrong magic bytes)"),
            Self::Version { found } => write!(f, "format version {found}, this build reads version {VERSION}"),
            Self::Checksum => write!(f, "checksum mismatch: the file is damaged"),
            Self::TrailingBytes { extra } => write!(f, "{extra} bytes after the payload: the file is damaged"),
            Self::Decode(e) => write!(f, "the content does not decode: {e}"),
            Self::Invalid(e) => write!(f, "the content is inconsistent: {e}"),
        }
    }
}

/// FNV-1a, 64 bits, of a payload: detects damage (it is no protection
/// against tampering). Public for tools and tests that build files by hand.
#[must_use]
pub fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The bytes of a checkpoint file.
#[must_use]
pub fn encode(checkpoint: &Checkpoint) -> Vec<u8> {
    let payload = postcard::to_stdvec(checkpoint).expect("a checkpoint always encodes");
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&checksum(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Reads checkpoint bytes back, verifying the header and checksum first and
/// the decoded state after (the session is rebuilt and checked by
/// [`crate::Session::from_state`] later).
///
/// # Errors
/// The [`CheckpointProblem`] found first.
pub fn decode(bytes: &[u8]) -> Result<Checkpoint, CheckpointProblem> {
    if bytes.is_empty() {
        return Err(CheckpointProblem::Empty);
    }
    if !MAGIC.starts_with(&bytes[..bytes.len().min(8)]) {
        return Err(CheckpointProblem::NotACheckpoint);
    }
    if bytes.len() < HEADER {
        return Err(CheckpointProblem::Truncated { have: bytes.len() as u64, need: HEADER as u64 });
    }
    let word = |at: usize, n: usize| bytes[at..at + n].iter().rev().fold(0u64, |v, &b| (v << 8) | u64::from(b));
    let version = word(8, 4) as u32;
    if version != VERSION {
        return Err(CheckpointProblem::Version { found: version });
    }
    let (len, sum) = (word(12, 8), word(20, 8));
    let have = (bytes.len() - HEADER) as u64;
    if have < len {
        return Err(CheckpointProblem::Truncated { have: bytes.len() as u64, need: HEADER as u64 + len });
    }
    if have > len {
        return Err(CheckpointProblem::TrailingBytes { extra: have - len });
    }
    let payload = &bytes[HEADER..];
    if checksum(payload) != sum {
        return Err(CheckpointProblem::Checksum);
    }
    postcard::from_bytes(payload).map_err(|e| CheckpointProblem::Decode(e.to_string()))
}

/// Writes `checkpoint` atomically as `dir/ckpt-<total steps>.bin`, then
/// deletes all but the newest `keep`. Returns the file's path.
///
/// # Errors
/// The I/O error, with the path.
pub fn write(dir: &Path, checkpoint: &Checkpoint, keep: usize) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    std::fs::create_dir_all(dir).map_err(|e| (dir.to_path_buf(), e))?;
    let name = format!("ckpt-{:012}.bin", checkpoint.session.total_steps());
    let path = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let bytes = encode(checkpoint);
    let written = File::create(&tmp).and_then(|mut f| {
        f.write_all(&bytes)?;
        f.sync_all()
    });
    written.map_err(|e| (tmp.clone(), e))?;
    std::fs::rename(&tmp, &path).map_err(|e| (path.clone(), e))?;
    // The rename is durable once the folder itself is synced.
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| (dir.to_path_buf(), e))?;
    let mut all = list(dir);
    all.reverse();
    for old in all.into_iter().skip(keep.max(1)) {
        let _ = std::fs::remove_file(old);
    }
    // Temporary files of writes that a crash interrupted.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.filter_map(Result::ok) {
            if e.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(path)
}

/// The checkpoint files of `dir`, oldest first (by step, from the name).
#[must_use]
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<(u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = name.strip_prefix("ckpt-")?.strip_suffix(".bin")?.parse().ok()?;
            Some((step, e.path()))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

/// Reads one checkpoint file.
///
/// # Errors
/// The I/O error or the [`CheckpointProblem`], as text naming nothing (the
/// caller adds the path).
pub fn read(path: &Path) -> Result<Checkpoint, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    decode(&bytes).map_err(|p| p.to_string())
}
