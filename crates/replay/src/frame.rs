//! What the buffer stores and what it hands back: frames of a type
//! ([`FrameSpec`], [`Frame`]), stacks of the most recent frames of an
//! episode ([`Stacking`]), and the network's `f32` input rows they become
//! ([`InputFormat`], [`FrameWindow`] for acting).

use serde::{Deserialize, Serialize};

use crate::ReplayError;

/// The element type of a frame, and how the buffer stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FrameKind {
    /// `f32` values, stored as they are (4 bytes each).
    F32,
    /// Bytes (pixels), one byte each.
    U8,
    /// Binary cells (0 or 1, handed over as bytes), one bit each.
    Bit,
}

impl FrameKind {
    /// The name a message uses.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::U8 => "u8",
            Self::Bit => "bit",
        }
    }
}

/// The most values a frame may hold: 2²⁴ (an 84×84 pixel frame holds
/// 7 056). Larger is taken for a mistake before any storage is sized.
pub const MAX_FRAME_LEN: usize = 1 << 24;

/// The most frames a stack may hold.
pub const MAX_STACK: usize = 64;

/// What one frame is: its number of values and their kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FrameSpec {
    /// Values per frame.
    pub len: usize,
    /// Their kind.
    pub kind: FrameKind,
}

impl FrameSpec {
    /// `f32` vectors of `len` values (the classic-control observations).
    #[must_use]
    pub fn vector(len: usize) -> Self {
        Self { len, kind: FrameKind::F32 }
    }

    /// Checks the size.
    ///
    /// # Errors
    /// [`ReplayError::FrameLength`] for 0 or more than [`MAX_FRAME_LEN`]
    /// values.
    pub fn check(&self) -> Result<(), ReplayError> {
        if self.len == 0 || self.len > MAX_FRAME_LEN {
            return Err(ReplayError::FrameLength { len: self.len });
        }
        Ok(())
    }

    /// Bytes one stored frame takes: 4 a value, 1 a value, or 1 a bit
    /// (rounded up to whole bytes).
    #[must_use]
    pub fn stored_bytes(&self) -> usize {
        match self.kind {
            FrameKind::F32 => self.len * 4,
            FrameKind::U8 => self.len,
            FrameKind::Bit => self.len.div_ceil(8),
        }
    }
}

/// One frame, borrowed: `f32` values, or bytes (pixels and binary cells
/// alike).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Frame<'a> {
    /// `f32` values.
    F32(&'a [f32]),
    /// Bytes: pixels, or binary cells of 0 and 1.
    U8(&'a [u8]),
}

impl Frame<'_> {
    /// The number of values.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::F32(v) => v.len(),
            Self::U8(v) => v.len(),
        }
    }

    /// Whether it holds no value.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks the frame against `spec`: its length, its type, finite `f32`
    /// values, binary cells of 0 or 1. `field` names it in the error.
    ///
    /// # Errors
    /// [`ReplayError::ObsLength`], [`ReplayError::FrameType`],
    /// [`ReplayError::NonFinite`] or [`ReplayError::NotBinary`].
    pub fn check(&self, spec: &FrameSpec, field: &'static str) -> Result<(), ReplayError> {
        if self.len() != spec.len {
            return Err(ReplayError::ObsLength { field, expected: spec.len, got: self.len() });
        }
        match (spec.kind, self) {
            (FrameKind::F32, Frame::F32(values)) => match values.iter().position(|v| !v.is_finite()) {
                Some(index) => Err(ReplayError::NonFinite { field, index, value: values[index] }),
                None => Ok(()),
            },
            (FrameKind::U8, Frame::U8(_)) => Ok(()),
            (FrameKind::Bit, Frame::U8(values)) => match values.iter().position(|&v| v > 1) {
                Some(index) => Err(ReplayError::NotBinary { field, index, value: values[index] }),
                None => Ok(()),
            },
            (expected, frame) => Err(ReplayError::FrameType { field, expected, got: frame.carrier() }),
        }
    }

    /// The kind its values travel as (`U8` carries binary cells too).
    #[must_use]
    pub fn carrier(&self) -> FrameKind {
        match self {
            Self::F32(_) => FrameKind::F32,
            Self::U8(_) => FrameKind::U8,
        }
    }
}

impl<'a> From<&'a [f32]> for Frame<'a> {
    fn from(values: &'a [f32]) -> Self {
        Self::F32(values)
    }
}

impl<'a, const N: usize> From<&'a [f32; N]> for Frame<'a> {
    fn from(values: &'a [f32; N]) -> Self {
        Self::F32(values)
    }
}

