//! How a network's layers connect: a chain ([`Layout::Sequential`]) or a
//! shared trunk feeding a value and an advantage stream
//! ([`Layout::Dueling`]); what each layer computes ([`LayerKind`]: linear,
//! or a convolution at the front of the chain or trunk); which layers are
//! noisy; and the PyTorch names of their tensors.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Conv2dShape, MlpError};

/// How the layers of a network connect. The layers are stored in one list,
/// in the order given here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Layout {
    /// A chain of linear layers, ReLU between them and none after the
    /// last; layer `l` is named `fc{l+1}`.
    Sequential,
    /// Dueling heads (Wang et al. 2016): `trunk` layers with ReLU after
    /// each, then two streams reading the trunk's output, `value` layers
    /// giving `V` and `advantage` layers giving `A`, each with ReLU between
    /// its layers and none after its last. With `g` value outputs and
    /// `n·g` advantage outputs, output `a·g + z` is
    /// `V[z] + A[a·g + z] − mean_a A[a·g + z]` (`g` is 1 for scalar Q,
    /// the atoms for a distribution). Layers are named `trunk.{i}`,
    /// `value.{i}`, `advantage.{i}` (PyTorch `ModuleList`s).
    Dueling {
        /// Layers of the shared trunk, at least 1.
        trunk: usize,
        /// Layers of the value stream, at least 1.
        value: usize,
        /// Layers of the advantage stream, at least 1.
        advantage: usize,
    },
}

/// Where a layer reads its input from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The network's input rows.
    Input,
    /// The (ReLU) outputs of an earlier layer.
    Layer(usize),
}

impl Layout {
    /// Layer `l`'s name prefix in a network without convolutions: `fc3`,
    /// `trunk.0`, `value.1`, …
    #[must_use]
    pub fn layer_name(self, l: usize) -> String {
        self.layer_name_after(l, 0)
    }

    /// Layer `l`'s name prefix in a network whose first `convs` layers are
    /// convolutions: those are `conv1`, `conv2`, …; the linear layers of a
    /// chain are `fc1`, `fc2`, … counted from the first linear layer, and a
    /// dueling trunk's linear layers `trunk.0`, … (as a PyTorch module with
    /// attributes `conv1`, …, `fc1`, … or `trunk`, `value`, `advantage`
    /// names them).
    #[must_use]
    pub fn layer_name_after(self, l: usize, convs: usize) -> String {
        if l < convs {
            return format!("conv{}", l + 1);
        }
        match self {
            Self::Sequential => format!("fc{}", l - convs + 1),
            Self::Dueling { trunk, value, .. } => {
                if l < trunk {
                    format!("trunk.{}", l - convs)
                } else if l < trunk + value {
                    format!("value.{}", l - trunk)
                } else {
                    format!("advantage.{}", l - trunk - value)
                }
            }
        }
    }

    /// The PyTorch name of a tensor of layer `l`: `fc1.weight`, or for a
    /// noisy layer `fc1.weight_mu`, `fc1.weight_sigma`, …
    #[must_use]
    pub fn tensor_name(self, l: usize, kind: TensorKind, noisy: bool) -> String {
        self.tensor_name_after(l, 0, kind, noisy)
    }

    /// The PyTorch name of a tensor of layer `l` in a network whose first
    /// `convs` layers are convolutions (see
    /// [`layer_name_after`](Self::layer_name_after)).
    #[must_use]
    pub fn tensor_name_after(self, l: usize, convs: usize, kind: TensorKind, noisy: bool) -> String {
        let suffix = match (kind, noisy) {
            (TensorKind::Weight, false) => "weight",
            (TensorKind::Bias, false) => "bias",
            (TensorKind::Weight, true) => "weight_mu",
            (TensorKind::Bias, true) => "bias_mu",
            (TensorKind::WeightSigma, _) => "weight_sigma",
            (TensorKind::BiasSigma, _) => "bias_sigma",
        };
        format!("{}.{suffix}", self.layer_name_after(l, convs))
    }

    /// Where layer `l` reads from. (Total for any numbers, a layout read
    /// from a file included: it never overflows.)
    #[inline(always)]
    pub(crate) fn source(self, l: usize) -> Source {
        if l == 0 {
            return Source::Input;
        }
        match self {
            Self::Dueling { trunk, value, .. } if trunk > 0 && (l == trunk || Some(l) == trunk.checked_add(value)) => {
                Source::Layer(trunk - 1)
            }
            _ => Source::Layer(l - 1),
        }
    }

