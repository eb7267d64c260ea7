//! Parameter tensors in PyTorch's state-dict layout and names, shared by the
//! parameters, their gradients and Adam's moments; clamping, finiteness
//! checks, and the checked stored form.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Zip};
use serde::{Deserialize, Serialize};

use rayon::prelude::*;

use crate::kernel::{Job, PIECE, for_each_piece, vectorized};
use crate::{MlpError, Operand, Scalar};

/// One linear layer's tensors, in PyTorch's layout: `weight` is
/// `[out, in]`, `bias` is `[out]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerParams<T> {
    /// `[out, in]`.
    pub weight: Array2<T>,
    /// `[out]`.
    pub bias: Array1<T>,
}

/// A set of tensors shaped like a network's parameters: the parameters
/// themselves, their gradients, or Adam's moments.
///
/// Layer `l` (0-based) is named `fc{l+1}` as in the seed's PyTorch model, so
/// the tensors are `fc1.weight`, `fc1.bias`, `fc2.weight`, …
///
/// Read back (serde), it goes through [`StoredLayer`]'s checks and
/// [`Params::from_stored`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<StoredLayer<T>>", into = "Vec<LayerParams<T>>", bound = "T: Scalar")]
pub struct Params<T: Scalar> {
    layers: Vec<LayerParams<T>>,
}

/// Gradients have the shape of the parameters.
pub type Gradients<T> = Params<T>;

/// A named tensor view, weight or bias.
#[derive(Debug, Clone)]
pub enum TensorView<'a, T> {
    /// A weight, `[out, in]`.
    Weight(ArrayView2<'a, T>),
    /// A bias, `[out]`.
    Bias(ArrayView1<'a, T>),
}

impl<T> TensorView<'_, T> {
    /// The shape, as PyTorch reports it.
    #[must_use]
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Self::Weight(w) => w.shape().to_vec(),
            Self::Bias(b) => b.shape().to_vec(),
        }
    }

    /// The values, row-major.
    pub fn iter(&self) -> Box<dyn Iterator<Item = &T> + '_> {
        match self {
            Self::Weight(w) => Box::new(w.iter()),
            Self::Bias(b) => Box::new(b.iter()),
        }
    }
}

/// The two tensors of a linear layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TensorKind {
    /// `[out, in]`.
    Weight,
    /// `[out]`.
    Bias,
}

/// The name of layer `layer`'s weight or bias (0-based layer), as in
/// PyTorch's state dict: `fc1.weight`, `fc1.bias`, `fc2.weight`, …
#[must_use]
pub fn tensor_name(layer: usize, kind: TensorKind) -> String {
    let suffix = match kind {
        TensorKind::Weight => "weight",
        TensorKind::Bias => "bias",
    };
    format!("fc{}.{suffix}", layer + 1)
}

pub(crate) fn check_sizes(sizes: &[usize]) -> Result<(), MlpError> {
    if sizes.len() < 2 {
        return Err(MlpError::TooFewSizes { got: sizes.len() });
    }
    match sizes.iter().position(|&s| s == 0) {
        Some(index) => Err(MlpError::ZeroSize { index }),
        None => Ok(()),
    }
}

/// A layer as stored (ndarray's serialized form of its two tensors), before
/// it is checked: decode this and convert it with [`Params::from_stored`]
/// to keep the typed error of a misshapen tensor (ndarray's own check of a
/// stored array raises an error whose message some formats, postcard among
/// them, drop).
#[derive(Debug, Clone, Deserialize)]
#[serde(bound = "T: Scalar")]
pub struct StoredLayer<T> {
    weight: StoredArray<[usize; 2], T>,
    bias: StoredArray<[usize; 1], T>,
}

/// ndarray's serialized array: its format version, shape and values.
#[derive(Debug, Clone, Deserialize)]
struct StoredArray<D, T> {
    v: u8,
    dim: D,
    data: Vec<T>,
}

/// The format version ndarray writes.
const ARRAY_FORMAT: u8 = 1;

impl<D: AsRef<[usize]>, T> StoredArray<D, T> {
    /// Checks the format version and that the values fill the shape
    /// exactly (every axis at least 1, the product formed with checks).
    fn check(&self, name: impl Fn() -> String) -> Result<(), MlpError> {
        if self.v != ARRAY_FORMAT {
            return Err(MlpError::ArrayFormat { name: name(), found: self.v });
        }
        let shape = self.dim.as_ref();
        let product = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if shape.contains(&0) || product != Some(self.data.len()) {
            return Err(MlpError::TensorValues { name: name(), shape: shape.to_vec(), values: self.data.len() });
        }
        Ok(())
    }
}

impl<T: Scalar> TryFrom<Vec<StoredLayer<T>>> for Params<T> {
    type Error = MlpError;

    fn try_from(layers: Vec<StoredLayer<T>>) -> Result<Self, MlpError> {
        Self::from_stored(layers)
    }
}

