//! The saved policy: the network's tensors by their PyTorch names, as JSON,
//! so the same file can be read back here or loaded into PyTorch.

use std::collections::BTreeMap;
use std::path::Path;

use mlp::{LayerParams, Mlp, Params};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::RunError;
use crate::error::io_err;

const FORMAT: &str = "dqn-rs policy";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    format: String,
    version: u32,
    /// Layer widths, input first.
    sizes: Vec<usize>,
    /// `fc1.weight` ([out, in], row-major), `fc1.bias`, …
    tensors: BTreeMap<String, Tensor>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
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
    let file = PolicyFile { format: FORMAT.into(), version: VERSION, sizes: net.sizes(), tensors };
    let text = serde_json::to_string(&file).expect("a policy always serializes");
    std::fs::write(path, text).map_err(io_err(path, "write policy"))
}

/// Reads a policy written by [`save_policy`].
///
/// # Errors
/// [`RunError::Io`] if unreadable, [`RunError::Policy`] naming what is wrong
/// with the content (not JSON, another format or version, a missing or
/// misshapen tensor, a non-finite value).
pub fn load_policy(path: &Path) -> Result<Mlp<f32>, RunError> {
    let bad = |reason: String| RunError::Policy { path: path.to_path_buf(), reason };
    let text = std::fs::read_to_string(path).map_err(io_err(path, "read policy"))?;
    let file: PolicyFile = serde_json::from_str(&text).map_err(|e| bad(format!("not a policy file: {e}")))?;
    if file.format != FORMAT || file.version != VERSION {
        return Err(bad(format!(
            "format {:?} version {}, expected {FORMAT:?} version {VERSION}",
            file.format, file.version
        )));
    }
    if file.sizes.len() < 2 {
        return Err(bad(format!("sizes {:?} name fewer than two layers", file.sizes)));
    }
    let mut layers = Vec::new();
    for (l, w) in file.sizes.windows(2).enumerate() {
        let take = |suffix: &str, shape: Vec<usize>| -> Result<Vec<f32>, RunError> {
            let name = format!("fc{}.{suffix}", l + 1);
            let t = file.tensors.get(&name).ok_or_else(|| bad(format!("tensor {name} is missing")))?;
            let n: usize = shape.iter().product();
            if t.shape != shape || t.data.len() != n {
                return Err(bad(format!(
                    "tensor {name} has shape {:?} and {} values, expected {shape:?}",
                    t.shape,
                    t.data.len()
                )));
            }
            Ok(t.data.clone())
        };
        let weight = Array2::from_shape_vec((w[1], w[0]), take("weight", vec![w[1], w[0]])?).expect("length checked");
        let bias = Array1::from(take("bias", vec![w[1]])?);
        layers.push(LayerParams { weight, bias });
    }
    let params = Params::from_layers(layers).map_err(|e| bad(e.to_string()))?;
    Mlp::from_params(params).map_err(|e| bad(e.to_string()))
}
