//! Checkpoints: everything that determines the rest of a run, in one file
//! that is written atomically and verified when read, with the replay
//! buffer streamed through it so that neither writing nor reading holds a
//! second copy of the buffer.
//!
//! Layout: the magic `DQNRSCK\0`, the format version (u32, little-endian),
//! the payload's length (u64) and its FNV-1a 64 checksum (u64), then the
//! payload (postcard-encoded [`CheckpointMeta`]: the session but its
//! experience, the logs' lengths, the training time). A DQN session's
//! experience follows: its replay buffer ([`ReplayBuffer::write_to`]'s
//! stream) and, with prioritized sampling, its priorities
//! ([`Priorities::write_to`]), then the length (u64) and checksum
//! ([`StreamSum`], u64) of the two together. A file is written
//! with [`write_atomic_with`] (a temporary name, flushed to disk, renamed
//! into place, the folder synced), so a crash leaves either the old set of
//! checkpoints or the new one, never a half-written file under a
//! checkpoint's name.
//!
//! The extra memory a checkpoint needs, beyond the session itself, is the
//! payload (the networks and optimizer state, a few copies of the network's
//! size; the environments' saved state; 64 probe observations) and buffers
//! of fixed size (64 KiB for the file, 8 KiB for the priorities): it does
//! not grow with the replay buffer. Reading one back allocates the buffer
//! and the priority tree once, at their final size, and reads into them.

use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use agent::{Priorities, PrioritiesError, ReplayBuffer, StreamError};
use serde::{Deserialize, Serialize};

use crate::EnvFamily;
use crate::atomic_file::write_atomic_with;
use crate::session::{SessionMeta, SessionState, StateError, StoredSession};
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
/// session, not inside the saved batch; 11: observations as frames stored
/// once, the replay buffer and the priorities streamed after the payload
/// with their own length and checksum, the learner's settings and spaces,
/// typed probe states; 12: each layer's kind, a convolution's geometry.)
pub const VERSION: u32 = 12;
/// Bytes before the payload: magic, version, length, checksum.
pub const HEADER: usize = 8 + 4 + 8 + 8;
/// Bytes after a replay buffer's stream: its length and checksum.
pub const TRAILER: usize = 8 + 8;
/// The folder of a run that holds its checkpoints.
pub const DIR: &str = "checkpoints";
/// The longest training time a checkpoint may record: 10⁹ s, about 31
/// years. A longer one is damage (it would print as a wall time of
/// hundreds of digits).
pub const MAX_ELAPSED_SECONDS: f64 = 1e9;

/// Where a run's logs were, and how long it had trained, when a
/// checkpoint was taken.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LogLengths {
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

/// A checkpoint's payload: the session but its replay buffer, and the
/// logs' lengths.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointMeta {
    /// The training session but its replay buffer: learner, environment,
    /// RNGs, counters.
    pub session: SessionMeta,
    /// Where the logs were.
    pub logs: LogLengths,
}

/// What a checkpoint file holds, read back and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The training session, its replay buffer included.
    pub session: SessionState,
    /// Where the logs were.
    pub logs: LogLengths,
}

/// A [`CheckpointMeta`] as decoded, before the session is checked.
#[derive(Deserialize)]
struct StoredCheckpoint {
    session: StoredSession,
    logs: LogLengths,
}