impl<'a> From<&'a Vec<f32>> for Frame<'a> {
    fn from(values: &'a Vec<f32>) -> Self {
        Self::F32(values)
    }
}

impl<'a> From<&'a [u8]> for Frame<'a> {
    fn from(values: &'a [u8]) -> Self {
        Self::U8(values)
    }
}

/// What the older places of a stack hold at an episode's start, before the
/// episode has that many frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Padding {
    /// The episode's first frame again: Gymnasium's `FrameStackObservation`
    /// (its default `padding_type="reset"`).
    #[default]
    Repeat,
    /// Zeros: Stable-Baselines3's `VecFrameStack`.
    Zeros,
}

/// How many of an episode's most recent frames make one network input,
/// and how a stack is padded at the episode's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stacking {
    /// Frames per input (1: no stacking).
    pub frames: usize,
    /// What fills the older places at an episode's start.
    #[serde(default)]
    pub padding: Padding,
    /// The environment stacks the frames itself (Gymnasium's
    /// `FrameStackObservation`): each observation is already the stack of
    /// `frames` frames, oldest first. The buffer still stores one frame a
    /// step where a stack shares all but its newest frame with the one
    /// before (checked on the values), and a stack that does not whole,
    /// so every stack it rebuilds is the one observed. `padding` then only
    /// says which episode-start stacks cost one frame.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_environment: bool,
}

impl Default for Stacking {
    fn default() -> Self {
        Self { frames: 1, padding: Padding::Repeat, by_environment: false }
    }
}

impl Stacking {
    /// Stacks of `frames` frames made by the agent, padded with `padding`.
    #[must_use]
    pub fn of(frames: usize, padding: Padding) -> Self {
        Self { frames, padding, by_environment: false }
    }
}

/// How frames become the network's input: `stacking.frames` frames of
/// `frame`, oldest first, each value converted to `f32` and multiplied by
/// `scale` (1/255 for pixels, 1 for binary planes and vectors).
///
/// A byte `v` becomes `(v as f64 · scale) as f32` (one rounding, through a
/// table of the 256 values), a binary cell `0.0` or `scale as f32`, an
/// `f32` value `v · scale as f32` (itself when `scale` is 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InputFormat {
    /// What one frame is.
    pub frame: FrameSpec,
    /// How many make an input.
    pub stacking: Stacking,
    /// The factor every value is multiplied by.
    pub scale: f64,
}

impl InputFormat {
    /// `f32` vectors of `len` values, one per input, unscaled: the
    /// classic-control input.
    #[must_use]
    pub fn vector(len: usize) -> Self {
        Self { frame: FrameSpec::vector(len), stacking: Stacking::default(), scale: 1.0 }
    }

    /// Checks the frame, the stack and the scale.
    ///
    /// # Errors
    /// [`ReplayError::FrameLength`], [`ReplayError::Stacking`] or
    /// [`ReplayError::Scale`].
    pub fn check(&self) -> Result<(), ReplayError> {
        self.frame.check()?;
        if !(1..=MAX_STACK).contains(&self.stacking.frames) {
            return Err(ReplayError::Stacking { frames: self.stacking.frames });
        }
        if self.frame.len.checked_mul(self.stacking.frames).is_none_or(|n| n > MAX_FRAME_LEN) {
            return Err(ReplayError::FrameLength { len: self.frame.len.saturating_mul(self.stacking.frames) });
        }
        let scaled_max = match self.frame.kind {
            FrameKind::U8 => self.scale * 255.0,
            FrameKind::F32 | FrameKind::Bit => self.scale,
        };
        if !(self.scale.is_finite() && self.scale != 0.0 && (scaled_max as f32).is_finite()) {
            return Err(ReplayError::Scale { scale: self.scale });
        }
        Ok(())
    }

    /// Values in one input row: `stacking.frames × frame.len`.
    #[must_use]
    pub fn row_len(&self) -> usize {
        self.stacking.frames * self.frame.len
    }

    /// What one observation is: a frame, or the whole stack when the
    /// environment stacks ([`Stacking::by_environment`]).
    #[must_use]
    pub fn observation(&self) -> FrameSpec {
        if self.stacking.by_environment { FrameSpec { len: self.row_len(), kind: self.frame.kind } } else { self.frame }
    }

    /// The converter of this format's frames.
    pub(crate) fn converter(&self) -> Converter {
        Converter::new(self)
    }
}

