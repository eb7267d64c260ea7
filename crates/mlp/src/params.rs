//! Parameter tensors in PyTorch's state-dict layout and names, shared by the
//! parameters, their gradients and Adam's moments; clamping, finiteness
//! checks, and the checked stored form.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use std::sync::atomic::{AtomicBool, Ordering};

use crate::architecture::Source;
use crate::kernel::{Job, PIECE, for_each_piece, vectorized};
use crate::{LayerKind, LayerShape, Layout, MlpError, Operand, Scalar, Shape, TensorKind};

/// One layer's tensors, in PyTorch's layout: `weight` is `[out, in]`
/// (a convolution's `[out, in, k, k]` stored as `[out, in·k·k]`), `bias` is
/// `[out]`. A noisy layer has them as the means μ and the noise scales σ in
/// `sigma`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerParams<T> {
    /// `[out, in]`.
    pub weight: Array2<T>,
    /// `[out]`.
    pub bias: Array1<T>,
    /// A noisy layer's noise scales; `None` for a plain layer.
    pub sigma: Option<NoiseScales<T>>,
    /// What the layer computes (linear when a self-describing format
    /// leaves it out).
    #[serde(default)]
    pub kind: LayerKind,
}

/// The noise scales σ of a noisy layer's weight and bias, shaped like them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseScales<T> {
    /// `[out, in]`.
    pub weight: Array2<T>,
    /// `[out]`.
    pub bias: Array1<T>,
}

impl<T> LayerParams<T> {
    /// A plain (not noisy) layer.
    #[must_use]
    pub fn plain(weight: Array2<T>, bias: Array1<T>) -> Self {
        Self { weight, bias, sigma: None, kind: LayerKind::Linear }
    }

    /// Its shape (a convolution's widths are its geometry's; whether its
    /// weight fits them is checked where a set is built).
    #[must_use]
    pub fn shape(&self) -> LayerShape {
        let noisy = self.sigma.is_some();
        match self.kind {
            LayerKind::Linear => {
                let (outputs, inputs) = self.weight.dim();
                LayerShape::linear(inputs, outputs, noisy)
            }
            LayerKind::Conv2d(c) => LayerShape { noisy, ..LayerShape::conv(c) },
        }
    }
}

/// A set of tensors shaped like a network's parameters: the parameters
/// themselves, their gradients, or Adam's moments, with the network's
/// [`Layout`].
///
/// Tensors are named as in PyTorch's state dict (see
/// [`Layout::tensor_name`]): a chain's layer `l` (0-based) is `fc{l+1}`
/// as in the seed's PyTorch model, so the tensors are `fc1.weight`,
/// `fc1.bias`, `fc2.weight`, …
///
/// Read back (serde), it goes through [`StoredParams`]' checks and
/// [`Params::from_stored`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredParams<T>", bound = "T: Scalar")]
pub struct Params<T: Scalar> {
    layout: Layout,
    layers: Vec<LayerParams<T>>,
}

/// Gradients have the shape of the parameters.
pub type Gradients<T> = Params<T>;

/// A named tensor view, weight or bias.
#[derive(Debug, Clone)]
pub enum TensorView<'a, T> {
    /// A weight, `[out, in]`.
    Weight(ArrayView2<'a, T>),
    /// A convolution's weight, `[out, in·k·k]` as stored, which PyTorch
    /// shapes `[out, in, k, k]`.
    ConvWeight {
        /// The values, `[out, in·k·k]`.
        weight: ArrayView2<'a, T>,
        /// The kernel's side `k`.
        kernel: usize,
    },
    /// A bias, `[out]`.
    Bias(ArrayView1<'a, T>),
}

impl<T> TensorView<'_, T> {
    /// The shape, as PyTorch reports it.
    #[must_use]
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Self::Weight(w) => w.shape().to_vec(),
            Self::ConvWeight { weight, kernel } => {
                let (out, patch) = weight.dim();
                vec![out, patch / (kernel * kernel).max(1), *kernel, *kernel]
            }
            Self::Bias(b) => b.shape().to_vec(),
        }
    }

    /// The values, row-major.
    pub fn iter(&self) -> Box<dyn Iterator<Item = &T> + '_> {
        match self {
            Self::Weight(w) | Self::ConvWeight { weight: w, .. } => Box::new(w.iter()),
            Self::Bias(b) => Box::new(b.iter()),
        }
    }
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