/// Why a file could not be used as a checkpoint.
#[derive(Debug)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The file could not be read.
    Read(std::io::Error),
    /// The file is empty.
    Empty,
    /// The file ends before its header, payload or replay trailer does.
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
    /// Longer than its content.
    TrailingBytes {
        /// Bytes beyond the content (at least this many).
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
    /// The replay buffer's stream is damaged or not the learner's.
    Replay(StreamError),
    /// The priorities' stream is damaged.
    Priorities(PrioritiesError),
    /// The file ends inside the replay buffer's or the priorities' stream.
    ReplayCut {
        /// The file's length.
        at: u64,
    },
    /// The replay buffer's stream is not the length or checksum its
    /// trailer records: the file is damaged.
    ReplayChecksum,
    /// The payload decodes but describes an impossible session.
    State(StateError),
    /// The payload's training time is negative, not finite, or beyond
    /// [`MAX_ELAPSED_SECONDS`].
    ElapsedSeconds {
        /// The value.
        value: f64,
    },
    /// The payload records a TensorBoard event file for a run that writes
    /// none.
    TensorboardLen {
        /// The length recorded.
        len: u64,
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
            Self::TrailingBytes { extra } => write!(f, "{extra} bytes after the content: the file is damaged"),
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
            Self::Replay(_) => write!(f, "the replay buffer"),
            Self::Priorities(_) => write!(f, "the replay priorities"),
            Self::ReplayCut { at } => {
                write!(f, "the file ends at byte {at}, inside the replay buffer's stream: the file is damaged")
            }
            Self::ReplayChecksum => {
                write!(f, "the replay buffer's length or checksum does not match its trailer: the file is damaged")
            }
            Self::State(_) => write!(f, "the content is inconsistent"),
            Self::ElapsedSeconds { value } => write!(
                f,
                "the recorded training time {value:e} s is impossible (at most {MAX_ELAPSED_SECONDS:e} s, about 31 years)"
            ),
            Self::TensorboardLen { len } => write!(
                f,
                "it records {len} bytes of a TensorBoard event file, but the run writes none (tensorboard: None)"
            ),
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
            Self::Replay(e) => Some(e),
            Self::Priorities(e) => Some(e),
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

/// The checksum of a replay buffer's stream, computed as the bytes pass:
/// taken eight at a time as little-endian words (the last one padded with
/// zeros), each mixed in as `h = rotl((h ⊕ w)·K, 31)` with `K` the 64-bit
/// golden ratio, and the length mixed in last. A word at a time, so
/// gigabytes cost a fraction of a second; it detects damage, not tampering.
#[derive(Debug, Clone)]
pub struct StreamSum {
    h: u64,
    word: [u8; 8],
    filled: usize,
    len: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl Default for StreamSum {
    fn default() -> Self {
        Self { h: GOLDEN, word: [0; 8], filled: 0, len: 0 }
    }
}

impl StreamSum {
    /// Takes in `bytes`.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.filled > 0 {
            let n = bytes.len().min(8 - self.filled);
            self.word[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
            if self.filled < 8 {
                return;
            }
            self.mix(u64::from_le_bytes(self.word));
            self.filled = 0;
        }
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.mix(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        self.word[..rest.len()].copy_from_slice(rest);
        self.filled = rest.len();
    }

    fn mix(&mut self, w: u64) {
        self.h = (self.h ^ w).wrapping_mul(GOLDEN).rotate_left(31);
    }

    /// The bytes taken in.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was taken in.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The checksum of everything taken in.
    #[must_use]
    pub fn finish(&self) -> u64 {
        let mut h = self.h;
        if self.filled > 0 {
            let mut last = [0u8; 8];
            last[..self.filled].copy_from_slice(&self.word[..self.filled]);
            h = (h ^ u64::from_le_bytes(last)).wrapping_mul(GOLDEN).rotate_left(31);
        }
        (h ^ self.len).wrapping_mul(GOLDEN).rotate_left(31)
    }
}

/// Writes through to `inner`, summing what passes.
struct SummingWriter<'a> {
    inner: &'a mut dyn Write,
    sum: StreamSum,
}

impl Write for SummingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sum.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Reads through `inner`, summing what passes.
struct SummingReader<'a> {
    inner: &'a mut dyn Read,
    sum: StreamSum,
}

impl Read for SummingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sum.update(&buf[..n]);
        Ok(n)
    }
}

/// The payload's bytes, postcard-encoded.
fn encode_meta(meta: &CheckpointMeta) -> Vec<u8> {
    postcard::to_stdvec(meta).expect("a checkpoint always encodes")
}

/// What a DQN session's checkpoint streams after its payload: the replay
/// buffer and, with prioritized sampling, the priorities
/// ([`Session::streamed`](crate::Session::streamed)).
#[derive(Debug, Clone, Copy)]
pub struct Streamed<'a> {
    /// The replay buffer.
    pub replay: &'a ReplayBuffer,
    /// The priorities of its transitions.
    pub priorities: Option<&'a Priorities>,
}