    /// Whether layer `l` of `n_layers` is followed by a ReLU (every layer
    /// that is not an output of the network or of a stream).
    #[inline(always)]
    pub(crate) fn relu_after(self, l: usize, n_layers: usize) -> bool {
        match self {
            Self::Sequential => l + 1 < n_layers,
            Self::Dueling { trunk, value, .. } => Some(l + 1) != trunk.checked_add(value) && l + 1 != n_layers,
        }
    }

    /// The layers whose outputs the loss sees: the last, or for dueling the
    /// value stream's last and the advantage stream's last.
    pub(crate) fn heads(self, n_layers: usize) -> Option<(usize, usize)> {
        match self {
            Self::Sequential => None,
            Self::Dueling { trunk, value, .. } => Some((trunk + value - 1, n_layers - 1)),
        }
    }
}

/// The tensors of a layer: a linear layer has a weight and a bias; a noisy
/// one has those as the means μ, and the noise scales σ of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TensorKind {
    /// `[out, in]` (μ of a noisy layer).
    Weight,
    /// `[out]` (μ of a noisy layer).
    Bias,
    /// `[out, in]`, the weight's noise scales σ (noisy layers only).
    WeightSigma,
    /// `[out]`, the bias's noise scales σ (noisy layers only).
    BiasSigma,
}

/// The name of layer `layer`'s weight or bias (0-based layer) in a chain
/// of plain layers, as in PyTorch's state dict: `fc1.weight`, `fc1.bias`,
/// `fc2.weight`, …
#[must_use]
pub fn tensor_name(layer: usize, kind: TensorKind) -> String {
    Layout::Sequential.tensor_name(layer, kind, false)
}

/// What a layer computes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LayerKind {
    /// `y = W·x + b`, the weight `[out, in]`.
    #[default]
    Linear,
    /// A 2-D convolution of its input read as `[C][H][W]` (PyTorch's
    /// `nn.Conv2d`), its output `[out_channels][OH][OW]` read flat by the
    /// next layer (PyTorch's `flatten`, channel-major). The weight is
    /// PyTorch's `[out, in, k, k]` stored as `[out, in·k·k]` (the same
    /// values in the same order). Convolutions come first in a network,
    /// are never noisy and never its output.
    Conv2d(Conv2dShape),
}

/// One layer's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerShape {
    /// Its input width (for a convolution, `C·H·W`).
    pub inputs: usize,
    /// Its output width (for a convolution, `out_channels·OH·OW`).
    pub outputs: usize,
    /// Whether it is a noisy layer (μ and σ for each tensor).
    pub noisy: bool,
    /// What it computes (written only for a convolution: a file of linear
    /// layers reads as before).
    #[serde(default, skip_serializing_if = "LayerKind::is_linear")]
    pub kind: LayerKind,
}

impl LayerKind {
    /// Whether it is [`LayerKind::Linear`].
    #[must_use]
    pub fn is_linear(&self) -> bool {
        *self == Self::Linear
    }
}

impl LayerShape {
    /// A plain or noisy linear layer.
    #[must_use]
    pub fn linear(inputs: usize, outputs: usize, noisy: bool) -> Self {
        Self { inputs, outputs, noisy, kind: LayerKind::Linear }
    }

    /// A convolution of the given geometry (never noisy).
    #[must_use]
    pub fn conv(conv: Conv2dShape) -> Self {
        Self { inputs: conv.in_len(), outputs: conv.out_len(), noisy: false, kind: LayerKind::Conv2d(conv) }
    }

    /// The weight's rows and columns as stored: `[out, in]`, or for a
    /// convolution `[out_channels, in_channels·k·k]`.
    #[must_use]
    pub fn weight_dims(&self) -> (usize, usize) {
        match self.kind {
            LayerKind::Linear => (self.outputs, self.inputs),
            LayerKind::Conv2d(c) => (c.out_channels, c.patch_len()),
        }
    }

    /// The bias's length.
    #[must_use]
    pub fn bias_len(&self) -> usize {
        self.weight_dims().0
    }

    /// The inputs each output sums over (PyTorch's `fan_in`, which sets
    /// the initialisation's bound `1/√fan_in`).
    #[must_use]
    pub fn fan_in(&self) -> usize {
        self.weight_dims().1
    }