/// Converts stored or borrowed frames into `f32` input values.
#[derive(Debug, Clone)]
pub(crate) struct Converter {
    kind: FrameKind,
    scale: f32,
    /// Each byte's value, for `U8` frames.
    bytes: Box<[f32; 256]>,
    /// Each byte of packed bits as its eight values, for `Bit` frames.
    bits: Box<[[f32; 8]; 256]>,
}

impl Converter {
    fn new(format: &InputFormat) -> Self {
        let scale = format.scale as f32;
        let bytes = Box::new(std::array::from_fn(|v| (v as f64 * format.scale) as f32));
        let bits =
            Box::new(std::array::from_fn(|b| std::array::from_fn(|i| if b >> i & 1 == 1 { scale } else { 0.0 })));
        Self { kind: format.frame.kind, scale, bytes, bits }
    }

    /// Each byte's value: what a stored byte (or a bit, as 0 or 1) becomes.
    pub(crate) fn byte_table(&self) -> &[f32; 256] {
        &self.bytes
    }

    /// Writes a borrowed frame's values into `out` (of its length).
    pub(crate) fn frame(&self, frame: Frame<'_>, out: &mut [f32]) {
        match frame {
            Frame::F32(values) => self.f32s(values, out),
            Frame::U8(values) => match self.kind {
                FrameKind::Bit => {
                    for (o, &v) in out.iter_mut().zip(values) {
                        *o = if v == 0 { 0.0 } else { self.scale };
                    }
                }
                _ => self.u8s(values, out),
            },
        }
    }

    pub(crate) fn f32s(&self, values: &[f32], out: &mut [f32]) {
        if self.scale == 1.0 {
            out.copy_from_slice(values);
        } else {
            for (o, &v) in out.iter_mut().zip(values) {
                *o = v * self.scale;
            }
        }
    }

    pub(crate) fn u8s(&self, values: &[u8], out: &mut [f32]) {
        for (o, &v) in out.iter_mut().zip(values) {
            *o = self.bytes[usize::from(v)];
        }
    }

    /// Unpacks `packed` bits (least significant first) into `out`'s values.
    pub(crate) fn packed_bits(&self, packed: &[u8], out: &mut [f32]) {
        let whole = out.len() / 8;
        let mut chunks = out.chunks_exact_mut(8);
        for (chunk, &byte) in (&mut chunks).zip(packed) {
            chunk.copy_from_slice(&self.bits[usize::from(byte)]);
        }
        let rest = chunks.into_remainder();
        if let Some(&byte) = packed.get(whole) {
            rest.copy_from_slice(&self.bits[usize::from(byte)][..rest.len()]);
        }
    }
}

/// The recent frames of one episode, for acting: the stack the buffer would
/// rebuild for the current observation, made without the buffer (greedy
/// evaluation, or acting before anything is stored). Push each
/// observation; [`input`](Self::input) is the input row.
#[derive(Debug, Clone)]
pub struct FrameWindow {
    format: InputFormat,
    converter: Converter,
    /// The last `frames` frames converted to `f32`, oldest first, as one
    /// input row.
    row: Vec<f32>,
    /// Frames pushed since the episode started.
    seen: usize,
}

impl FrameWindow {
    /// An empty window for inputs of `format` (checked).
    ///
    /// # Errors
    /// As [`InputFormat::check`].
    pub fn new(format: InputFormat) -> Result<Self, ReplayError> {
        format.check()?;
        Ok(Self { converter: format.converter(), row: vec![0.0; format.row_len()], seen: 0, format })
    }

    /// Adds the next observation of the episode; `first` starts a new
    /// episode (the older places are padded as the format says). An
    /// observation that is a whole stack ([`Stacking::by_environment`]) is
    /// the row itself.
    ///
    /// # Errors
    /// As [`Frame::check`]; the window is unchanged then.
    pub fn push(&mut self, frame: Frame<'_>, first: bool) -> Result<(), ReplayError> {
        frame.check(&self.format.observation(), "observation")?;
        if self.format.stacking.by_environment {
            self.converter.frame(frame, &mut self.row);
            return Ok(());
        }
        let len = self.format.frame.len;
        if first {
            self.seen = 0;
        }
        let k = self.format.stacking.frames;
        // Shift the stack one frame older, then write the newest.
        self.row.copy_within(len.., 0);
        self.converter.frame(frame, &mut self.row[(k - 1) * len..]);
        self.seen += 1;
        if self.seen < k {
            // The places older than the episode's first frame.
            let first_frame = (k - self.seen) * len;
            match self.format.stacking.padding {
                Padding::Zeros => self.row[..first_frame].fill(0.0),
                Padding::Repeat => {
                    for place in 0..k - self.seen {
                        self.row.copy_within(first_frame..first_frame + len, place * len);
                    }
                }
            }
        }
        Ok(())
    }

