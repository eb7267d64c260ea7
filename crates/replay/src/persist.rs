//! A buffer as a stream of bytes, for checkpoints: written column by column
//! through any `Write` and read back through any `Read` into a buffer that
//! is checked whole, so the extra memory either needs is a fixed-size piece
//! whatever the buffer's size.
//!
//! Layout (little-endian): a tag, the settings, the counters, each
//! environment's chain, then the frames (their values, then their links)
//! and the transitions (anchors, actions and flags, rewards, step counts).
//! Only what is filled is written: `min(pushed, frame capacity)` frames and
//! `min(pushes, capacity)` slots.

use std::io::{Read, Write};

use crate::buffer::{Cells, Chain, Frames};
use crate::error::{Inconsistency, ReplayError};
use crate::frame::{FrameKind, FrameSpec, InputFormat, Padding, Stacking};
use crate::{ReplayBuffer, ReplayConfig};

const TAG: &[u8; 8] = b"DQNRSRB1";

/// Values converted per piece of a stream: the fixed scratch of a write or
/// read.
const PIECE: usize = 1 << 14;

/// Why a buffer could not be read from a stream.
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamError {
    /// The reader failed.
    Io(std::io::Error),
    /// The bytes do not describe a consistent buffer (or the one expected).
    Invalid(ReplayError),
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(_) => write!(f, "cannot read the replay buffer's stream"),
            Self::Invalid(_) => write!(f, "the replay buffer's stream is not a consistent buffer"),
        }
    }
}

impl std::error::Error for StreamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Invalid(e) => Some(e),
        }
    }
}

impl StreamError {
    /// Whether the stream ended before the buffer it describes did.
    #[must_use]
    pub fn is_truncated(&self) -> bool {
        matches!(self, Self::Invalid(ReplayError::Inconsistent(Inconsistency::Length)))
    }
}

impl From<ReplayError> for StreamError {
    fn from(e: ReplayError) -> Self {
        Self::Invalid(e)
    }
}

fn inconsistent(problem: Inconsistency) -> StreamError {
    StreamError::Invalid(ReplayError::Inconsistent(problem))
}

impl From<std::io::Error> for StreamError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof { inconsistent(Inconsistency::Length) } else { Self::Io(e) }
    }
}

/// Writes `values` as little-endian bytes, `PIECE` at a time.
fn put<T: Copy, const N: usize>(w: &mut dyn Write, values: &[T], bytes: impl Fn(T) -> [u8; N]) -> std::io::Result<()> {
    let mut piece = Vec::with_capacity(PIECE * N);
    for chunk in values.chunks(PIECE) {
        piece.clear();
        for &v in chunk {
            piece.extend_from_slice(&bytes(v));
        }
        w.write_all(&piece)?;
    }
    Ok(())
}

/// Reads `n` little-endian values into `out` (which has the room),
/// `PIECE` at a time.
fn take<T, const N: usize>(
    r: &mut dyn Read,
    n: usize,
    out: &mut Vec<T>,
    value: impl Fn([u8; N]) -> T,
) -> Result<(), StreamError> {
    let mut piece = vec![0u8; PIECE * N];
    let mut left = n;
    while left > 0 {
        let k = left.min(PIECE);
        r.read_exact(&mut piece[..k * N])?;
        out.extend(piece[..k * N].chunks_exact(N).map(|b| value(b.try_into().expect("N bytes"))));
        left -= k;
    }
    Ok(())
}

fn word(r: &mut dyn Read) -> Result<u64, StreamError> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn byte(r: &mut dyn Read) -> Result<u8, StreamError> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

/// A stored count as a `usize`, refused if it does not fit.
fn count(value: u64) -> Result<usize, StreamError> {
    usize::try_from(value).map_err(|_| inconsistent(Inconsistency::Counters { problem: "a count beyond memory" }))
}