/// A parameter set as stored, before it is checked: its layout and its
/// layers. Decode this and convert it with [`Params::from_stored`] to keep
/// the typed error of a misshapen tensor.
#[derive(Debug, Clone, Deserialize)]
#[serde(bound = "T: Scalar")]
pub struct StoredParams<T> {
    layout: Layout,
    layers: Vec<StoredLayer<T>>,
}

/// A layer as stored (ndarray's serialized form of its tensors), before it
/// is checked: decode this and convert it with [`Params::from_stored`] to
/// keep the typed error of a misshapen tensor (ndarray's own check of a
/// stored array raises an error whose message some formats, postcard among
/// them, drop).
#[derive(Debug, Clone, Deserialize)]
#[serde(bound = "T: Scalar")]
pub struct StoredLayer<T> {
    weight: StoredArray<[usize; 2], T>,
    bias: StoredArray<[usize; 1], T>,
    sigma: Option<StoredScales<T>>,
    #[serde(default)]
    kind: LayerKind,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(bound = "T: Scalar")]
struct StoredScales<T> {
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

impl<T> StoredArray<[usize; 2], T> {
    /// The checked matrix.
    fn into_matrix(self, name: impl Fn() -> String) -> Result<Array2<T>, MlpError> {
        self.check(&name)?;
        let [out, inp] = self.dim;
        // ndarray has limits of its own (a shape's size must fit an
        // isize): refused as a misshapen tensor, not unwrapped.
        let values = self.data.len();
        Array2::from_shape_vec((out, inp), self.data).map_err(|_| MlpError::TensorValues {
            name: name(),
            shape: vec![out, inp],
            values,
        })
    }
}

impl<T> StoredArray<[usize; 1], T> {
    /// The checked vector.
    fn into_vector(self, name: impl Fn() -> String) -> Result<Array1<T>, MlpError> {
        self.check(name)?;
        Ok(Array1::from(self.data))
    }
}

impl<T: Scalar> TryFrom<StoredParams<T>> for Params<T> {
    type Error = MlpError;

    fn try_from(stored: StoredParams<T>) -> Result<Self, MlpError> {
        Self::from_stored(stored)
    }
}

impl<T: Scalar> Params<T> {
    /// All-zero tensors for a chain of plain layers of widths `sizes`
    /// (input first).
    ///
    /// # Errors
    /// [`MlpError::TooFewSizes`] or [`MlpError::ZeroSize`].
    pub fn zeros(sizes: &[usize]) -> Result<Self, MlpError> {
        check_sizes(sizes)?;
        let layers = sizes.windows(2).map(|w| LayerShape::linear(w[0], w[1], false)).collect();
        Self::zeros_of(&Shape { layout: Layout::Sequential, layers })
    }

    /// All-zero tensors of a checked shape.
    ///
    /// # Errors
    /// As [`Shape::check`].
    pub fn zeros_of(shape: &Shape) -> Result<Self, MlpError> {
        shape.check()?;
        let layers = shape
            .layers
            .iter()
            .map(|l| {
                let weight = || Array2::from_elem(l.weight_dims(), T::ZERO);
                let bias = || Array1::from_elem(l.bias_len(), T::ZERO);
                let sigma = l.noisy.then(|| NoiseScales { weight: weight(), bias: bias() });
                LayerParams { weight: weight(), bias: bias(), sigma, kind: l.kind }
            })
            .collect();
        Ok(Self { layout: shape.layout, layers })
    }

    /// All-zero tensors of this set's shape.
    #[must_use]
    pub fn zeros_like(&self) -> Self {
        Self::zeros_of(&self.shape()).expect("a set's own shape is valid")
    }

    /// Builds a set from its stored form (see [`StoredParams`]).
    ///
    /// # Errors
    /// [`MlpError::TensorValues`] or [`MlpError::ArrayFormat`] for a tensor
    /// whose values do not fill its shape (or of another array format), and
    /// as [`from_layers_with`](Self::from_layers_with).
    pub fn from_stored(stored: StoredParams<T>) -> Result<Self, MlpError> {
        let layout = stored.layout;
        let convs = stored.layers.iter().take_while(|l| matches!(l.kind, LayerKind::Conv2d(_))).count();
        let mut layers = Vec::with_capacity(stored.layers.len());
        for (l, StoredLayer { weight, bias, sigma, kind }) in stored.layers.into_iter().enumerate() {
            let noisy = sigma.is_some();
            let name = |tensor| move || layout.tensor_name_after(l, convs, tensor, noisy);
            let sigma = match sigma {
                Some(s) => Some(NoiseScales {
                    weight: s.weight.into_matrix(name(TensorKind::WeightSigma))?,
                    bias: s.bias.into_vector(name(TensorKind::BiasSigma))?,
                }),
                None => None,
            };
            layers.push(LayerParams {
                weight: weight.into_matrix(name(TensorKind::Weight))?,
                bias: bias.into_vector(name(TensorKind::Bias))?,
                sigma,
                kind,
            });
        }
        Self::from_layers_with(layout, layers)
    }

