//! A batch's input rows as the passes read them: values, or bytes that
//! stand for values (pixels, binary planes), converted on the way into the
//! first layer so that a batch of frames is never copied whole as `T`.

use ndarray::{ArrayView2, CowArray, Ix2};

use crate::{MlpError, Operand, Scalar};

/// Input rows, `[rows, input_dim]`: values, or bytes each read as its entry
/// of a 256-value table.
///
/// With bytes, a first convolution unfolds its patches straight from them
/// (each value looked up as it is placed), and a first linear layer reads
/// them converted one chunk of rows at a time: no copy of the whole batch
/// as `T` is made. The table makes the conversion exact and explicit: a
/// row of bytes gives the same bits as the row of its table values.
#[derive(Debug, Clone, Copy)]
pub enum Inputs<'a, T> {
    /// The values themselves.
    Values(ArrayView2<'a, T>),
    /// Bytes; byte `b` is the value `table[b]`.
    Bytes {
        /// The rows of bytes.
        rows: ArrayView2<'a, u8>,
        /// What each byte stands for (`b / 255` for pixels, `b` for
        /// binary planes).
        table: &'a [T; 256],
    },
}

impl<'a, T> From<ArrayView2<'a, T>> for Inputs<'a, T> {
    fn from(values: ArrayView2<'a, T>) -> Self {
        Self::Values(values)
    }
}

impl<T> Inputs<'_, T> {
    /// `(rows, row width)`.
    #[must_use]
    pub fn dim(&self) -> (usize, usize) {
        match self {
            Self::Values(v) => v.dim(),
            Self::Bytes { rows, .. } => rows.dim(),
        }
    }
}

/// Inputs made contiguous and checked finite (values, or the table a byte
/// could name), held for the length of a pass.
pub(crate) enum CheckedInputs<'a, T: Scalar> {
    Values(CowArray<'a, T, Ix2>),
    Bytes(CowArray<'a, u8, Ix2>, &'a [T; 256]),
}

impl<'a, T: Scalar> CheckedInputs<'a, T> {
    /// # Errors
    /// [`MlpError::NonFinite`] naming `what` and the first non-finite value
    /// (for bytes, the first byte whose table value is not finite).
    pub(crate) fn new(inputs: Inputs<'a, T>, what: Operand) -> Result<Self, MlpError> {
        let checked = match inputs {
            Inputs::Values(v) => Self::Values(contiguous(v)),
            Inputs::Bytes { rows, table } => Self::Bytes(contiguous(rows), table),
        };
        let bad = match &checked {
            Self::Values(v) => v.as_slice().expect("standard layout is contiguous").iter().position(|v| !v.is_finite()),
            Self::Bytes(b, table) => match table.iter().all(|v| v.is_finite()) {
                true => None,
                false => {
                    b.as_slice().expect("standard layout").iter().position(|&b| !table[usize::from(b)].is_finite())
                }
            },
        };
        match bad {
            Some(index) => Err(MlpError::NonFinite { what, index }),
            None => Ok(checked),
        }
    }

    pub(crate) fn rows(&self) -> RowSource<'_, T> {
        match self {
            Self::Values(v) => RowSource::Values(v.as_slice().expect("standard layout is contiguous")),
            Self::Bytes(b, table) => RowSource::Bytes(b.as_slice().expect("standard layout is contiguous"), table),
        }
    }
}

/// The view itself when it is row-major and contiguous, else a copy that is.
fn contiguous<E: Clone>(view: ArrayView2<'_, E>) -> CowArray<'_, E, Ix2> {
    if view.is_standard_layout() { CowArray::from(view) } else { CowArray::from(view.to_owned()) }
}

/// Contiguous input rows, row-major, as a chunk reads them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RowSource<'a, T> {
    Values(&'a [T]),
    Bytes(&'a [u8], &'a [T; 256]),
}

impl<'a, T: Scalar> RowSource<'a, T> {
    /// Rows `r0..r1` of rows `width` long.
    pub(crate) fn rows(self, r0: usize, r1: usize, width: usize) -> Self {
        match self {
            Self::Values(v) => Self::Values(&v[r0 * width..r1 * width]),
            Self::Bytes(b, table) => Self::Bytes(&b[r0 * width..r1 * width], table),
        }
    }

    /// The values, written into `out` (replacing what it held).
    pub(crate) fn write_values(self, out: &mut Vec<T>) {
        out.clear();
        match self {
            Self::Values(v) => out.extend_from_slice(v),
            Self::Bytes(b, table) => out.extend(b.iter().map(|&b| table[usize::from(b)])),
        }
    }
}
