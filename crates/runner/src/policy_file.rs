//! The saved policy: the network's tensors by their PyTorch names, as JSON
//! (`policy.json`) or as safetensors (what `safetensors.torch.save_file`
//! writes of a `state_dict`), so the same file can be read back here or
//! loaded into PyTorch, and a network PyTorch trained can be read here.
//! Reading checks every size, product and name before it builds anything.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use agent::{
    Conv2dShape, DqnConfig, LayerParams, LayerShape, Layout, Mlp, MlpError, NoiseScales, Params, Shape, TensorKind,
};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::RunError;
use crate::error::io_err;

const FORMAT: &str = "dqn-rs policy";
/// Version 2 names the layout and each layer (dueling heads, noisy
/// layers); version 1, a chain given by its `sizes`, still loads.
const VERSION: u32 = 2;

/// What is read first, to choose the version's form.
#[derive(Deserialize)]
struct Header {
    format: String,
    version: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    format: String,
    version: u32,
    /// How the layers connect: `"Sequential"` (`fc1`, `fc2`, …) or
    /// `{"Dueling": {"trunk": t, "value": v, "advantage": a}}` (`trunk.i`,
    /// `value.i`, `advantage.i`).
    layout: Layout,
    /// Each layer's inputs, outputs and whether it is noisy (tensors
    /// `weight_mu`, `weight_sigma`, `bias_mu`, `bias_sigma`), in order; a
    /// convolution adds its `kind` (`{"Conv2d": {geometry}}`).
    layers: Vec<LayerShape>,
    /// `conv1.weight` ([out, in, k, k]), `fc1.weight` ([out, in],
    /// row-major), `fc1.bias`, …
    tensors: Tensors,
}

/// A safetensors file's metadata value when the network has convolutions:
/// the geometry its tensors' shapes do not give (strides, padding, the
/// input image), as `policy.json` writes it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShapeHeader {
    layout: Layout,
    layers: Vec<LayerShape>,
}

/// Version 1: a chain of plain layers.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFileV1 {
    #[expect(dead_code, reason = "read by the header")]
    format: String,
    #[expect(dead_code, reason = "read by the header")]
    version: u32,
    /// Layer widths, input first.
    sizes: Vec<usize>,
    tensors: Tensors,
}

/// The tensors by name; a name given twice is refused, not silently
/// resolved to its last value.
#[derive(Serialize)]
#[serde(transparent)]
struct Tensors(BTreeMap<String, Tensor>);