impl Streamed<'_> {
    /// The bytes of the stream (without its trailer).
    #[must_use]
    pub fn len(&self) -> u64 {
        self.replay.stream_len() + self.priorities.map_or(0, |_| Priorities::stream_len(self.replay))
    }

    /// Always false: a buffer's stream has a header.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Writes a checkpoint of `meta` and `streamed` (a DQN session's
/// experience) to `w`: header, payload, then the replay and priorities
/// streams and their trailer. Returns the bytes written.
///
/// # Errors
/// The writer's error.
pub fn write_to(w: &mut dyn Write, meta: &CheckpointMeta, streamed: Option<Streamed<'_>>) -> std::io::Result<u64> {
    let payload = encode_meta(meta);
    w.write_all(MAGIC)?;
    w.write_all(&VERSION.to_le_bytes())?;
    w.write_all(&(payload.len() as u64).to_le_bytes())?;
    w.write_all(&checksum(&payload).to_le_bytes())?;
    w.write_all(&payload)?;
    let mut written = (HEADER + payload.len()) as u64;
    if let Some(Streamed { replay, priorities }) = streamed {
        let mut summing = SummingWriter { inner: w, sum: StreamSum::default() };
        replay.write_to(&mut summing)?;
        if let Some(priorities) = priorities {
            priorities.write_to(replay, &mut summing)?;
        }
        let sum = summing.sum;
        w.write_all(&sum.len().to_le_bytes())?;
        w.write_all(&sum.finish().to_le_bytes())?;
        written += sum.len() + TRAILER as u64;
    }
    Ok(written)
}

/// The bytes of a checkpoint file (for tests and tools; a run writes its
/// checkpoints with [`write()`], which streams).
#[must_use]
pub fn encode(meta: &CheckpointMeta, streamed: Option<Streamed<'_>>) -> Vec<u8> {
    let mut out = Vec::new();
    write_to(&mut out, meta, streamed).expect("writing to memory cannot fail");
    out
}

/// Reads checkpoint bytes back (see [`read_from`]).
///
/// # Errors
/// As [`read_from`].
pub fn decode(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    read_from(&mut &bytes[..], bytes.len() as u64, None)
}

/// As [`decode`], the session's environments checked against `family` (a
/// user's own, for a run of [`train_family`](crate::train_family)) instead
/// of the configuration's.
///
/// # Errors
/// As [`decode`].
pub fn decode_for(bytes: &[u8], family: &dyn EnvFamily) -> Result<Checkpoint, CheckpointError> {
    read_from(&mut &bytes[..], bytes.len() as u64, Some(family))
}