impl ReplayBuffer {
    /// The bytes [`write_to`](Self::write_to) writes.
    #[must_use]
    pub fn stream_len(&self) -> u64 {
        let frames = match &self.frames.cells {
            Cells::F32(v) => v.len() * 4,
            Cells::U8(v) => v.len(),
        };
        let header = TAG.len() + 3 * 8 + 3 + 8 + 8 + 7 * 8;
        let chains = self.chains.len() * (2 + 8);
        let columns = self.frames.back.len() * 4
            + self.anchors.len() * 4
            + self.acts.len() * 2
            + self.rewards.len() * 4
            + self.steps.len();
        (header + chains + frames + columns) as u64
    }

    /// Writes the whole buffer to `w` as a stream (see the module's
    /// layout); nothing beyond a fixed-size piece is copied.
    ///
    /// # Errors
    /// The writer's error.
    pub fn write_to(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let c = &self.config;
        w.write_all(TAG)?;
        let kind = match c.input.frame.kind {
            FrameKind::F32 => 0u8,
            FrameKind::U8 => 1,
            FrameKind::Bit => 2,
        };
        // Bit 1 of the padding's byte: the environment stacks (streams of
        // buffers without it read as they always did).
        let padding = match c.input.stacking.padding {
            Padding::Repeat => 0u8,
            Padding::Zeros => 1,
        } | if c.input.stacking.by_environment { 2 } else { 0 };
        for v in [c.capacity as u64, c.input.frame.len as u64, c.input.stacking.frames as u64] {
            w.write_all(&v.to_le_bytes())?;
        }
        w.write_all(&[kind, padding, c.max_steps])?;
        w.write_all(&c.input.scale.to_le_bytes())?;
        w.write_all(&(c.envs as u64).to_le_bytes())?;
        let counters = [
            self.frames.capacity as u64,
            self.frames.pushed,
            self.head as u64,
            self.len as u64,
            self.pushes,
            self.reach,
            self.disorder,
        ];
        for v in counters {
            w.write_all(&v.to_le_bytes())?;
        }
        for chain in &self.chains {
            w.write_all(&[u8::from(chain.last.is_some()), u8::from(chain.ended)])?;
            w.write_all(&chain.last.unwrap_or(0).to_le_bytes())?;
        }
        match &self.frames.cells {
            Cells::F32(values) => put(w, values, f32::to_le_bytes)?,
            Cells::U8(bytes) => w.write_all(bytes)?,
        }
        put(w, &self.frames.back, u32::to_le_bytes)?;
        put(w, &self.anchors, u32::to_le_bytes)?;
        put(w, &self.acts, u16::to_le_bytes)?;
        put(w, &self.rewards, f32::to_le_bytes)?;
        w.write_all(&self.steps)
    }