    /// The convolution's geometry, if it is one.
    #[must_use]
    pub fn conv_shape(&self) -> Option<&Conv2dShape> {
        match &self.kind {
            LayerKind::Linear => None,
            LayerKind::Conv2d(c) => Some(c),
        }
    }
}

/// A network's shape: its layout and each layer's shape, in order. Two
/// networks of the same shape have tensors of the same names and shapes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shape {
    /// How the layers connect.
    pub layout: Layout,
    /// The layers.
    pub layers: Vec<LayerShape>,
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (l, layer) in self.layers.iter().enumerate() {
            let sep = if l == 0 { "" } else { ", " };
            let noisy = if layer.noisy { " noisy" } else { "" };
            write!(f, "{sep}{} ", self.layer_name(l))?;
            match layer.conv_shape() {
                None => write!(f, "{}→{}{noisy}", layer.inputs, layer.outputs)?,
                Some(c) => write!(
                    f,
                    "{}×{}×{}→{}×{}×{} (k{} s{} p{})",
                    c.in_channels,
                    c.height,
                    c.width,
                    c.out_channels,
                    c.out_height(),
                    c.out_width(),
                    c.kernel,
                    c.stride,
                    c.padding
                )?,
            }
        }
        Ok(())
    }
}

impl Shape {
    /// The number of scalars a network of this shape has, counted with
    /// checks (`None` if it overflows).
    #[must_use]
    pub fn param_count(&self) -> Option<usize> {
        self.layers.iter().try_fold(0usize, |n, l| {
            let (rows, cols) = l.weight_dims();
            let one = rows.checked_mul(cols)?.checked_add(rows)?;
            n.checked_add(if l.noisy { one.checked_mul(2)? } else { one })
        })
    }

    /// How many of the first layers are convolutions.
    #[must_use]
    pub fn convs(&self) -> usize {
        self.layers.iter().take_while(|l| l.conv_shape().is_some()).count()
    }

    /// Layer `l`'s name prefix: `conv1`, `fc2`, `trunk.0`, …
    #[must_use]
    pub fn layer_name(&self, l: usize) -> String {
        self.layout.layer_name_after(l, self.convs())
    }

    /// The PyTorch name of a tensor of layer `l`.
    #[must_use]
    pub fn tensor_name(&self, l: usize, kind: TensorKind) -> String {
        let noisy = self.layers.get(l).is_some_and(|layer| layer.noisy);
        self.layout.tensor_name_after(l, self.convs(), kind, noisy)
    }

    /// The input width (0 for no layers).
    #[must_use]
    pub fn inputs(&self) -> usize {
        self.layers.first().map_or(0, |l| l.inputs)
    }

    /// The output width: the last layer's, which for dueling is the
    /// advantage stream's (0 for no layers).
    #[must_use]
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.outputs)
    }

    /// Checks that the layers connect as the layout says: at least one
    /// layer, no width 0, each layer's input the width of its source, and
    /// for dueling the advantage outputs a multiple of the value outputs.
    ///
    /// # Errors
    /// [`MlpError::TooFewSizes`], [`MlpError::ZeroSize`] or
    /// [`MlpError::InvalidLayout`].
    pub fn check(&self) -> Result<(), MlpError> {
        if self.layers.is_empty() {
            return Err(MlpError::TooFewSizes { got: 0 });
        }
        let bad = |problem: String| Err(MlpError::InvalidLayout { problem });
        if let Layout::Dueling { trunk, value, advantage } = self.layout {
            if trunk == 0 || value == 0 || advantage == 0 {
                return bad(format!(
                    "dueling needs at least one layer in each part, got {trunk}, {value}, {advantage}"
                ));
            }
            let n = trunk.checked_add(value).and_then(|n| n.checked_add(advantage));
            if n != Some(self.layers.len()) {
                return bad(format!("dueling with {trunk} + {value} + {advantage} layers, got {}", self.layers.len()));
            }
        }
        self.check_convs()?;
        for (l, layer) in self.layers.iter().enumerate() {
            if layer.inputs == 0 || layer.outputs == 0 {
                return Err(MlpError::ZeroSize { index: if layer.inputs == 0 { l } else { l + 1 } });
            }
            if let Source::Layer(k) = self.layout.source(l)
                && self.layers[k].outputs != layer.inputs
            {
                return bad(format!(
                    "{} takes {} inputs but reads {}, which gives {}",
                    self.layer_name(l),
                    layer.inputs,
                    self.layer_name(k),
                    self.layers[k].outputs
                ));
            }
        }
        if let Some((v, a)) = self.layout.heads(self.layers.len()) {
            let (v, a) = (self.layers[v].outputs, self.layers[a].outputs);
            if a % v != 0 {
                return bad(format!("{a} advantage outputs are not a multiple of {v} value outputs"));
            }
        }
        Ok(())
    }
}