impl<'de> Deserialize<'de> for Tensors {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Tensors;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from tensor names to tensors")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Tensors, A::Error> {
                let mut tensors = BTreeMap::new();
                while let Some((name, tensor)) = map.next_entry::<String, Tensor>()? {
                    if tensors.contains_key(&name) {
                        return Err(serde::de::Error::custom(format_args!("tensor {name:?} is given twice")));
                    }
                    tensors.insert(name, tensor);
                }
                Ok(Tensors(tensors))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

/// What is wrong with a policy file's content, or with using it.
#[derive(Debug)]
#[non_exhaustive]
pub enum PolicyError {
    /// Not JSON of a policy file's form.
    Json(serde_json::Error),
    /// Another format, or a version other than 1 and 2.
    Format {
        /// The format named.
        format: String,
        /// The version named.
        version: u32,
    },
    /// Fewer than two layer sizes, or a size of 0.
    Sizes {
        /// The sizes given.
        sizes: Vec<usize>,
    },
    /// Layers that do not connect as the layout says.
    Layers(MlpError),
    /// A network larger than any configuration may ask for.
    TooLarge {
        /// The shape given.
        shape: Box<Shape>,
    },
    /// A tensor the sizes call for is missing.
    MissingTensor {
        /// Its name.
        name: String,
    },
    /// A tensor that is no part of a network of the given sizes.
    UnexpectedTensor {
        /// Its name.
        name: String,
    },
    /// A tensor of the wrong shape, or whose values do not fill its shape.
    TensorShape {
        /// Its name.
        name: String,
        /// The shape given.
        shape: Vec<usize>,
        /// The values given.
        values: usize,
        /// The shape the sizes call for.
        expected: Vec<usize>,
    },
    /// The network refused the tensors (e.g. a value that is not finite).
    Network(MlpError),
    /// Not a safetensors file, or a damaged one.
    Safetensors(safetensors::SafeTensorError),
    /// A safetensors tensor of another element type than `F32`.
    Dtype {
        /// Its name.
        name: String,
        /// Its element type, as the file names it.
        dtype: String,
    },
    /// A tensor whose name belongs to no layer of a chain (`fcK.*`) or of
    /// dueling heads (`trunk.i.*`, `value.i.*`, `advantage.i.*`), or names
    /// of both kinds in one file.
    UnknownName {
        /// Its name.
        name: String,
    },
    /// A safetensors header that names a tensor twice (the crate would
    /// keep one of them silently; `policy.json` refuses the same).
    DuplicateTensor {
        /// Its name.
        name: String,
    },
    /// A convolution's weight whose geometry (stride, padding, input
    /// image) neither the file nor the configuration gives.
    ConvGeometry {
        /// The weight's name.
        name: String,
        /// Its shape, `[out, in, k, k]`.
        shape: Vec<usize>,
    },
    /// A weight that is not a matrix `[outputs, inputs]` (or a
    /// convolution's `[out, in, k, k]`).
    WeightRank {
        /// Its name.
        name: String,
        /// The shape given.
        shape: Vec<usize>,
    },
    /// The policy's shape differs from the run's configuration's.
    Mismatch {
        /// The policy's shape.
        policy: Box<Shape>,
        /// The shape the run's configuration makes.
        run: Box<Shape>,
    },
    /// The run's learner has no network to load a policy into.
    NotANetworkLearner,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json(_) => write!(f, "not a policy file"),
            Self::Format { format, version } => {
                // A format string can be anything a file holds: show its start.
                let shown: String = format.chars().take(40).collect();
                let more = if shown.len() < format.len() { "…" } else { "" };
                write!(f, "format {shown:?}{more} version {version}, expected {FORMAT:?} version 1 or {VERSION}")
            }
            Self::Sizes { sizes } => {
                write!(f, "sizes {sizes:?} do not make a network (at least two layers, each at least 1 wide)")
            }
            Self::Layers(_) => write!(f, "the layers do not make a network"),
            Self::TooLarge { shape } => {
                write!(f, "layers [{shape}] make a network of more than {} parameters", DqnConfig::MAX_PARAMS)
            }
            Self::MissingTensor { name } => write!(f, "tensor {name} is missing"),
            Self::UnexpectedTensor { name } => write!(f, "tensor {name} is not part of a network of these layers"),
            Self::TensorShape { name, shape, values, expected } => {
                write!(f, "tensor {name} has shape {shape:?} and {values} values, expected {expected:?}")
            }
            Self::Network(_) => write!(f, "the network refused its tensors"),
            Self::Safetensors(_) => write!(f, "not a readable safetensors file"),
            Self::Dtype { name, dtype } => write!(f, "tensor {name} is {dtype}, expected F32 (float32)"),
            Self::DuplicateTensor { name } => write!(f, "tensor {name} is named twice in the safetensors header"),
            Self::UnknownName { name } => write!(
                f,
                "tensor {name} is no layer of a chain (conv1.weight, …, fc1.weight, fc1.bias, …) or of dueling \
                 heads (trunk.0.*, value.0.*, advantage.0.*)"
            ),
            Self::WeightRank { name, shape } => write!(
                f,
                "tensor {name} has shape {shape:?}, expected a weight [outputs, inputs] (or a convolution's [out, in, \
                 k, k])"
            ),
            Self::ConvGeometry { name, shape } => write!(
                f,
                "tensor {name} {shape:?} is a convolution whose stride, padding and input size the file does not \
                 give: load it into a run whose configuration has that network"
            ),
            Self::Mismatch { policy, run } => {
                write!(f, "the policy is [{policy}], the run's configuration makes [{run}]")
            }
            Self::NotANetworkLearner => write!(f, "the run's learner has no network to load a policy into"),
        }
    }
}