/// Reads a checkpoint of `len` bytes from `r`: verifies the header and the
/// payload's checksum, decodes the payload into its stored form, checks the
/// learner, reads the replay buffer's stream (which must be the learner's,
/// checked before its memory is reserved) and its trailer, then checks the
/// session it all describes (every part, and how the parts fit the
/// configuration and `family`, or the configuration's own environment).
///
/// # Errors
/// The [`CheckpointError`] found first.
pub fn read_from(r: &mut dyn Read, len: u64, family: Option<&dyn EnvFamily>) -> Result<Checkpoint, CheckpointError> {
    if len == 0 {
        return Err(CheckpointError::Empty);
    }
    let mut header = [0u8; HEADER];
    let got = read_up_to(r, &mut header).map_err(CheckpointError::Read)?;
    if !MAGIC.starts_with(&header[..got.min(8)]) {
        return Err(CheckpointError::NotACheckpoint);
    }
    if got < HEADER {
        return Err(CheckpointError::Truncated { have: got as u64, need: HEADER as u64 });
    }
    let word = |at: usize, n: usize| header[at..at + n].iter().rev().fold(0u64, |v, &b| (v << 8) | u64::from(b));
    let version = word(8, 4) as u32;
    if version != VERSION {
        return Err(CheckpointError::Version { found: version });
    }
    let (payload_len, sum) = (word(12, 8), word(20, 8));
    let have = len - HEADER as u64;
    if have < payload_len {
        let need = (HEADER as u64).saturating_add(payload_len);
        return Err(CheckpointError::Truncated { have: len, need });
    }
    // Bounded by the file's length, checked just above.
    let mut payload = vec![0u8; payload_len as usize];
    r.read_exact(&mut payload).map_err(CheckpointError::Read)?;
    if checksum(&payload) != sum {
        return Err(CheckpointError::Checksum);
    }
    let mut decoder = postcard::Deserializer::from_bytes(&payload);
    let stored: StoredCheckpoint = serde_path_to_error::deserialize(&mut decoder).map_err(|e| {
        let path = e.path().to_string();
        CheckpointError::Decode { path, source: e.into_inner() }
    })?;
    let rest = decoder.finalize().map_err(|source| CheckpointError::Decode { path: "(end)".into(), source })?;
    if !rest.is_empty() {
        return Err(CheckpointError::PayloadTrailing { extra: rest.len() as u64 });
    }
    let elapsed = stored.logs.elapsed_seconds;
    if !(0.0..=MAX_ELAPSED_SECONDS).contains(&elapsed) {
        return Err(CheckpointError::ElapsedSeconds { value: elapsed });
    }
    let config = stored.session.parse_config().map_err(CheckpointError::State)?;
    if config.tensorboard.is_none() && stored.logs.tensorboard_len != 0 {
        return Err(CheckpointError::TensorboardLen { len: stored.logs.tensorboard_len });
    }
    let mut left = have - payload_len;
    let replay = match stored.session.agent_state().map_err(CheckpointError::State)? {
        None => None,
        Some(agent) => {
            let expected = agent.replay_config();
            let mut summing = SummingReader { inner: r, sum: StreamSum::default() };
            let replay = ReplayBuffer::read_from(&mut summing, Some(&expected)).map_err(|e| {
                if e.is_truncated() && summing.sum.len() == left {
                    CheckpointError::ReplayCut { at: len }
                } else {
                    CheckpointError::Replay(e)
                }
            })?;
            // The priorities are read against the buffer: it must be the
            // learner's first (its capacity sizes their tree).
            agent.check_replay(&replay).map_err(|e| CheckpointError::State(StateError::Learner(e)))?;
            let priorities = if agent.is_prioritized() {
                // The file must hold them and the trailer: read no further
                // than its end, never into the trailer as if priorities.
                let (remaining, need) = (left - summing.sum.len(), Priorities::stream_len(&replay) + TRAILER as u64);
                if remaining < need {
                    return Err(CheckpointError::Truncated { have: len, need: len + (need - remaining) });
                }
                Some(Priorities::read_from(&mut summing, &replay).map_err(|e| {
                    if e.is_truncated() && summing.sum.len() == left {
                        CheckpointError::ReplayCut { at: len }
                    } else {
                        CheckpointError::Priorities(e)
                    }
                })?)
            } else {
                None
            };
            let sum = summing.sum;
            left -= sum.len();
            let mut trailer = [0u8; TRAILER];
            let got = read_up_to(r, &mut trailer).map_err(CheckpointError::Read)?;
            if got < TRAILER {
                return Err(CheckpointError::Truncated { have: len, need: len + (TRAILER - got) as u64 });
            }
            left -= TRAILER as u64;
            let (stated_len, stated_sum) = (
                u64::from_le_bytes(trailer[..8].try_into().expect("8 bytes")),
                u64::from_le_bytes(trailer[8..].try_into().expect("8 bytes")),
            );
            if stated_len != sum.len() || stated_sum != sum.finish() {
                return Err(CheckpointError::ReplayChecksum);
            }
            Some(agent::Experience { replay, priorities })
        }
    };
    if left > 0 || r.read(&mut [0u8; 1]).map_err(CheckpointError::Read)? > 0 {
        return Err(CheckpointError::TrailingBytes { extra: left.max(1) });
    }
    let session = match family {
        Some(family) => SessionState::from_stored(stored.session, replay, family),
        None => {
            let family = config.env_family().map_err(|e| CheckpointError::State(StateError::Config(e)))?;
            SessionState::from_stored(stored.session, replay, family.as_ref())
        }
    }
    .map_err(CheckpointError::State)?;
    Ok(Checkpoint { session, logs: stored.logs })
}