impl Shape {
    /// The convolutions: a prefix of the layers, inside a dueling trunk,
    /// never noisy, each a valid geometry whose widths are the layer's and
    /// whose input is the previous convolution's output image.
    fn check_convs(&self) -> Result<(), MlpError> {
        let convs = self.convs();
        let bad = |problem: String| Err(MlpError::InvalidLayout { problem });
        if let Some(l) = self.layers[convs..].iter().position(|l| l.conv_shape().is_some()) {
            return bad(format!("{} is a convolution after a linear layer", self.layer_name(convs + l)));
        }
        let in_trunk = match self.layout {
            Layout::Sequential => convs < self.layers.len(),
            Layout::Dueling { trunk, .. } => convs <= trunk,
        };
        if convs > 0 && !in_trunk {
            return bad("a convolution is an output layer".into());
        }
        let mut previous: Option<&Conv2dShape> = None;
        for (l, layer) in self.layers[..convs].iter().enumerate() {
            let c = layer.conv_shape().expect("a prefix of convolutions");
            let checked = c.checked()?;
            let name = self.layer_name(l);
            if checked != *c || layer.inputs != c.in_len() || layer.outputs != c.out_len() {
                return bad(format!(
                    "{name} has widths {}→{} that its geometry does not give",
                    layer.inputs, layer.outputs
                ));
            }
            if layer.noisy {
                return bad(format!("{name} is a noisy convolution"));
            }
            if let Some(p) = previous
                && (p.out_channels, p.out_height(), p.out_width()) != (c.in_channels, c.height, c.width)
            {
                return bad(format!(
                    "{name} reads a {}×{}×{} image but the layer before gives {}×{}×{}",
                    c.in_channels,
                    c.height,
                    c.width,
                    p.out_channels,
                    p.out_height(),
                    p.out_width()
                ));
            }
            previous = Some(c);
        }
        Ok(())
    }
}

/// One convolution of a trunk, as written in a configuration (the input
/// image comes from the layer before, or the observation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvLayer {
    /// Output channels (filters).
    pub out_channels: usize,
    /// The square kernel's side.
    pub kernel: usize,
    /// The step between patches.
    pub stride: usize,
    /// Zeros added on every side (0: 'valid'; `(kernel − 1)/2` with stride
    /// 1 and an odd kernel: 'same').
    #[serde(default)]
    pub padding: usize,
}

/// Convolutions in front of the linear layers: the image they read and
/// the layers, each with a ReLU after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvTrunk {
    /// The input image `[channels, height, width]`; its product is the
    /// network's input width.
    pub input: [usize; 3],
    /// The convolutions, in order (at least one).
    pub layers: Vec<ConvLayer>,
}

impl ConvTrunk {
    /// Each convolution's geometry, in order.
    ///
    /// # Errors
    /// [`MlpError::InvalidLayout`] for no layers, and
    /// [`MlpError::InvalidHyperparameter`] for a geometry
    /// [`Conv2dShape::new`] refuses.
    pub fn shapes(&self) -> Result<Vec<Conv2dShape>, MlpError> {
        if self.layers.is_empty() {
            return Err(MlpError::InvalidLayout { problem: "a convolutional trunk needs a layer".into() });
        }
        let [mut c, mut h, mut w] = self.input;
        let mut shapes = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let shape = Conv2dShape::new(c, (h, w), layer.out_channels, layer.kernel, layer.stride, layer.padding)?;
            (c, h, w) = (shape.out_channels, shape.out_height(), shape.out_width());
            shapes.push(shape);
        }
        Ok(shapes)
    }
}