impl std::error::Error for PolicyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Json(e) => Some(e),
            Self::Network(e) => Some(e),
            Self::Layers(e) => Some(e),
            Self::Safetensors(e) => Some(e),
            _ => None,
        }
    }
}

/// Writes `net` to `path` (JSON; every `f32` written so it reads back to the same bits).
///
/// # Errors
/// [`RunError::Io`].
pub fn save_policy(net: &Mlp<f32>, path: &Path) -> Result<(), RunError> {
    let tensors = net
        .params()
        .named_tensors()
        .map(|(name, t)| (name, Tensor { shape: t.shape(), data: t.iter().copied().collect() }))
        .collect();
    let shape = net.shape();
    let file = PolicyFile {
        format: FORMAT.into(),
        version: VERSION,
        layout: shape.layout,
        layers: shape.layers,
        tensors: Tensors(tensors),
    };
    let text = serde_json::to_string(&file).expect("a policy always serializes");
    write_file(path, text.as_bytes())
}

/// Writes `net` to `path` as safetensors: each tensor by its PyTorch name,
/// `F32`, little-endian, `[out, in]` weights (the file
/// `safetensors.torch.load_file` reads into a `state_dict`). The header's
/// metadata, `{"dqn-rs policy": "fc1 4→128, …"}`, is for people reading;
/// loading goes by the tensors' names alone.
///
/// # Errors
/// [`RunError::Io`].
pub fn save_policy_safetensors(net: &Mlp<f32>, path: &Path) -> Result<(), RunError> {
    write_file(path, &policy_safetensors(net))
}

/// The safetensors bytes of `net` (as [`save_policy_safetensors`] writes
/// them): the same network always gives the same bytes.
#[must_use]
pub fn policy_safetensors(net: &Mlp<f32>) -> Vec<u8> {
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = net
        .params()
        .named_tensors()
        .map(|(name, t)| (name, t.shape(), t.iter().flat_map(|v| v.to_le_bytes()).collect()))
        .collect();
    let views = tensors.iter().map(|(name, shape, bytes)| {
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
            .expect("the bytes fill the shape");
        (name.as_str(), view)
    });
    // One entry: the crate keeps metadata in a HashMap, whose order (and
    // so the bytes of more than one entry) varies from run to run. With
    // convolutions it is the shape as JSON, which a reader needs.
    let shape = net.shape();
    let value = if shape.convs() == 0 {
        shape.to_string()
    } else {
        serde_json::to_string(&ShapeHeader { layout: shape.layout, layers: shape.layers })
            .expect("a shape always serializes")
    };
    let metadata = std::iter::once((FORMAT.to_string(), value)).collect();
    safetensors::serialize(views, Some(metadata)).expect("a policy's tensors always serialize")
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    crate::write_atomic(path, bytes, &mut |_, _| {}).map_err(|(at, source)| RunError::Io {
        path: at,
        action: "write policy",
        source,
    })
}

/// Reads a policy written by [`save_policy`] (or by a version-1 writer),
/// or a safetensors file of a network's tensors by their PyTorch names (as
/// [`save_policy_safetensors`] writes, or PyTorch's
/// `safetensors.torch.save_file(net.state_dict(), path)` of a network of
/// `nn.Linear` layers named `fc1`, `fc2`, …). The file's content says
/// which: a safetensors file starts with its header's length, then `{`.
///
/// # Errors
/// [`RunError::Io`] if unreadable, [`RunError::Policy`] naming what is wrong
/// with the content (not JSON or safetensors, another format or version,
/// layers that make no network or too large a one, a missing, unexpected,
/// misshapen or non-`F32` tensor, a non-finite value).
pub fn load_policy(path: &Path) -> Result<Mlp<f32>, RunError> {
    load_policy_like(path, None)
}

