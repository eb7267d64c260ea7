//! Checkpoints: everything that determines the rest of a run, in one file
//! that is written atomically and verified when read.
//!
//! Layout: the magic `DQNRSCK\0`, the format version (u32, little-endian),
//! the payload's length (u64) and its FNV-1a 64 checksum (u64), then the
//! payload (postcard-encoded [`Checkpoint`]). A file is written with
//! [`write_atomic`] (a temporary name, flushed to disk,
//! renamed into place, the folder synced), so a crash leaves either the old
//! set of checkpoints or the new one, never a half-written file under a
//! checkpoint's name.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::EnvFamily;
use crate::atomic_file::write_atomic;
use crate::session::{SessionState, StateError, StoredSession};
use crate::stats::fnv1a;

const MAGIC: &[u8; 8] = b"DQNRSCK\0";
/// The current format version; files of other versions are refused.
/// (3: typed stored forms and the mid-step position of an interrupted
/// step; 4: the environment is any `env_core` family, stored as its own
/// bytes, and the config names it; 5: the learner's `arithmetic`; 6:
/// n-step returns — the buffer's step counts and each environment's
/// pending steps, and prioritized replay's priorities; 7: networks with a
/// layout (dueling heads) and noisy layers, their noise samples and the
/// noise stream, the config's `dueling` and `noisy`; 8: the run's
/// configuration as its RON text, and the length of the TensorBoard event
/// file; 9: the agent's persisted fields as one core, its replay buffer and
/// priorities after it; 10: the environments' reset RNGs held by the
/// session, not inside the saved batch.)
pub const VERSION: u32 = 10;
/// Bytes before the payload: magic, version, length, checksum.
pub const HEADER: usize = 8 + 4 + 8 + 8;
/// The folder of a run that holds its checkpoints.
pub const DIR: &str = "checkpoints";

/// What a checkpoint holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checkpoint {
    /// The training session: learner, environment, RNGs, counters.
    pub session: SessionState,
    /// Bytes of `train.csv` written when the checkpoint was taken.
    pub train_csv_len: u64,
    /// Bytes of `timing.csv` written when the checkpoint was taken.
    pub timing_csv_len: u64,
    /// Bytes of `eval.csv` written when the checkpoint was taken.
    pub eval_csv_len: u64,
    /// Bytes of the TensorBoard event file written (0 without one).
    pub tensorboard_len: u64,
    /// Seconds of training before the checkpoint.
    pub elapsed_seconds: f64,
}

/// A [`Checkpoint`] as decoded, before the session is checked: the payload
/// is decoded into this, and the session converted with its typed checks.
#[derive(Deserialize)]
struct StoredCheckpoint {
    session: StoredSession,
    train_csv_len: u64,
    timing_csv_len: u64,
    eval_csv_len: u64,
    tensorboard_len: u64,
    elapsed_seconds: f64,
}

/// Why a file could not be used as a checkpoint.
#[derive(Debug)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The file could not be read.
    Read(std::io::Error),
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
    /// The payload does not decode: at `path`, the decoder's error.
    Decode {
        /// Where in the payload's structure decoding stopped, as the
        /// positions of the fields (in declaration order), variants and
        /// elements that lead there: `[0][1].0[6][5][102]` is element 102
        /// of field 5 of field 6 of the first variant's content of field 1
        /// of field 0. (Postcard's own errors name no position at all.)
        path: String,
        /// The decoder's error.
        source: postcard::Error,
    },
    /// The payload decodes, with bytes left over inside it.
    PayloadTrailing {
        /// The bytes left.
        extra: u64,
    },
    /// The payload decodes but describes an impossible session.
    State(StateError),
    /// The payload's time counter is negative or not finite.
    ElapsedSeconds {
        /// The value.
        value: f64,
    },
    /// The checkpoint's configuration differs from the run folder's
    /// `config.ron`.
    ConfigDiffers,
}

impl std::fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Read(_) => write!(f, "cannot read the file"),
            Self::Empty => write!(f, "the file is empty"),
            Self::Truncated { have, need } => write!(f, "truncated at byte {have} of {need}"),
            Self::NotACheckpoint => write!(f, "not a dqn-rs checkpoint (wrong magic bytes)"),
            Self::Version { found } => write!(f, "format version {found}, this build reads version {VERSION}"),
            Self::Checksum => write!(f, "checksum mismatch: the file is damaged"),
            Self::TrailingBytes { extra } => write!(f, "{extra} bytes after the payload: the file is damaged"),
            Self::Decode { path, source } => {
                write!(f, "the content does not decode at {path}")?;
                // Postcard reports a value its type refuses (an enum
                // variant that does not exist, a number outside a range)
                // as a bare "Serde Deserialization Error": say what it means.
                if matches!(source, postcard::Error::SerdeDeCustom) {
                    write!(f, ": a value its type does not allow there (an enum variant that does not exist, say)")?;
                }
                Ok(())
            }
            Self::PayloadTrailing { extra } => {
                write!(f, "{extra} bytes after the decoded content inside the payload: the file is damaged")
            }
            Self::State(_) => write!(f, "the content is inconsistent"),
            Self::ElapsedSeconds { value } => write!(f, "the recorded training time {value} s is impossible"),
            Self::ConfigDiffers => write!(f, "its configuration differs from the run folder's config.ron"),
        }
    }
}