/// Dueling streams after the trunk (see [`Layout::Dueling`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuelingStreams {
    /// Hidden widths of the value stream (may be empty: one linear layer).
    pub value_hidden: Vec<usize>,
    /// Hidden widths of the advantage stream.
    pub advantage_hidden: Vec<usize>,
    /// Outputs of the value stream: 1 for scalar Q-values, the atoms for
    /// distributions. The network's outputs must be a multiple of it.
    pub value_outputs: usize,
}

/// Which layers are noisy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NoisyLayers {
    /// The heads: the output layer of a chain; every layer of both streams
    /// of dueling heads.
    Heads,
    /// Every layer.
    All,
}

/// Noisy linear layers (factorised Gaussian, Fortunato et al. 2018): on
/// which layers, and σ₀ of their initialisation (`σ = σ₀/√fan_in`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoisyInit {
    /// Which layers.
    pub layers: NoisyLayers,
    /// σ₀ (the paper's 0.5).
    pub sigma0: f64,
}

/// What network to build: input and output widths, optional convolutions
/// first, the hidden widths of the chain (or of the dueling trunk),
/// optional dueling streams and noisy layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Architecture {
    /// The width of an input row.
    pub inputs: usize,
    /// Hidden widths (ReLU after each): the whole chain's, or the trunk's.
    pub hidden: Vec<usize>,
    /// The number of outputs.
    pub outputs: usize,
    /// Dueling streams after the hidden layers; `None` for a chain.
    pub dueling: Option<DuelingStreams>,
    /// Noisy layers; `None` for none. Convolutions are never noisy
    /// ([`NoisyLayers::All`] is every linear layer).
    pub noisy: Option<NoisyInit>,
    /// Convolutions before the hidden layers; `None` for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv: Option<ConvTrunk>,
}

impl Architecture {
    /// A chain of plain layers of widths `sizes` (input first, output last).
    #[must_use]
    pub fn sequential(sizes: &[usize]) -> Self {
        let (inputs, outputs) = (sizes.first().copied().unwrap_or(0), sizes.last().copied().unwrap_or(0));
        let hidden = if sizes.len() > 2 { sizes[1..sizes.len() - 1].to_vec() } else { Vec::new() };
        Self { inputs, hidden, outputs, dueling: None, noisy: None, conv: None }
    }