    /// The input row of the current stack.
    #[must_use]
    pub fn input(&self) -> &[f32] {
        &self.row
    }

    /// The format.
    #[must_use]
    pub fn format(&self) -> &InputFormat {
        &self.format
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(kind: FrameKind, len: usize, frames: usize, padding: Padding, scale: f64) -> InputFormat {
        InputFormat { frame: FrameSpec { len, kind }, stacking: Stacking::of(frames, padding), scale }
    }

    /// A byte over 255 is PyTorch's `x / 255.0` in f32, bit for bit, for
    /// every byte.
    #[test]
    fn bytes_scale_as_a_division_by_255() {
        let c = format(FrameKind::U8, 1, 1, Padding::Repeat, 1.0 / 255.0).converter();
        for v in 0..=255u8 {
            assert_eq!(c.bytes[usize::from(v)].to_bits(), (f32::from(v) / 255.0).to_bits(), "{v}");
        }
    }

    #[test]
    fn bits_unpack_least_significant_first() {
        let c = format(FrameKind::Bit, 11, 1, Padding::Repeat, 1.0).converter();
        let mut out = [9.0; 11];
        c.packed_bits(&[0b1000_0101, 0b0000_0110], &mut out);
        assert_eq!(out, [1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0]);
    }

    /// Hand-worked stacks of three frames of two values: Gymnasium's
    /// repeat-padding and SB3's zero-padding, and a new episode.
    #[test]
    fn windows_pad_as_configured() {
        let frames: [[f32; 2]; 4] = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]];
        let mut repeat = FrameWindow::new(format(FrameKind::F32, 2, 3, Padding::Repeat, 1.0)).unwrap();
        let mut zeros = FrameWindow::new(format(FrameKind::F32, 2, 3, Padding::Zeros, 1.0)).unwrap();
        let expect_repeat = [
            vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0],
            vec![1.0, 2.0, 1.0, 2.0, 3.0, 4.0],
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            vec![3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        ];
        let expect_zeros = [
            vec![0.0, 0.0, 0.0, 0.0, 1.0, 2.0],
            vec![0.0, 0.0, 1.0, 2.0, 3.0, 4.0],
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            vec![3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        ];
        for (t, f) in frames.iter().enumerate() {
            repeat.push(f.into(), t == 0).unwrap();
            zeros.push(f.into(), t == 0).unwrap();
            assert_eq!(repeat.input(), expect_repeat[t].as_slice(), "repeat t={t}");
            assert_eq!(zeros.input(), expect_zeros[t].as_slice(), "zeros t={t}");
        }
        repeat.push((&[9.0, 9.5]).into(), true).unwrap();
        assert_eq!(repeat.input(), [9.0, 9.5, 9.0, 9.5, 9.0, 9.5]);
        assert!(repeat.push((&[1.0]).into(), false).is_err());
        assert!(repeat.push((&[f32::NAN, 1.0]).into(), false).is_err());
        assert_eq!(repeat.input(), [9.0, 9.5, 9.0, 9.5, 9.0, 9.5], "a refused frame changes nothing");
    }

    #[test]
    fn formats_are_checked() {
        assert!(format(FrameKind::U8, 0, 1, Padding::Repeat, 1.0).check().is_err());
        assert!(format(FrameKind::U8, 4, 0, Padding::Repeat, 1.0).check().is_err());
        assert!(format(FrameKind::U8, 4, 65, Padding::Repeat, 1.0).check().is_err());
        assert!(format(FrameKind::U8, 1 << 20, 32, Padding::Repeat, 1.0).check().is_err());
        for scale in [0.0, f64::NAN, f64::INFINITY, 1e300] {
            assert!(format(FrameKind::U8, 4, 1, Padding::Repeat, scale).check().is_err(), "{scale}");
        }
        let bits = FrameSpec { len: 100 * 4, kind: FrameKind::Bit };
        assert_eq!(bits.stored_bytes(), 50);
        let mut cells = vec![0u8; 400];
        cells[7] = 3;
        assert!(matches!(
            Frame::U8(&cells).check(&bits, "state"),
            Err(ReplayError::NotBinary { field: "state", index: 7, value: 3 })
        ));
        assert!(matches!(
            Frame::F32(&[0.0; 400]).check(&bits, "state"),
            Err(ReplayError::FrameType { expected: FrameKind::Bit, got: FrameKind::F32, .. })
        ));
    }
}