impl std::error::Error for CheckpointError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read(e) => Some(e),
            Self::Decode { source: postcard::Error::SerdeDeCustom, .. } => None,
            Self::Decode { source, .. } => Some(source),
            Self::State(e) => Some(e),
            _ => None,
        }
    }
}

/// The checksum of a payload ([`fnv1a`]): detects damage (it is no
/// protection against tampering). Public for tools and tests that build
/// files by hand.
#[must_use]
pub fn checksum(bytes: &[u8]) -> u64 {
    fnv1a(bytes)
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

/// Reads checkpoint bytes back, verifying the header and checksum first,
/// then decoding the payload into its stored form and checking the session
/// it describes (every part, and how the parts fit the configuration).
///
/// # Errors
/// The [`CheckpointError`] found first.
pub fn decode(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    decode_on(bytes, None)
}

/// As [`decode`], the session's environments checked against `family` (a
/// user's own, for a run of [`train_family`](crate::train_family)) instead
/// of the configuration's.
///
/// # Errors
/// As [`decode`].
pub fn decode_for(bytes: &[u8], family: &dyn EnvFamily) -> Result<Checkpoint, CheckpointError> {
    decode_on(bytes, Some(family))
}

fn decode_on(bytes: &[u8], family: Option<&dyn EnvFamily>) -> Result<Checkpoint, CheckpointError> {
    if bytes.is_empty() {
        return Err(CheckpointError::Empty);
    }
    if !MAGIC.starts_with(&bytes[..bytes.len().min(8)]) {
        return Err(CheckpointError::NotACheckpoint);
    }
    if bytes.len() < HEADER {
        return Err(CheckpointError::Truncated { have: bytes.len() as u64, need: HEADER as u64 });
    }
    let word = |at: usize, n: usize| bytes[at..at + n].iter().rev().fold(0u64, |v, &b| (v << 8) | u64::from(b));
    let version = word(8, 4) as u32;
    if version != VERSION {
        return Err(CheckpointError::Version { found: version });
    }
    let (len, sum) = (word(12, 8), word(20, 8));
    let have = (bytes.len() - HEADER) as u64;
    if have < len {
        let need = (HEADER as u64).saturating_add(len);
        return Err(CheckpointError::Truncated { have: bytes.len() as u64, need });
    }
    if have > len {
        return Err(CheckpointError::TrailingBytes { extra: have - len });
    }
    let payload = &bytes[HEADER..];
    if checksum(payload) != sum {
        return Err(CheckpointError::Checksum);
    }
    let mut decoder = postcard::Deserializer::from_bytes(payload);
    let stored: StoredCheckpoint = serde_path_to_error::deserialize(&mut decoder).map_err(|e| {
        let path = e.path().to_string();
        CheckpointError::Decode { path, source: e.into_inner() }
    })?;
    let rest = decoder.finalize().map_err(|source| CheckpointError::Decode { path: "(end)".into(), source })?;
    if !rest.is_empty() {
        return Err(CheckpointError::PayloadTrailing { extra: rest.len() as u64 });
    }
    if !(stored.elapsed_seconds >= 0.0 && stored.elapsed_seconds.is_finite()) {
        return Err(CheckpointError::ElapsedSeconds { value: stored.elapsed_seconds });
    }
    Ok(Checkpoint {
        session: match family {
            None => SessionState::try_from(stored.session),
            Some(family) => SessionState::from_stored(stored.session, family),
        }
        .map_err(CheckpointError::State)?,
        train_csv_len: stored.train_csv_len,
        timing_csv_len: stored.timing_csv_len,
        eval_csv_len: stored.eval_csv_len,
        tensorboard_len: stored.tensorboard_len,
        elapsed_seconds: stored.elapsed_seconds,
    })
}

/// Writes `checkpoint` atomically as `dir/ckpt-<total steps>.bin`, then
/// deletes all but the newest `keep`. Returns the file's path.
/// `on_progress(written, total)` is called after each piece of the file
/// reaches its temporary name (before it is synced and renamed): where a
/// crash test stops the process mid-write.
///
/// # Errors
/// The I/O error, with the path.
pub fn write(
    dir: &Path,
    checkpoint: &Checkpoint,
    keep: usize,
    on_progress: &mut dyn FnMut(u64, u64),
) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    std::fs::create_dir_all(dir).map_err(|e| (dir.to_path_buf(), e))?;
    let name = format!("ckpt-{:012}.bin", checkpoint.session.total_steps());
    let path = dir.join(&name);
    write_atomic(&path, &encode(checkpoint), on_progress)?;
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

/// The checkpoint files of `dir`, oldest first (by the step in the name; a
/// `ckpt-*.bin` whose step does not parse sorts first, so it is tried last).
#[must_use]
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<(Option<u64>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = name.strip_prefix("ckpt-")?.strip_suffix(".bin")?.parse().ok();
            Some((step, e.path()))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

/// Reads one checkpoint file.
///
/// # Errors
/// [`CheckpointError::Read`] or the problem [`decode`] finds (the caller
/// adds the path).
pub fn read(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let bytes = std::fs::read(path).map_err(CheckpointError::Read)?;
    decode(&bytes)
}

/// Reads one checkpoint file of a run on `family`'s environments (see
/// [`decode_for`]).
///
/// # Errors
/// As [`read`].
pub fn read_for(path: &Path, family: &dyn EnvFamily) -> Result<Checkpoint, CheckpointError> {
    let bytes = std::fs::read(path).map_err(CheckpointError::Read)?;
    decode_for(&bytes, family)
}