    /// The shape of the network this describes.
    ///
    /// # Errors
    /// As [`Shape::check`], and [`MlpError::InvalidLayout`] for dueling
    /// without hidden layers (the trunk) or a noisy σ₀ that is not
    /// positive and finite.
    pub fn shape(&self) -> Result<Shape, MlpError> {
        if let Some(noisy) = self.noisy
            && !(noisy.sigma0 > 0.0 && noisy.sigma0.is_finite())
        {
            return Err(MlpError::InvalidHyperparameter {
                name: "sigma0",
                value: noisy.sigma0,
                requirement: "positive and finite",
            });
        }
        let chain = |widths: &[usize]| -> Vec<LayerShape> {
            widths.windows(2).map(|w| LayerShape::linear(w[0], w[1], false)).collect()
        };
        let convs: Vec<LayerShape> = match &self.conv {
            None => Vec::new(),
            Some(trunk) => {
                let image = trunk.input.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
                if image != Some(self.inputs) {
                    return Err(MlpError::InvalidLayout {
                        problem: format!(
                            "the convolutions read a {}×{}×{} image but the input is {} wide",
                            trunk.input[0], trunk.input[1], trunk.input[2], self.inputs
                        ),
                    });
                }
                trunk.shapes()?.into_iter().map(LayerShape::conv).collect()
            }
        };
        // The linear layers read the input, or the last convolution's output.
        let first_width = convs.last().map_or(self.inputs, |c| c.outputs);
        let (layout, mut layers, heads_from) = match &self.dueling {
            None => {
                if self.inputs == 0 && self.hidden.is_empty() && self.outputs == 0 {
                    return Err(MlpError::TooFewSizes { got: 0 });
                }
                let mut widths = vec![first_width];
                widths.extend(&self.hidden);
                widths.push(self.outputs);
                let mut layers = convs.clone();
                layers.extend(chain(&widths));
                let last = layers.len() - 1;
                (Layout::Sequential, layers, last)
            }
            Some(streams) => {
                let Some(&trunk_out) = self.hidden.last().or(convs.last().map(|c| &c.outputs)) else {
                    return Err(MlpError::InvalidLayout {
                        problem: "dueling heads need a hidden layer (the trunk)".into(),
                    });
                };
                let mut widths = vec![first_width];
                widths.extend(&self.hidden);
                let mut layers = convs.clone();
                layers.extend(chain(&widths));
                let trunk = layers.len();
                let mut stream = |hidden: &[usize], outputs: usize| {
                    let mut widths = vec![trunk_out];
                    widths.extend(hidden);
                    widths.push(outputs);
                    let part = chain(&widths);
                    let n = part.len();
                    layers.extend(part);
                    n
                };
                let value = stream(&streams.value_hidden, streams.value_outputs);
                let advantage = stream(&streams.advantage_hidden, self.outputs);
                (Layout::Dueling { trunk, value, advantage }, layers, trunk)
            }
        };
        if let Some(noisy) = self.noisy {
            let first = match noisy.layers {
                NoisyLayers::All => 0,
                NoisyLayers::Heads => heads_from,
            };
            for layer in &mut layers[first..] {
                layer.noisy = layer.kind == LayerKind::Linear;
            }
        }
        let shape = Shape { layout, layers };
        shape.check()?;
        Ok(shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dueling_layers_read_the_trunk_and_are_named_like_torch_module_lists() {
        let arch = Architecture {
            inputs: 4,
            hidden: vec![8, 6],
            outputs: 6,
            dueling: Some(DuelingStreams { value_hidden: vec![5], advantage_hidden: vec![], value_outputs: 3 }),
            noisy: Some(NoisyInit { layers: NoisyLayers::Heads, sigma0: 0.5 }),
            conv: None,
        };
        let shape = arch.shape().unwrap();
        assert_eq!(shape.layout, Layout::Dueling { trunk: 2, value: 2, advantage: 1 });
        let dims: Vec<_> = shape.layers.iter().map(|l| (l.inputs, l.outputs, l.noisy)).collect();
        assert_eq!(dims, [(4, 8, false), (8, 6, false), (6, 5, true), (5, 3, true), (6, 6, true)]);
        let layout = shape.layout;
        let names: Vec<_> = (0..5).map(|l| layout.layer_name(l)).collect();
        assert_eq!(names, ["trunk.0", "trunk.1", "value.0", "value.1", "advantage.0"]);
        assert_eq!(layout.source(2), Source::Layer(1));
        assert_eq!(layout.source(4), Source::Layer(1));
        assert_eq!(layout.source(3), Source::Layer(2));
        assert_eq!((0..5).map(|l| layout.relu_after(l, 5)).collect::<Vec<_>>(), [true, true, true, false, false]);
        assert_eq!(layout.tensor_name(4, TensorKind::WeightSigma, true), "advantage.0.weight_sigma");
        assert_eq!(layout.tensor_name(0, TensorKind::Bias, false), "trunk.0.bias");
        assert_eq!(shape.param_count(), Some(4 * 8 + 8 + 8 * 6 + 6 + 2 * (6 * 5 + 5 + 5 * 3 + 3 + 6 * 6 + 6)));
    }

    #[test]
    fn layouts_that_do_not_connect_are_refused() {
        let mut arch = Architecture::sequential(&[4, 3]);
        arch.dueling = Some(DuelingStreams { value_hidden: vec![], advantage_hidden: vec![], value_outputs: 1 });
        assert!(matches!(arch.shape(), Err(MlpError::InvalidLayout { .. })), "dueling without a trunk");
        let mut arch = Architecture::sequential(&[4, 8, 5]);
        arch.dueling = Some(DuelingStreams { value_hidden: vec![], advantage_hidden: vec![], value_outputs: 2 });
        assert!(matches!(arch.shape(), Err(MlpError::InvalidLayout { .. })), "5 is not a multiple of 2");
        let shape = Shape {
            layout: Layout::Dueling { trunk: 1, value: 1, advantage: 1 },
            layers: vec![
                LayerShape::linear(4, 8, false),
                LayerShape::linear(7, 1, false),
                LayerShape::linear(8, 2, false),
            ],
        };
        assert!(matches!(shape.check(), Err(MlpError::InvalidLayout { .. })), "value.0 reads 8, takes 7");
        let mut noisy = Architecture::sequential(&[4, 2]);
        noisy.noisy = Some(NoisyInit { layers: NoisyLayers::All, sigma0: f64::NAN });
        assert!(matches!(noisy.shape(), Err(MlpError::InvalidHyperparameter { name: "sigma0", .. })));
    }
}
