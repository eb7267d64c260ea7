//! What an observation is — its shape and element type ([`ObsSpace`]) —
//! and observations as values: borrowed ([`Obs`], [`ObsMut`]) and the rows
//! of a batch in one buffer ([`ObsBuf`]).

use serde::{Deserialize, Serialize};

use crate::{EnvError, OutputProblem};

/// The element type of an observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ObsType {
    /// `f32` values: classic control's state vectors.
    F32,
    /// Bytes from 0 to 255: pixels.
    U8,
    /// Binary cells, 0 or 1, carried as one byte each (MinAtar's and
    /// Catch's planes); a replay buffer stores them as one bit each.
    Bit,
}

impl ObsType {
    /// The name a configuration and a message use.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::U8 => "u8",
            Self::Bit => "bit",
        }
    }
}

/// The most values one observation may hold: 2²⁴ (an Atari stack of four
/// 84×84 frames holds 28 224). Larger is taken for a mistake, before any
/// buffer is sized from it.
pub const MAX_OBS_LEN: usize = 1 << 24;

/// The observations of an environment: a shape (`[4]` for CartPole's
/// vector, `[C, H, W]` for planes or pixels, channel first) and an element
/// type. Every observation the environment gives has exactly
/// [`len`](Self::len) values of that type, row-major.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "StoredObsSpace")]
pub struct ObsSpace {
    shape: Vec<usize>,
    dtype: ObsType,
}

/// An [`ObsSpace`] as stored, before it is checked.
#[derive(Deserialize)]
struct StoredObsSpace {
    shape: Vec<usize>,
    dtype: ObsType,
}

impl TryFrom<StoredObsSpace> for ObsSpace {
    type Error = EnvError;

    fn try_from(s: StoredObsSpace) -> Result<Self, EnvError> {
        Self::new(s.shape, s.dtype)
    }
}

impl ObsSpace {
    /// Observations of `shape` and element type `dtype`.
    ///
    /// # Errors
    /// [`EnvError::ObsShape`] for no dimension, a dimension of 0, or more
    /// than [`MAX_OBS_LEN`] values.
    pub fn new(shape: Vec<usize>, dtype: ObsType) -> Result<Self, EnvError> {
        let len = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if shape.is_empty() || shape.contains(&0) || len.is_none_or(|n| n > MAX_OBS_LEN) {
            return Err(EnvError::ObsShape { shape });
        }
        Ok(Self { shape, dtype })
    }

    /// A vector of `len` `f32` values.
    ///
    /// # Panics
    /// For `len` 0 or beyond [`MAX_OBS_LEN`]: the environment's own
    /// constant is wrong.
    #[must_use]
    pub fn vector(len: usize) -> Self {
        Self::new(vec![len], ObsType::F32).expect("an environment's observation length is 1..=MAX_OBS_LEN")
    }

    /// The shape, channel first for images.
    #[must_use]
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The element type.
    #[must_use]
    pub fn dtype(&self) -> ObsType {
        self.dtype
    }

    /// The number of values in one observation (the shape's product).
    #[must_use]
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Always false: an observation holds at least one value.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Checks one observation's values: `f32` values finite, binary cells 0
    /// or 1 (bytes are any byte).
    ///
    /// # Errors
    /// The problem, with the index of the first bad value.
    pub fn check_values(&self, obs: Obs<'_>) -> Result<(), OutputProblem> {
        match (self.dtype, obs) {
            (ObsType::F32, Obs::F32(values)) => match values.iter().position(|v| !v.is_finite()) {
                Some(index) => Err(OutputProblem::NonFinite { index, value: f64::from(values[index]) }),
                None => Ok(()),
            },
            (ObsType::Bit, Obs::U8(values)) => match values.iter().position(|&v| v > 1) {
                Some(index) => Err(OutputProblem::NotBinary { index, value: values[index] }),
                None => Ok(()),
            },
            (ObsType::U8, Obs::U8(_)) => Ok(()),
            (expected, obs) => Err(OutputProblem::Type { expected, got: obs.carrier() }),
        }
    }
}