    /// A chain of layers ([`Layout::Sequential`]).
    ///
    /// # Errors
    /// As [`from_layers_with`](Self::from_layers_with).
    pub fn from_layers(layers: Vec<LayerParams<T>>) -> Result<Self, MlpError> {
        Self::from_layers_with(Layout::Sequential, layers)
    }

    /// Builds a set from its layers, connected as `layout` says.
    ///
    /// # Errors
    /// [`MlpError::TooFewSizes`] for no layers, [`MlpError::TensorShape`]
    /// where a bias (or a noise scale) differs from its weight or a
    /// layer's input width from its source's output, and the other errors
    /// of [`Shape::check`].
    pub fn from_layers_with(layout: Layout, mut layers: Vec<LayerParams<T>>) -> Result<Self, MlpError> {
        // The kernels read tensors as row-major slices.
        for layer in &mut layers {
            standardize2(&mut layer.weight);
            standardize1(&mut layer.bias);
            if let Some(sigma) = &mut layer.sigma {
                standardize2(&mut sigma.weight);
                standardize1(&mut sigma.bias);
            }
        }
        if layers.is_empty() {
            return Err(MlpError::TooFewSizes { got: 0 });
        }
        // A geometry from a file is checked before any width is computed
        // from it.
        for layer in &layers {
            if let LayerKind::Conv2d(c) = layer.kind {
                c.checked()?;
            }
        }
        let convs = layers.iter().take_while(|l| matches!(l.kind, LayerKind::Conv2d(_))).count();
        for (l, layer) in layers.iter().enumerate() {
            let (out, inp) = layer.weight.dim();
            let noisy = layer.sigma.is_some();
            let mismatch = |kind, expected: Vec<usize>, got: Vec<usize>| {
                Err(MlpError::TensorShape { name: layout.tensor_name_after(l, convs, kind, noisy), expected, got })
            };
            if let LayerKind::Conv2d(c) = layer.kind
                && (out, inp) != (c.out_channels, c.patch_len())
            {
                return mismatch(TensorKind::Weight, vec![c.out_channels, c.patch_len()], vec![out, inp]);
            }
            if layer.bias.len() != out {
                return mismatch(TensorKind::Bias, vec![out], vec![layer.bias.len()]);
            }
            if let Some(sigma) = &layer.sigma {
                if sigma.weight.dim() != (out, inp) {
                    return mismatch(TensorKind::WeightSigma, vec![out, inp], sigma.weight.shape().to_vec());
                }
                if sigma.bias.len() != out {
                    return mismatch(TensorKind::BiasSigma, vec![out], vec![sigma.bias.len()]);
                }
            }
            let width = layer.shape().inputs;
            if let Source::Layer(k) = layout.source(l)
                && k < layers.len()
                && width != layers[k].shape().outputs
            {
                let source = layers[k].shape().outputs;
                return match layer.kind {
                    LayerKind::Linear => mismatch(TensorKind::Weight, vec![out, source], vec![out, inp]),
                    LayerKind::Conv2d(_) => Err(MlpError::InvalidLayout {
                        problem: format!(
                            "{} reads {width} values but the layer before gives {source}",
                            layout.layer_name_after(l, convs)
                        ),
                    }),
                };
            }
        }
        let params = Self { layout, layers };
        params.shape().check()?;
        Ok(params)
    }

    /// How the layers connect.
    #[must_use]
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The layout and every layer's shape.
    #[must_use]
    pub fn shape(&self) -> Shape {
        Shape { layout: self.layout, layers: self.layers.iter().map(LayerParams::shape).collect() }
    }

    /// The input width, then every layer's output width in layer order:
    /// for a chain, its layer widths.
    #[must_use]
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![self.layers[0].shape().inputs];
        sizes.extend(self.layers.iter().map(|l| l.shape().outputs));
        sizes
    }