/// Fills as much of `buf` as the reader has; returns how much.
fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// The bytes [`write_to`] writes for `meta` and `streamed`: what
/// [`write_atomic_with`] is told to expect.
#[must_use]
pub fn encoded_len(meta: &CheckpointMeta, streamed: Option<Streamed<'_>>) -> u64 {
    HEADER as u64 + encode_meta(meta).len() as u64 + streamed.map_or(0, |s| s.len() + TRAILER as u64)
}

/// Writes a checkpoint of `meta` and `replay` atomically as
/// `dir/ckpt-<total steps>.bin`, streaming the replay buffer into the file,
/// then deletes all but the newest `keep`. Returns the file's path.
/// `on_progress(written, total)` is called after each piece of the file
/// reaches its temporary name (before it is synced and renamed): where a
/// crash test stops the process mid-write.
///
/// # Errors
/// The I/O error, with the path.
pub fn write(
    dir: &Path,
    meta: &CheckpointMeta,
    streamed: Option<Streamed<'_>>,
    keep: usize,
    on_progress: &mut dyn FnMut(u64, u64),
) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    std::fs::create_dir_all(dir).map_err(|e| (dir.to_path_buf(), e))?;
    let name = format!("ckpt-{:012}.bin", meta.session.total_steps());
    let path = dir.join(&name);
    let total = encoded_len(meta, streamed);
    write_atomic_with(&path, total, &mut |w| write_to(w, meta, streamed).map(drop), on_progress)?;
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

/// Reads one checkpoint file, streaming it (see [`read_from`]).
///
/// # Errors
/// [`CheckpointError::Read`] or the problem [`read_from`] finds (the
/// caller adds the path).
pub fn read(path: &Path) -> Result<Checkpoint, CheckpointError> {
    read_on(path, None)
}

/// Reads one checkpoint file of a run on `family`'s environments (see
/// [`decode_for`]).
///
/// # Errors
/// As [`read`].
pub fn read_for(path: &Path, family: &dyn EnvFamily) -> Result<Checkpoint, CheckpointError> {
    read_on(path, Some(family))
}

fn read_on(path: &Path, family: Option<&dyn EnvFamily>) -> Result<Checkpoint, CheckpointError> {
    read_part(path, 0, None, family)
}

/// Reads the checkpoint stored in `path` from byte `offset` on, `len`
/// bytes of it (to the file's end when `None`), streaming it: a checkpoint
/// kept uncompressed inside another file, such as a zip archive, is read
/// where it lies instead of copied out first. A range that runs past the
/// file's end reads as [`CheckpointError::Truncated`], one that starts past
/// it as [`CheckpointError::Empty`].
///
/// # Errors
/// As [`read`].
pub fn read_part(
    path: &Path,
    offset: u64,
    len: Option<u64>,
    family: Option<&dyn EnvFamily>,
) -> Result<Checkpoint, CheckpointError> {
    let mut file = std::fs::File::open(path).map_err(CheckpointError::Read)?;
    let file_len = file.metadata().map_err(CheckpointError::Read)?.len();
    // A length past the end is cut to what is there, so that `read_from`
    // measures the checkpoint against the bytes it can read.
    let there = file_len.saturating_sub(offset);
    let len = len.map_or(there, |len| len.min(there));
    file.seek(SeekFrom::Start(offset)).map_err(CheckpointError::Read)?;
    read_from(&mut BufReader::with_capacity(1 << 16, file.take(len)), len, family)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream checksum does not depend on how the bytes are cut.
    #[test]
    fn stream_sums_do_not_depend_on_the_pieces() {
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 37 % 251) as u8).collect();
        let mut whole = StreamSum::default();
        whole.update(&bytes);
        for cut in [1, 3, 7, 8, 9, 64, 999] {
            let mut parts = StreamSum::default();
            for piece in bytes.chunks(cut) {
                parts.update(piece);
            }
            assert_eq!((parts.finish(), parts.len()), (whole.finish(), whole.len()), "pieces of {cut}");
        }
        let mut other = bytes.clone();
        other[500] ^= 1;
        let mut changed = StreamSum::default();
        changed.update(&other);
        assert_ne!(changed.finish(), whole.finish());
        let mut longer = StreamSum::default();
        longer.update(&[bytes.as_slice(), &[0]].concat());
        assert_ne!(longer.finish(), whole.finish(), "a trailing zero changes the sum");
    }
}