impl<T: Scalar> From<Params<T>> for Vec<LayerParams<T>> {
    fn from(params: Params<T>) -> Self {
        params.layers
    }
}

impl<T: Scalar> Params<T> {
    /// All-zero tensors for a network of layer widths `sizes` (input first).
    ///
    /// # Errors
    /// [`MlpError::TooFewSizes`] or [`MlpError::ZeroSize`].
    pub fn zeros(sizes: &[usize]) -> Result<Self, MlpError> {
        check_sizes(sizes)?;
        let layers = sizes
            .windows(2)
            .map(|w| LayerParams {
                weight: Array2::from_elem((w[1], w[0]), T::ZERO),
                bias: Array1::from_elem(w[1], T::ZERO),
            })
            .collect();
        Ok(Self { layers })
    }

    /// Builds a set from its stored layers (see [`StoredLayer`]).
    ///
    /// # Errors
    /// [`MlpError::TensorShape`] for a tensor whose values do not fill its
    /// shape (or of another array format), and as
    /// [`from_layers`](Self::from_layers).
    pub fn from_stored(stored: Vec<StoredLayer<T>>) -> Result<Self, MlpError> {
        let mut layers = Vec::with_capacity(stored.len());
        for (l, StoredLayer { weight, bias }) in stored.into_iter().enumerate() {
            let weight_name = || tensor_name(l, TensorKind::Weight);
            weight.check(weight_name)?;
            bias.check(|| tensor_name(l, TensorKind::Bias))?;
            let [out, inp] = weight.dim;
            // ndarray has limits of its own (a shape's size must fit an
            // isize): refused as a misshapen tensor, not unwrapped.
            let values = weight.data.len();
            let weight = Array2::from_shape_vec((out, inp), weight.data).map_err(|_| MlpError::TensorValues {
                name: weight_name(),
                shape: vec![out, inp],
                values,
            })?;
            layers.push(LayerParams { weight, bias: Array1::from(bias.data) });
        }
        Self::from_layers(layers)
    }

    /// Builds a set from its layers.
    ///
    /// # Errors
    /// [`MlpError::TooFewSizes`] for no layers, and
    /// [`MlpError::TensorShape`] where a layer's input width differs from the
    /// previous layer's output or a bias from its weight.
    pub fn from_layers(mut layers: Vec<LayerParams<T>>) -> Result<Self, MlpError> {
        // The kernels read tensors as row-major slices.
        for layer in &mut layers {
            if !layer.weight.is_standard_layout() {
                layer.weight = layer.weight.as_standard_layout().into_owned();
            }
            if !layer.bias.is_standard_layout() {
                layer.bias = layer.bias.as_standard_layout().into_owned();
            }
        }
        if layers.is_empty() {
            return Err(MlpError::TooFewSizes { got: 0 });
        }
        for (l, layer) in layers.iter().enumerate() {
            let (out, inp) = layer.weight.dim();
            if layer.bias.len() != out {
                return Err(MlpError::TensorShape {
                    name: tensor_name(l, TensorKind::Bias),
                    expected: vec![out],
                    got: vec![layer.bias.len()],
                });
            }
            if l > 0 {
                let prev_out = layers[l - 1].weight.nrows();
                if inp != prev_out {
                    return Err(MlpError::TensorShape {
                        name: tensor_name(l, TensorKind::Weight),
                        expected: vec![out, prev_out],
                        got: vec![out, inp],
                    });
                }
            }
            if out == 0 || inp == 0 {
                return Err(MlpError::ZeroSize { index: if inp == 0 { l } else { l + 1 } });
            }
        }
        Ok(Self { layers })
    }