    /// How many of the first layers are convolutions.
    #[must_use]
    pub fn convs(&self) -> usize {
        self.layers.iter().take_while(|l| matches!(l.kind, LayerKind::Conv2d(_))).count()
    }

    /// Layer `l`'s name prefix: `conv1`, `fc2`, `trunk.0`, …
    #[must_use]
    pub fn layer_name(&self, l: usize) -> String {
        self.layout.layer_name_after(l, self.convs())
    }

    /// The layers, in the layout's order.
    #[must_use]
    pub fn layers(&self) -> &[LayerParams<T>] {
        &self.layers
    }

    pub(crate) fn layers_mut(&mut self) -> &mut [LayerParams<T>] {
        &mut self.layers
    }

    /// Whether any layer is noisy.
    #[must_use]
    pub fn is_noisy(&self) -> bool {
        self.layers.iter().any(|l| l.sigma.is_some())
    }

    /// Each tensor's name, in state-dict order (the order of
    /// [`named_tensors`](Self::named_tensors)).
    pub fn tensor_names(&self) -> impl Iterator<Item = String> + '_ {
        self.layers.iter().enumerate().flat_map(move |(l, layer)| {
            let noisy = layer.sigma.is_some();
            let kinds: &[TensorKind] = if noisy {
                &[TensorKind::Weight, TensorKind::Bias, TensorKind::WeightSigma, TensorKind::BiasSigma]
            } else {
                &[TensorKind::Weight, TensorKind::Bias]
            };
            let convs = self.convs();
            kinds.iter().map(move |&kind| self.layout.tensor_name_after(l, convs, kind, noisy))
        })
    }

    /// The tensors with their PyTorch names, in state-dict order.
    pub fn named_tensors(&self) -> impl Iterator<Item = (String, TensorView<'_, T>)> + '_ {
        let views = self.layers.iter().flat_map(|layer| {
            let weight = match layer.kind {
                LayerKind::Linear => TensorView::Weight(layer.weight.view()),
                LayerKind::Conv2d(c) => TensorView::ConvWeight { weight: layer.weight.view(), kernel: c.kernel },
            };
            let mut views = vec![weight, TensorView::Bias(layer.bias.view())];
            if let Some(sigma) = &layer.sigma {
                views.extend([TensorView::Weight(sigma.weight.view()), TensorView::Bias(sigma.bias.view())]);
            }
            views
        });
        self.tensor_names().zip(views)
    }

    /// The number of scalars.
    #[must_use]
    pub fn len(&self) -> usize {
        self.slices().map(<[T]>::len).sum()
    }

    /// Whether there are no scalars (never, for a valid set).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `other` has the same layout and tensor shapes (allocates
    /// nothing).
    #[must_use]
    pub fn same_shape(&self, other: &Self) -> bool {
        self.layout == other.layout
            && self.layers.len() == other.layers.len()
            && self.layers.iter().zip(&other.layers).all(|(a, b)| a.shape() == b.shape())
    }

    pub(crate) fn check_same_shape(&self, other: &Self) -> Result<(), MlpError> {
        if !self.same_shape(other) {
            return Err(MlpError::ShapeMismatch { expected: Box::new(self.shape()), got: Box::new(other.shape()) });
        }
        Ok(())
    }

    /// Applies `f(self_value, other_value)` element-wise, in place.
    pub(crate) fn zip_apply(&mut self, other: &Self, f: impl Fn(&mut T, T) + Copy) {
        for (mine, theirs) in self.slices_mut().zip(other.slices()) {
            for (a, &b) in mine.iter_mut().zip(theirs) {
                f(a, b);
            }
        }
    }

    /// Sets every value to zero.
    pub fn fill_zero(&mut self) {
        for values in self.slices_mut() {
            values.fill(T::ZERO);
        }
    }

    /// Clamps every value to `[-c, c]` in place, as PyTorch's
    /// `grad.clamp_(-c, c)`. A NaN stays NaN (so it can still be detected).
    pub fn clamp_inplace(&mut self, c: T) {
        for values in self.slices_mut() {
            for_each_piece(values, |_, values| vectorized(Clamp { values, c }));
        }
    }

    /// Scales every value by `max_norm / (‖g‖ + 1e-6)` when that is below
    /// 1, where ‖g‖ is the Euclidean norm of all the values together: PyTorch's
    /// `clip_grad_norm_(params, max_norm)` (SB3's and CleanRL's
    /// `max_grad_norm`), its norm the norm of the tensors' norms. The norms
    /// are summed in `f64` in a fixed order (the same bits at any thread
    /// count); returns ‖g‖ (NaN if a value is NaN, and then nothing is
    /// scaled, so the NaN is still found).
    pub fn clip_norm(&mut self, max_norm: T) -> f64 {
        let total = self
            .slices()
            .map(|values| {
                let squares: f64 = values.iter().map(|v| v.to_f64() * v.to_f64()).sum();
                // Each tensor's norm rounded to the values' type, as
                // PyTorch's per-tensor `vector_norm`.
                let norm = T::from_f64(squares.sqrt()).to_f64();
                norm * norm
            })
            .sum::<f64>()
            .sqrt();
        let total = T::from_f64(total).to_f64();
        let coefficient = max_norm.to_f64() / (total + 1e-6);
        if coefficient < 1.0 {
            let c = T::from_f64(coefficient);
            for values in self.slices_mut() {
                for v in values {
                    *v = *v * c;
                }
            }
        }
        total
    }

    /// The largest absolute value (NaN if any value is NaN).
    #[must_use]
    pub fn max_abs(&self) -> T {
        let mut max = T::ZERO;
        for &v in self.slices().flatten() {
            match v.abs().partial_cmp(&max) {
                Some(std::cmp::Ordering::Greater) => max = v.abs(),
                None => return v.abs(), // NaN
                _ => {}
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
            let any_bad = if values.len() > PIECE {
                let bad = AtomicBool::new(false);
                let pieces = values.len().div_ceil(PIECE);
                crate::team::for_each_index(pieces, |k| {
                    let values = &values[k * PIECE..((k + 1) * PIECE).min(values.len())];
                    if vectorized(AnyNonFinite { values }) {
                        bad.store(true, Ordering::Relaxed);
                    }
                });
                bad.into_inner()
            } else {
                vectorized(AnyNonFinite { values })
            };
            if any_bad && let Some(index) = values.iter().position(|v| !v.is_finite()) {
                let name = self.tensor_names().nth(t).expect("one name per tensor");
                return Err(MlpError::NonFinite { what: Operand::Tensor(name), index });
            }
        }
        Ok(())
    }

    /// Each tensor's values, row-major, in state-dict order (the order of
    /// [`tensor_names`](Self::tensor_names)).
    pub fn tensors(&self) -> impl Iterator<Item = &[T]> + '_ {
        self.slices()
    }

    /// Each tensor's values, mutably (e.g. for an initialisation of one's
    /// own; a network's parameters change only through its own methods).
    pub fn tensors_mut(&mut self) -> impl Iterator<Item = &mut [T]> + '_ {
        self.slices_mut()
    }

    /// Each tensor's values as a slice, in state-dict order (allocates
    /// nothing: the gradient reduction calls it per piece).
    pub(crate) fn slices(&self) -> impl Iterator<Item = &[T]> + '_ {
        self.layers.iter().flat_map(|l| {
            let plain = [l.weight.as_slice().expect("standard layout"), l.bias.as_slice().expect("standard layout")];
            let sigma = l.sigma.iter().flat_map(|s| {
                [s.weight.as_slice().expect("standard layout"), s.bias.as_slice().expect("standard layout")]
            });
            plain.into_iter().chain(sigma)
        })
    }

    /// Each tensor's values as a mutable slice, in state-dict order.
    pub(crate) fn slices_mut(&mut self) -> impl Iterator<Item = &mut [T]> + '_ {
        self.layers.iter_mut().flat_map(|l| {
            let plain =
                [l.weight.as_slice_mut().expect("standard layout"), l.bias.as_slice_mut().expect("standard layout")];
            let sigma = l.sigma.iter_mut().flat_map(|s| {
                [s.weight.as_slice_mut().expect("standard layout"), s.bias.as_slice_mut().expect("standard layout")]
            });
            plain.into_iter().chain(sigma)
        })
    }
}

fn standardize2<T: Clone>(a: &mut Array2<T>) {
    if !a.is_standard_layout() {
        *a = a.as_standard_layout().into_owned();
    }
}

fn standardize1<T: Clone>(a: &mut Array1<T>) {
    if !a.is_standard_layout() {
        *a = a.as_standard_layout().into_owned();
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