    /// The buffer [`write_to`](Self::write_to) wrote, read from `r` and
    /// checked whole: its settings (equal to `expected`, when given, before
    /// any memory is reserved for it), its counters, every value (finite
    /// frames and rewards, no stray bits), every link between frames, and
    /// every held transition's frames. Reads exactly the stream's bytes.
    ///
    /// # Errors
    /// [`StreamError::Io`] for the reader's failure, else
    /// [`StreamError::Invalid`] naming what is wrong.
    pub fn read_from(r: &mut dyn Read, expected: Option<&ReplayConfig>) -> Result<Self, StreamError> {
        let mut tag = [0u8; 8];
        r.read_exact(&mut tag)?;
        if &tag != TAG {
            return Err(inconsistent(Inconsistency::Counters { problem: "not a replay buffer's stream" }));
        }
        let (capacity, frame_len, frames) = (count(word(r)?)?, count(word(r)?)?, count(word(r)?)?);
        let (kind, padding, max_steps) = (byte(r)?, byte(r)?, byte(r)?);
        let scale = f64::from_le_bytes(word(r)?.to_le_bytes());
        let envs = count(word(r)?)?;
        let kind = match kind {
            0 => FrameKind::F32,
            1 => FrameKind::U8,
            2 => FrameKind::Bit,
            _ => return Err(inconsistent(Inconsistency::Settings)),
        };
        let (padding, by_environment) = match padding {
            0 | 2 => (Padding::Repeat, padding == 2),
            1 | 3 => (Padding::Zeros, padding == 3),
            _ => return Err(inconsistent(Inconsistency::Settings)),
        };
        let config = ReplayConfig {
            capacity,
            input: InputFormat {
                frame: FrameSpec { len: frame_len, kind },
                stacking: Stacking { frames, padding, by_environment },
                scale,
            },
            max_steps,
            envs,
        };
        if expected.is_some_and(|e| *e != config) {
            return Err(inconsistent(Inconsistency::Settings));
        }
        // Checked settings bound every size below; the memory is reserved
        // once, by the checked constructor.
        let mut buffer = Self::with_config(config)?;
        let counters = [(); 7].map(|()| word(r));
        let [frame_capacity, pushed, head, len, pushes, reach, disorder] = counters;
        let frame_capacity = count(frame_capacity?)?;
        if frame_capacity != buffer.frames.capacity {
            return Err(inconsistent(Inconsistency::Settings));
        }
        let (pushed, head, len, pushes) = (pushed?, count(head?)?, count(len?)?, pushes?);
        buffer.frames.pushed = pushed;
        (buffer.head, buffer.len, buffer.pushes) = (head, len, pushes);
        (buffer.reach, buffer.disorder) = (reach?, disorder?);
        const LIMIT: u64 = 1 << 62;
        if pushed > LIMIT || pushes > LIMIT {
            return Err(inconsistent(Inconsistency::Counters { problem: "more pushes than any run makes" }));
        }
        for chain in &mut buffer.chains {
            let (has, ended) = (byte(r)?, byte(r)?);
            let last = word(r)?;
            if has > 1 || ended > 1 || (has == 0 && (ended == 1 || last != 0)) {
                return Err(inconsistent(Inconsistency::Counters { problem: "an environment's chain" }));
            }
            *chain = Chain { last: (has == 1).then_some(last), ended: ended == 1 };
        }
        let stored = count(pushed.min(frame_capacity as u64))?;
        read_frames(r, &mut buffer.frames, stored)?;
        let filled = count(pushes.min(capacity as u64))?;
        take(r, filled, &mut buffer.anchors, u32::from_le_bytes)?;
        take(r, filled, &mut buffer.acts, u16::from_le_bytes)?;
        take(r, filled, &mut buffer.rewards, f32::from_le_bytes)?;
        if let Some(index) = buffer.rewards.iter().position(|v| !v.is_finite()) {
            let value = buffer.rewards[index];
            return Err(inconsistent(Inconsistency::NonFinite { field: "reward", index, value }));
        }
        if max_steps > 1 {
            take(r, filled, &mut buffer.steps, |[b]: [u8; 1]| b)?;
        }
        buffer.check_structure().map_err(inconsistent)?;
        Ok(buffer)
    }
}

/// Reads `stored` frames' values and links into `frames`, checking each
/// value.
fn read_frames(r: &mut dyn Read, frames: &mut Frames, stored: usize) -> Result<(), StreamError> {
    let units = stored * frames.stride;
    match &mut frames.cells {
        Cells::F32(values) => {
            take(r, units, values, f32::from_le_bytes)?;
            if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                let value = values[index];
                return Err(inconsistent(Inconsistency::NonFinite { field: "frame", index, value }));
            }
        }
        Cells::U8(bytes) => {
            take(r, units, bytes, |[b]: [u8; 1]| b)?;
            let spec = frames.spec;
            if spec.kind == FrameKind::Bit && !spec.len.is_multiple_of(8) {
                // The last byte of each frame holds `len mod 8` cells.
                let mask = !((1u8 << (spec.len % 8)) - 1);
                if let Some(frame) = bytes.chunks_exact(frames.stride).position(|f| f[frames.stride - 1] & mask != 0) {
                    return Err(inconsistent(Inconsistency::PaddingBits { frame }));
                }
            }
        }
    }
    take(r, stored, &mut frames.back, u32::from_le_bytes)
}