/// One observation (or several, row after row), borrowed: `f32` values, or
/// bytes (pixels and binary cells alike).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Obs<'a> {
    /// `f32` values.
    F32(&'a [f32]),
    /// Bytes: pixels, or binary cells of 0 and 1.
    U8(&'a [u8]),
}

impl<'a> Obs<'a> {
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

    /// The type its values travel as: [`ObsType::F32`] or [`ObsType::U8`]
    /// (which carries binary cells too).
    #[must_use]
    pub fn carrier(&self) -> ObsType {
        match self {
            Self::F32(_) => ObsType::F32,
            Self::U8(_) => ObsType::U8,
        }
    }

    /// The `f32` values, if these are.
    #[must_use]
    pub fn as_f32(&self) -> Option<&'a [f32]> {
        match *self {
            Self::F32(v) => Some(v),
            Self::U8(_) => None,
        }
    }

    /// Row `i` of rows of `len` values (`None` beyond the last).
    #[must_use]
    pub fn row(&self, i: usize, len: usize) -> Option<Obs<'a>> {
        let range = i.checked_mul(len)?..i.checked_add(1)?.checked_mul(len)?;
        match *self {
            Self::F32(v) => v.get(range).map(Obs::F32),
            Self::U8(v) => v.get(range).map(Obs::U8),
        }
    }
}

impl<'a> From<&'a [f32]> for Obs<'a> {
    fn from(values: &'a [f32]) -> Self {
        Self::F32(values)
    }
}

impl<'a> From<&'a [u8]> for Obs<'a> {
    fn from(values: &'a [u8]) -> Self {
        Self::U8(values)
    }
}

/// Where an environment writes an observation: `f32` values, or bytes.
#[derive(Debug, PartialEq)]
pub enum ObsMut<'a> {
    /// `f32` values.
    F32(&'a mut [f32]),
    /// Bytes: pixels, or binary cells of 0 and 1.
    U8(&'a mut [u8]),
}

impl ObsMut<'_> {
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

    /// The same buffer, borrowed again for a shorter time.
    pub fn reborrow(&mut self) -> ObsMut<'_> {
        match self {
            Self::F32(v) => ObsMut::F32(v),
            Self::U8(v) => ObsMut::U8(v),
        }
    }

    /// The type its values travel as.
    #[must_use]
    pub fn carrier(&self) -> ObsType {
        match self {
            Self::F32(_) => ObsType::F32,
            Self::U8(_) => ObsType::U8,
        }
    }
}

impl<'a> From<&'a mut [f32]> for ObsMut<'a> {
    fn from(values: &'a mut [f32]) -> Self {
        Self::F32(values)
    }
}

impl<'a> From<&'a mut [u8]> for ObsMut<'a> {
    fn from(values: &'a mut [u8]) -> Self {
        Self::U8(values)
    }
}

/// The element an environment's observation is made of, for code generic
/// over it ([`Dynamics::Element`](crate::Dynamics::Element)): `f32` or
/// `u8`.
pub trait ObsElement: Copy + Default + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    /// The type these values travel as.
    const CARRIER: ObsType;
    /// The values of `obs`, if they are of this type.
    fn values_mut<'a>(obs: ObsMut<'a>) -> Option<&'a mut [Self]>;
    /// The index of the first value that is not finite (`f32` only).
    fn first_non_finite(values: &[Self]) -> Option<usize>;
}

impl ObsElement for f32 {
    const CARRIER: ObsType = ObsType::F32;

    fn values_mut<'a>(obs: ObsMut<'a>) -> Option<&'a mut [Self]> {
        match obs {
            ObsMut::F32(v) => Some(v),
            ObsMut::U8(_) => None,
        }
    }

    fn first_non_finite(values: &[Self]) -> Option<usize> {
        values.iter().position(|v| !v.is_finite())
    }
}

impl ObsElement for u8 {
    const CARRIER: ObsType = ObsType::U8;

    fn values_mut<'a>(obs: ObsMut<'a>) -> Option<&'a mut [Self]> {
        match obs {
            ObsMut::U8(v) => Some(v),
            ObsMut::F32(_) => None,
        }
    }

    fn first_non_finite(_: &[Self]) -> Option<usize> {
        None
    }
}

/// Observations of several environments (or steps) in one buffer, row
/// after row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ObsBuf {
    /// `f32` values.
    F32(Vec<f32>),
    /// Bytes.
    U8(Vec<u8>),
}

impl ObsBuf {
    /// `rows` observations of `space`, every value 0.
    ///
    /// # Errors
    /// [`EnvError::ObsShape`] if the buffer's size overflows.
    pub fn zeros(space: &ObsSpace, rows: usize) -> Result<Self, EnvError> {
        let n = rows.checked_mul(space.len()).ok_or_else(|| EnvError::ObsShape { shape: space.shape.clone() })?;
        Ok(match space.dtype {
            ObsType::F32 => Self::F32(vec![0.0; n]),
            ObsType::U8 | ObsType::Bit => Self::U8(vec![0; n]),
        })
    }

