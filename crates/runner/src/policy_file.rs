//! The saved policy: the network's tensors by their PyTorch names, as JSON,
//! so the same file can be read back here or loaded into PyTorch. Reading
//! checks every size, product and name before it builds anything.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use agent::{DqnConfig, LayerParams, LayerShape, Layout, Mlp, MlpError, NoiseScales, Params, Shape, TensorKind};
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
    /// `weight_mu`, `weight_sigma`, `bias_mu`, `bias_sigma`), in order.
    layers: Vec<LayerShape>,
    /// `fc1.weight` ([out, in], row-major), `fc1.bias`, …
    tensors: Tensors,
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
    crate::write_atomic(path, text.as_bytes(), &mut |_, _| {}).map_err(|(at, source)| RunError::Io {
        path: at,
        action: "write policy",
        source,
    })
}

/// Reads a policy written by [`save_policy`] (or by a version-1 writer).
///
/// # Errors
/// [`RunError::Io`] if unreadable, [`RunError::Policy`] naming what is wrong
/// with the content (not JSON, another format or version, layers that make
/// no network or too large a one, a missing, unexpected or misshapen
/// tensor, a non-finite value).
pub fn load_policy(path: &Path) -> Result<Mlp<f32>, RunError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path, "read policy"))?;
    parse_policy(&text).map_err(|source| RunError::Policy { path: path.to_path_buf(), source })
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
        let layers = sizes.windows(2).map(|w| LayerShape { inputs: w[0], outputs: w[1], noisy: false }).collect();
        (Shape { layout: Layout::Sequential, layers }, file.tensors)
    } else {
        let file: PolicyFile = serde_json::from_str(text).map_err(PolicyError::Json)?;
        let shape = Shape { layout: file.layout, layers: file.layers };
        shape.check().map_err(PolicyError::Layers)?;
        (shape, file.tensors)
    };
    // Every product is checked: the sizes come from the file.
    if shape.param_count().is_none_or(|n| n > DqnConfig::MAX_PARAMS) {
        return Err(PolicyError::TooLarge { shape: Box::new(shape) });
    }
    let mut tensors = tensors.0;
    let mut layers = Vec::with_capacity(shape.layers.len());
    for (l, layer) in shape.layers.iter().enumerate() {
        let (out, inp, noisy) = (layer.outputs, layer.inputs, layer.noisy);
        let mut take = |kind: TensorKind, expected: Vec<usize>| {
            let name = shape.layout.tensor_name(l, kind, noisy);
            let Some(t) = tensors.remove(&name) else { return Err(PolicyError::MissingTensor { name }) };
            // The product cannot overflow: it is bounded by the parameter count above.
            let n: usize = expected.iter().product();
            if t.shape != expected || t.data.len() != n {
                return Err(PolicyError::TensorShape { name, shape: t.shape, values: t.data.len(), expected });
            }
            Ok(t.data)
        };
        let matrix = |data| Array2::from_shape_vec((out, inp), data).expect("length checked against the shape");
        let weight = matrix(take(TensorKind::Weight, vec![out, inp])?);
        let bias = Array1::from(take(TensorKind::Bias, vec![out])?);
        let sigma = if noisy {
            let weight = matrix(take(TensorKind::WeightSigma, vec![out, inp])?);
            Some(NoiseScales { weight, bias: Array1::from(take(TensorKind::BiasSigma, vec![out])?) })
        } else {
            None
        };
        layers.push(LayerParams { weight, bias, sigma });
    }
    if let Some(name) = tensors.into_keys().next() {
        return Err(PolicyError::UnexpectedTensor { name });
    }
    let params = Params::from_layers_with(shape.layout, layers).map_err(PolicyError::Network)?;
    Mlp::from_params(params).map_err(PolicyError::Network)
}
