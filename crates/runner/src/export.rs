//! A run's trained policy in the formats other tools read: the policy file
//! as JSON or safetensors (PyTorch), and the greedy Q-network as ONNX.

use std::path::Path;

use agent::c51::{QReadout, Support};
use agent::{Mlp, SingleScratch};

use crate::onnx::{QHead, onnx_model};
use crate::policy_file::{load_policy, policy_safetensors, save_policy};
use crate::run::files;
use crate::{LearnerSetting, PolicyError, RunConfig, RunError};

/// A format a policy is exported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// `policy.json`'s format.
    Json,
    /// safetensors: the tensors by their PyTorch names (`safetensors.torch.load_file`).
    Safetensors,
    /// An ONNX model of the greedy Q-values (see [`onnx_model`]).
    Onnx,
}

impl ExportFormat {
    /// The file extension of the format.
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Safetensors => "safetensors",
            Self::Onnx => "onnx",
        }
    }
}

/// The support of the run's distributional head, if it has one.
///
/// # Errors
/// [`RunError::Config`] if the configuration is invalid.
pub fn q_support(config: &RunConfig) -> Result<Option<Support>, RunError> {
    config.validate()?;
    let support = match config.agent.distributional {
        Some(d) => Some(Support::new(d.v_min, d.v_max, d.n_atoms).map_err(|e| RunError::Learner(e.into()))?),
        None => None,
    };
    Ok(support)
}

/// Writes the policy of the run in `run_dir` (its `policy.json`, read with
/// its `config.ron`) to `out` in `format`.
///
/// # Errors
/// [`RunError::Config`] for the run's configuration, [`RunError::Io`] or
/// [`RunError::Policy`] for the policy file (one that does not fit the
/// configuration included), [`RunError::Io`] for `out`.
pub fn export_policy(run_dir: &Path, format: ExportFormat, out: &Path) -> Result<(), RunError> {
    let config = RunConfig::from_file(&run_dir.join(files::CONFIG))?;
    let policy_path = run_dir.join(files::POLICY);
    if !matches!(config.learner, LearnerSetting::Dqn) {
        return Err(RunError::Policy { path: policy_path, source: PolicyError::NotANetworkLearner });
    }
    let net = load_policy(&policy_path)?;
    let run = config.agent.shape(&config.spaces()?).map_err(|e| RunError::Learner(e.into()))?;
    if net.shape() != run {
        let source = PolicyError::Mismatch { policy: Box::new(net.shape()), run: Box::new(run) };
        return Err(RunError::Policy { path: policy_path, source });
    }
    let bytes = match format {
        ExportFormat::Json => return save_policy(&net, out),
        ExportFormat::Safetensors => policy_safetensors(&net),
        ExportFormat::Onnx => {
            let support = q_support(&config)?;
            onnx_model(&net, support.as_ref().map_or(QHead::Values, QHead::Distribution))
        }
    };
    crate::write_atomic(out, &bytes, &mut |_, _| {}).map_err(|(path, source)| RunError::Io {
        path,
        action: "write export",
        source,
    })
}

/// The greedy Q-values of `net` on each row of `observations` (row-major,
/// `net.input_dim()` wide), as the agent computes them when it acts: one
/// row at a time, on the mean weights of noisy layers, a distribution's
/// expected value under `support`. What an exported model must reproduce.
///
/// # Errors
/// [`agent::MlpError`] if a row does not fit the network.
pub fn greedy_q_values(
    net: &Mlp<f32>,
    support: Option<&Support>,
    observations: &[f32],
) -> Result<Vec<f32>, agent::MlpError> {
    let mut q = Vec::new();
    for_each_greedy_row(net, support, observations, |_, values| q.extend_from_slice(values))?;
    Ok(q)
}

/// The return distributions a distributional `net` predicts on each row of
/// `observations`, as [`greedy_q_values`] computes them, with their
/// expected values: per row, per action, the probability of each of
/// `support`'s atoms (`n_actions × n_atoms` values a row), and per row the
/// `n_actions` Q-values the agent acts on (the same as
/// [`greedy_q_values`]'s, from the same forward pass).
///
/// # Errors
/// As [`greedy_q_values`].
pub fn greedy_distributions(
    net: &Mlp<f32>,
    support: &Support,
    observations: &[f32],
) -> Result<(Vec<f32>, Vec<f32>), agent::MlpError> {
    let (mut probs, mut q) = (Vec::new(), Vec::new());
    for_each_greedy_row(net, Some(support), observations, |p, values| {
        probs.extend_from_slice(p);
        q.extend_from_slice(values);
    })?;
    Ok((probs, q))
}

/// Calls `row(probabilities, q_values)` for each row of `observations`,
/// forwarded one at a time on `net`'s mean weights (probabilities empty
/// without a `support`).
fn for_each_greedy_row(
    net: &Mlp<f32>,
    support: Option<&Support>,
    observations: &[f32],
    mut row: impl FnMut(&[f32], &[f32]),
) -> Result<(), agent::MlpError> {
    let mut mean = net.clone();
    mean.clear_noise();
    let mut scratch = SingleScratch::default();
    let mut readout = QReadout::new(support.copied());
    for obs in observations.chunks(net.input_dim().max(1)) {
        let outputs = mean.forward_single(obs, &mut scratch)?;
        let (probs, values) = readout.probabilities_and_q_values(outputs);
        row(probs, values);
    }
    Ok(())
}