    /// The layer widths, input first.
    #[must_use]
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![self.layers[0].weight.ncols()];
        sizes.extend(self.layers.iter().map(|l| l.weight.nrows()));
        sizes
    }

    /// The layers, first to last.
    #[must_use]
    pub fn layers(&self) -> &[LayerParams<T>] {
        &self.layers
    }

    pub(crate) fn layers_mut(&mut self) -> &mut [LayerParams<T>] {
        &mut self.layers
    }

    /// The tensors with their PyTorch names, in state-dict order.
    pub fn named_tensors(&self) -> impl Iterator<Item = (String, TensorView<'_, T>)> + '_ {
        self.layers.iter().enumerate().flat_map(|(l, layer)| {
            [
                (tensor_name(l, TensorKind::Weight), TensorView::Weight(layer.weight.view())),
                (tensor_name(l, TensorKind::Bias), TensorView::Bias(layer.bias.view())),
            ]
        })
    }

    /// The number of scalars.
    #[must_use]
    pub fn len(&self) -> usize {
        self.layers.iter().map(|l| l.weight.len() + l.bias.len()).sum()
    }

    /// Whether there are no scalars (never, for a valid set).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `other` has the same tensor shapes (allocates nothing).
    #[must_use]
    pub fn same_shape(&self, other: &Self) -> bool {
        self.layers.len() == other.layers.len()
            && self
                .layers
                .iter()
                .zip(&other.layers)
                .all(|(a, b)| a.weight.dim() == b.weight.dim() && a.bias.len() == b.bias.len())
    }

    pub(crate) fn check_same_shape(&self, other: &Self) -> Result<(), MlpError> {
        if !self.same_shape(other) {
            return Err(MlpError::ShapeMismatch { expected: self.sizes(), got: other.sizes() });
        }
        Ok(())
    }

    /// Applies `f(self_value, other_value)` element-wise, in place.
    pub(crate) fn zip_apply(&mut self, other: &Self, f: impl Fn(&mut T, T) + Copy) {
        for (mine, theirs) in self.layers.iter_mut().zip(&other.layers) {
            Zip::from(&mut mine.weight).and(&theirs.weight).for_each(|a, &b| f(a, b));
            Zip::from(&mut mine.bias).and(&theirs.bias).for_each(|a, &b| f(a, b));
        }
    }

    /// Every value, mutably, layer by layer (weight then bias).
    pub(crate) fn for_each_mut(&mut self, mut f: impl FnMut(&mut T)) {
        for layer in &mut self.layers {
            layer.weight.iter_mut().for_each(&mut f);
            layer.bias.iter_mut().for_each(&mut f);
        }
    }

    /// Sets every value to zero.
    pub fn fill_zero(&mut self) {
        self.for_each_mut(|v| *v = T::ZERO);
    }

    /// Clamps every value to `[-c, c]` in place, as PyTorch's
    /// `grad.clamp_(-c, c)`. A NaN stays NaN (so it can still be detected).
    pub fn clamp_inplace(&mut self, c: T) {
        for values in self.slices_mut() {
            for_each_piece(values, |_, values| vectorized(Clamp { values, c }));
        }
    }

    /// The largest absolute value (NaN if any value is NaN).
    #[must_use]
    pub fn max_abs(&self) -> T {
        let mut max = T::ZERO;
        for layer in &self.layers {
            for &v in layer.weight.iter().chain(layer.bias.iter()) {
                match v.abs().partial_cmp(&max) {
                    Some(std::cmp::Ordering::Greater) => max = v.abs(),
                    None => return v.abs(), // NaN
                    _ => {}
                }
            }
        }
        max
    }

    /// The first non-finite value, by tensor name and flat index.
    ///
    /// # Errors
    /// [`MlpError::NonFinite`] naming it.
    pub fn check_finite(&self) -> Result<(), MlpError> {
        for (t, values) in self.slices().enumerate() {
            // A branch-free scan first (it vectorizes); the position only
            // once something is wrong.
            let any_bad = if rayon::current_num_threads() > 1 && values.len() > PIECE {
                values.par_chunks(PIECE).any(|values| vectorized(AnyNonFinite { values }))
            } else {
                vectorized(AnyNonFinite { values })
            };
            if any_bad && let Some(index) = values.iter().position(|v| !v.is_finite()) {
                let kind = if t % 2 == 0 { TensorKind::Weight } else { TensorKind::Bias };
                return Err(MlpError::NonFinite { what: Operand::Tensor(tensor_name(t / 2, kind)), index });
            }
        }
        Ok(())
    }

    /// Each tensor's values as a slice, in state-dict order.
    pub(crate) fn slices(&self) -> impl Iterator<Item = &[T]> + '_ {
        self.layers
            .iter()
            .flat_map(|l| [l.weight.as_slice().expect("standard layout"), l.bias.as_slice().expect("standard layout")])
    }

    /// Each tensor's values as a mutable slice, in state-dict order.
    pub(crate) fn slices_mut(&mut self) -> impl Iterator<Item = &mut [T]> + '_ {
        self.layers.iter_mut().flat_map(|l| {
            [l.weight.as_slice_mut().expect("standard layout"), l.bias.as_slice_mut().expect("standard layout")]
        })
    }
}

struct Clamp<'a, T> {
    values: &'a mut [T],
    c: T,
}

impl<T: Scalar> Job for Clamp<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        clamp_slice(self.values, self.c);
    }
}

/// Each value clamped to `[-c, c]`.
#[inline(always)]
pub(crate) fn clamp_slice<T: Scalar>(values: &mut [T], c: T) {
    for v in values {
        // Selects, so NaN passes through unchanged and the loop vectorizes.
        let x = *v;
        *v = if x > c {
            c
        } else if x < -c {
            -c
        } else {
            x
        };
    }
}

struct AnyNonFinite<'a, T> {
    values: &'a [T],
}

impl<T: Scalar> Job for AnyNonFinite<'_, T> {
    type Output = bool;

    #[inline(always)]
    fn run(self) -> bool {
        self.values.iter().fold(false, |any, v| any | !v.is_finite())
    }
}