/// [`load_policy`] for a run whose configuration makes the network
/// `like`: a safetensors file that does not give its convolutions'
/// geometry (PyTorch's `save_file(net.state_dict())` of a module with
/// `conv1`, …) takes `like`'s (see [`parse_safetensors_policy_like`]).
///
/// # Errors
/// As [`load_policy`].
pub fn load_policy_like(path: &Path, like: Option<&Shape>) -> Result<Mlp<f32>, RunError> {
    let bytes = std::fs::read(path).map_err(io_err(path, "read policy"))?;
    let policy = if is_safetensors(&bytes) {
        parse_safetensors_policy_like(&bytes, like)
    } else {
        let text = String::from_utf8(bytes).map_err(|e| RunError::Io {
            path: path.to_path_buf(),
            action: "read policy",
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        parse_policy(&text)
    };
    policy.map_err(|source| RunError::Policy { path: path.to_path_buf(), source })
}

/// Whether `bytes` look like safetensors: an 8-byte little-endian header
/// length that fits the file, then the header's JSON object. A policy's
/// JSON starts with `{`, or with white space before it: eight spaces read
/// as a length of 2.3·10¹⁸ bytes, which no file holds, so such a file is
/// JSON.
fn is_safetensors(bytes: &[u8]) -> bool {
    let Some(len) = bytes.get(..8) else { return false };
    let len = u64::from_le_bytes(len.try_into().expect("8 bytes"));
    bytes.get(8) == Some(&b'{') && len <= (bytes.len() - 8) as u64
}

/// The first tensor name a safetensors header gives twice. The header is
/// a JSON object from names to tensors (and `__metadata__`); JSON allows
/// a key twice, and the crate's map keeps one silently.
fn duplicate_name(bytes: &[u8]) -> Option<String> {
    struct Keys;
    impl<'de> serde::de::Visitor<'de> for Keys {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a safetensors header")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
            // Read to the end (the parser checks the object is whole).
            let (mut seen, mut twice) = (std::collections::BTreeSet::new(), None);
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<serde::de::IgnoredAny>()?;
                if !seen.insert(key.clone()) {
                    twice.get_or_insert(key);
                }
            }
            Ok(twice)
        }
    }
    struct Header(Option<String>);
    impl<'de> Deserialize<'de> for Header {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(Keys).map(Header)
        }
    }
    let len = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    let header = bytes.get(8..8usize.checked_add(len)?)?;
    serde_json::from_slice::<Header>(header).ok()?.0
}

/// The network a safetensors file describes, its shape read from the
/// tensors' names and shapes: `fcK.weight` `[out, in]` and `fcK.bias` for
/// a chain's layer K, or `trunk.i.*`, `value.i.*`, `advantage.i.*` for
/// dueling heads; a noisy layer has `weight_mu`, `weight_sigma`,
/// `bias_mu`, `bias_sigma` in their place. The header's metadata is not
/// needed.
///
/// # Errors
/// As [`load_policy`]'s [`RunError::Policy`].
pub fn parse_safetensors_policy(bytes: &[u8]) -> Result<Mlp<f32>, PolicyError> {
    parse_safetensors_policy_like(bytes, None)
}

/// As [`parse_safetensors_policy`], and a convolution whose geometry the
/// file does not give (a PyTorch `state_dict` saved as it is) takes the
/// geometry of the same layer of `like` when its channels and kernel are
/// the same.
///
/// # Errors
/// As [`load_policy`]'s [`RunError::Policy`].
pub fn parse_safetensors_policy_like(bytes: &[u8], like: Option<&Shape>) -> Result<Mlp<f32>, PolicyError> {
    let (_, metadata) = safetensors::SafeTensors::read_metadata(bytes).map_err(PolicyError::Safetensors)?;
    let written: Option<ShapeHeader> =
        metadata.metadata().as_ref().and_then(|m| m.get(FORMAT)).and_then(|v| serde_json::from_str(v).ok());
    let file = safetensors::SafeTensors::deserialize(bytes).map_err(PolicyError::Safetensors)?;
    if let Some(name) = duplicate_name(bytes) {
        return Err(PolicyError::DuplicateTensor { name });
    }
    let mut tensors = BTreeMap::new();
    for (name, view) in file.iter() {
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(PolicyError::Dtype { name: name.to_string(), dtype: view.dtype().to_string() });
        }
        // The crate checked that the bytes fill the shape.
        let data = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        tensors.insert(name.to_string(), Tensor { shape: view.shape().to_vec(), data });
    }
    let geometry: Vec<Conv2dShape> = match (&written, like) {
        (Some(header), _) => header.layers.iter().filter_map(LayerShape::conv_shape).copied().collect(),
        (None, Some(shape)) => shape.layers.iter().filter_map(LayerShape::conv_shape).copied().collect(),
        (None, None) => Vec::new(),
    };
    let shape = shape_from_names(&tensors, &geometry)?;
    shape.check().map_err(PolicyError::Layers)?;
    build(&shape, tensors)
}