    /// The whole buffer.
    #[must_use]
    pub fn as_obs(&self) -> Obs<'_> {
        match self {
            Self::F32(v) => Obs::F32(v),
            Self::U8(v) => Obs::U8(v),
        }
    }

    /// The whole buffer, to write.
    pub fn as_obs_mut(&mut self) -> ObsMut<'_> {
        match self {
            Self::F32(v) => ObsMut::F32(v),
            Self::U8(v) => ObsMut::U8(v),
        }
    }

    /// The number of values.
    #[must_use]
    pub fn len(&self) -> usize {
        self.as_obs().len()
    }

    /// Whether it holds no value.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i` of rows of `len` values.
    ///
    /// # Panics
    /// If the row is beyond the buffer (a caller's bug: rows are counted
    /// from the sizes the buffer was made with).
    #[must_use]
    pub fn row(&self, i: usize, len: usize) -> Obs<'_> {
        self.as_obs().row(i, len).expect("a row inside the buffer")
    }

    /// Row `i` of rows of `len` values, to write.
    ///
    /// # Panics
    /// As [`row`](Self::row).
    pub fn row_mut(&mut self, i: usize, len: usize) -> ObsMut<'_> {
        let range = i * len..(i + 1) * len;
        match self {
            Self::F32(v) => ObsMut::F32(&mut v[range]),
            Self::U8(v) => ObsMut::U8(&mut v[range]),
        }
    }

    /// Appends `other`'s values (of the same type) after this buffer's.
    ///
    /// # Panics
    /// If the types differ: a caller's bug.
    pub fn extend(&mut self, other: &Self) {
        match (self, other) {
            (Self::F32(to), Self::F32(from)) => to.extend_from_slice(from),
            (Self::U8(to), Self::U8(from)) => to.extend_from_slice(from),
            _ => panic!("rows of one type extend the same type"),
        }
    }

    /// Copies row `i` of `from` (rows of `len` values, of the same type)
    /// into row `i` of this buffer.
    ///
    /// # Panics
    /// If the types differ or the row is beyond either buffer: a caller's
    /// bug.
    pub fn copy_row(&mut self, from: &Self, i: usize, len: usize) {
        let range = i * len..(i + 1) * len;
        match (self, from) {
            (Self::F32(to), Self::F32(from)) => to[range.clone()].copy_from_slice(&from[range]),
            (Self::U8(to), Self::U8(from)) => to[range.clone()].copy_from_slice(&from[range]),
            _ => panic!("rows of one type copy into the same type"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_are_checked_and_values_too() {
        assert!(ObsSpace::new(vec![], ObsType::F32).is_err());
        assert!(ObsSpace::new(vec![3, 0], ObsType::U8).is_err());
        assert!(ObsSpace::new(vec![usize::MAX, 2], ObsType::U8).is_err());
        assert!(ObsSpace::new(vec![1 << 12, 1 << 12, 2], ObsType::U8).is_err());
        let planes = ObsSpace::new(vec![2, 10, 5], ObsType::Bit).unwrap();
        assert_eq!(planes.len(), 100);
        let mut cells = vec![0u8; 100];
        assert_eq!(planes.check_values(Obs::U8(&cells)), Ok(()));
        cells[37] = 2;
        assert_eq!(planes.check_values(Obs::U8(&cells)), Err(OutputProblem::NotBinary { index: 37, value: 2 }));
        let wrong = planes.check_values(Obs::F32(&[0.0; 100]));
        assert_eq!(wrong, Err(OutputProblem::Type { expected: ObsType::Bit, got: ObsType::F32 }));
        let vector = ObsSpace::vector(3);
        let bad = vector.check_values(Obs::F32(&[0.0, f32::NAN, 1.0])).unwrap_err();
        assert!(matches!(bad, OutputProblem::NonFinite { index: 1, .. }));
    }

    #[test]
    fn rows_of_a_buffer() {
        let space = ObsSpace::new(vec![2], ObsType::U8).unwrap();
        let mut a = ObsBuf::zeros(&space, 3).unwrap();
        if let ObsMut::U8(row) = a.row_mut(1, 2) {
            row.copy_from_slice(&[7, 9]);
        }
        assert_eq!(a.row(1, 2), Obs::U8(&[7, 9]));
        let mut b = ObsBuf::zeros(&space, 3).unwrap();
        b.copy_row(&a, 1, 2);
        assert_eq!(b, a);
        assert_eq!(a.as_obs().row(3, 2), None);
        assert_eq!(a.as_obs().row(usize::MAX, 2), None);
    }
}