/// A layer's place as its tensors' names give it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    /// `convK`, K from 1.
    Conv,
    /// `fcK`, K from 1.
    Chain,
    Trunk,
    Value,
    Advantage,
}

/// A layer index written in decimal digits only (`parse` alone also takes
/// a leading `+`).
fn digits(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The layout and layer shapes that tensors' names and weight shapes
/// describe; a convolution `convK` takes the K-th of `geometry` if its
/// channels and kernel are the weight's.
fn shape_from_names(tensors: &BTreeMap<String, Tensor>, geometry: &[Conv2dShape]) -> Result<Shape, PolicyError> {
    // The layer indices of each group (0-based).
    let mut groups: BTreeMap<Group, std::collections::BTreeSet<usize>> = BTreeMap::new();
    for name in tensors.keys() {
        let unknown = || PolicyError::UnknownName { name: name.clone() };
        let (layer, _suffix) = name.rsplit_once('.').ok_or_else(unknown)?;
        let (group, index) = if let Some(k) = layer.strip_prefix("fc") {
            (Group::Chain, digits(k).and_then(|k| k.checked_sub(1)).ok_or_else(unknown)?)
        } else if let Some(k) = layer.strip_prefix("conv") {
            (Group::Conv, digits(k).and_then(|k| k.checked_sub(1)).ok_or_else(unknown)?)
        } else {
            let (stream, i) = layer.split_once('.').ok_or_else(unknown)?;
            let group = match stream {
                "trunk" => Group::Trunk,
                "value" => Group::Value,
                "advantage" => Group::Advantage,
                _ => return Err(unknown()),
            };
            (group, digits(i).ok_or_else(unknown)?)
        };
        // Convolutions go with either; a chain's names with no heads' names.
        let chain = groups.contains_key(&Group::Chain);
        let heads = groups.keys().any(|g| matches!(g, Group::Trunk | Group::Value | Group::Advantage));
        if (group == Group::Chain && heads)
            || (matches!(group, Group::Trunk | Group::Value | Group::Advantage) && chain)
        {
            return Err(unknown());
        }
        groups.entry(group).or_default().insert(index);
    }
    // Each group's layers are 0..n; a gap is a layer whose tensors are missing.
    let count = |group: Group| groups.get(&group).map_or(0, std::collections::BTreeSet::len);
    let convs = count(Group::Conv);
    let heads = [Group::Trunk, Group::Value, Group::Advantage].iter().any(|g| groups.contains_key(g));
    let layout = if heads {
        Layout::Dueling {
            trunk: convs + count(Group::Trunk),
            value: count(Group::Value),
            advantage: count(Group::Advantage),
        }
    } else {
        Layout::Sequential
    };
    let n_layers = match layout {
        Layout::Sequential => convs + count(Group::Chain),
        Layout::Dueling { trunk, value, advantage } => trunk + value + advantage,
    };
    let mut layers = Vec::with_capacity(n_layers);
    for l in 0..n_layers {
        let plain = layout.tensor_name_after(l, convs, TensorKind::Weight, false);
        let (name, noisy) = if tensors.contains_key(&plain) || l < convs {
            (plain.clone(), false)
        } else {
            (layout.tensor_name_after(l, convs, TensorKind::Weight, true), true)
        };
        let Some(weight) = tensors.get(&name) else { return Err(PolicyError::MissingTensor { name: plain }) };
        if l < convs {
            let &[out, channels, k, k2] = weight.shape.as_slice() else {
                return Err(PolicyError::WeightRank { name, shape: weight.shape.clone() });
            };
            let Some(&conv) = geometry
                .get(l)
                .filter(|c| (c.out_channels, c.in_channels, c.kernel, c.kernel) == (out, channels, k, k2))
            else {
                return Err(PolicyError::ConvGeometry { name, shape: weight.shape.clone() });
            };
            layers.push(LayerShape::conv(conv.checked().map_err(PolicyError::Layers)?));
            continue;
        }
        let &[outputs, inputs] = weight.shape.as_slice() else {
            return Err(PolicyError::WeightRank { name, shape: weight.shape.clone() });
        };
        layers.push(LayerShape::linear(inputs, outputs, noisy));
    }
    if layers.is_empty() {
        return Err(PolicyError::MissingTensor { name: "fc1.weight".into() });
    }
    Ok(Shape { layout, layers })
}

/// The network a policy file's text describes.
///
/// # Errors
/// As [`load_policy`]'s [`RunError::Policy`].
pub fn parse_policy(text: &str) -> Result<Mlp<f32>, PolicyError> {
    let header: Header = serde_json::from_str(text).map_err(PolicyError::Json)?;
    if header.format != FORMAT || !(1..=VERSION).contains(&header.version) {
        return Err(PolicyError::Format { format: header.format, version: header.version });
    }
    let (shape, tensors) = if header.version == 1 {
        let file: PolicyFileV1 = serde_json::from_str(text).map_err(PolicyError::Json)?;
        let sizes = file.sizes;
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(PolicyError::Sizes { sizes });
        }
        let layers = sizes.windows(2).map(|w| LayerShape::linear(w[0], w[1], false)).collect();
        (Shape { layout: Layout::Sequential, layers }, file.tensors)
    } else {
        let file: PolicyFile = serde_json::from_str(text).map_err(PolicyError::Json)?;
        let shape = Shape { layout: file.layout, layers: file.layers };
        shape.check().map_err(PolicyError::Layers)?;
        (shape, file.tensors)
    };
    build(&shape, tensors.0)
}

/// The network of `shape` from its tensors by name: every one present, of
/// its shape, and none other.
fn build(shape: &Shape, mut tensors: BTreeMap<String, Tensor>) -> Result<Mlp<f32>, PolicyError> {
    // Every product is checked: the sizes come from the file.
    if shape.param_count().is_none_or(|n| n > DqnConfig::MAX_PARAMS) {
        return Err(PolicyError::TooLarge { shape: Box::new(shape.clone()) });
    }
    let mut layers = Vec::with_capacity(shape.layers.len());
    for (l, layer) in shape.layers.iter().enumerate() {
        let ((out, inp), noisy) = (layer.weight_dims(), layer.noisy);
        // The weight as PyTorch shapes it: a convolution's is [out, in, k, k].
        let weight_shape = match layer.conv_shape() {
            None => vec![out, inp],
            Some(c) => vec![out, c.in_channels, c.kernel, c.kernel],
        };
        let mut take = |kind: TensorKind, expected: Vec<usize>| {
            let name = shape.tensor_name(l, kind);
            let Some(t) = tensors.remove(&name) else { return Err(PolicyError::MissingTensor { name }) };
            // The product cannot overflow: it is bounded by the parameter count above.
            let n: usize = expected.iter().product();
            if t.shape != expected || t.data.len() != n {
                return Err(PolicyError::TensorShape { name, shape: t.shape, values: t.data.len(), expected });
            }
            Ok(t.data)
        };
        let matrix = |data| Array2::from_shape_vec((out, inp), data).expect("length checked against the shape");
        let weight = matrix(take(TensorKind::Weight, weight_shape)?);
        let bias = Array1::from(take(TensorKind::Bias, vec![out])?);
        let sigma = if noisy {
            let weight = matrix(take(TensorKind::WeightSigma, vec![out, inp])?);
            Some(NoiseScales { weight, bias: Array1::from(take(TensorKind::BiasSigma, vec![out])?) })
        } else {
            None
        };
        layers.push(LayerParams { weight, bias, sigma, kind: layer.kind });
    }
    if let Some(name) = tensors.into_keys().next() {
        return Err(PolicyError::UnexpectedTensor { name });
    }
    let params = Params::from_layers_with(shape.layout, layers).map_err(PolicyError::Network)?;
    Mlp::from_params(params).map_err(PolicyError::Network)
}
