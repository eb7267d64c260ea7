//! An environment with copies of one of its actions appended to its action
//! space: many actions of exactly the same value, the setting in which
//! dueling networks (Wang et al. 2016, whose corridor adds no-op actions)
//! should learn faster than a plain Q-network.

use rand::RngCore;

use crate::{Env, EnvError, EnvFamily, EnvSpec, Obs, ObsMut, Resets, StepOutcome, VecEnv};

/// The most copies [`DuplicateAction`] takes: each is a network output.
pub const MAX_COPIES: usize = 1024;

/// Wraps a family so its environments take `n + copies` actions: `0..n` as
/// before, and each of `n..n + copies` does what `action` does.
#[derive(Debug)]
pub struct DuplicateAction {
    inner: Box<dyn EnvFamily>,
    map: ActionMap,
}

/// How the wider action space maps onto the environment's own.
#[derive(Debug, Clone, Copy)]
struct ActionMap {
    /// The environment's own number of actions.
    own: usize,
    /// The action the copies stand for.
    action: usize,
    /// How many copies.
    copies: usize,
}

impl ActionMap {
    fn n_actions(self) -> usize {
        self.own + self.copies
    }

    /// The environment's action for `action`, or the error naming it.
    fn own_action(self, action: usize) -> Result<usize, EnvError> {
        if action < self.own {
            Ok(action)
        } else if action < self.n_actions() {
            Ok(self.action)
        } else {
            Err(EnvError::InvalidAction { action, n_actions: self.n_actions() })
        }
    }
}

impl DuplicateAction {
    /// `inner`'s environments with `copies` copies of `action` appended.
    ///
    /// # Errors
    /// [`EnvError::InvalidAction`] for an `action` outside `inner`'s
    /// action space; [`EnvError::InvalidSetting`] for 0 copies or more than
    /// [`MAX_COPIES`].
    pub fn new(inner: Box<dyn EnvFamily>, action: usize, copies: usize) -> Result<Self, EnvError> {
        let own = inner.spec().n_actions;
        if action >= own {
            return Err(EnvError::InvalidAction { action, n_actions: own });
        }
        if copies == 0 || copies > MAX_COPIES {
            #[allow(clippy::cast_precision_loss)] // at most usize::MAX, shown in a message
            return Err(EnvError::InvalidSetting { name: "copies (1..=1024)", value: copies as f64 });
        }
        Ok(Self { inner, map: ActionMap { own, action, copies } })
    }
}

impl EnvFamily for DuplicateAction {
    fn spec(&self) -> EnvSpec {
        EnvSpec { n_actions: self.map.n_actions(), ..self.inner.spec() }
    }

    fn single(&self) -> Result<Box<dyn Env>, EnvError> {
        Ok(Box::new(DuplicateEnv { inner: self.inner.single()?, map: self.map }))
    }

    fn batch(&self, n: usize, resets: &mut dyn Resets) -> Result<Box<dyn VecEnv>, EnvError> {
        Ok(Box::new(DuplicateVecEnv { inner: self.inner.batch(n, resets)?, map: self.map, own: Vec::new() }))
    }

    fn can_save(&self) -> bool {
        self.inner.can_save()
    }

    fn restore(&self, saved: &[u8]) -> Result<Box<dyn VecEnv>, EnvError> {
        // The wrapper has no state of its own: the batch's bytes are all.
        Ok(Box::new(DuplicateVecEnv { inner: self.inner.restore(saved)?, map: self.map, own: Vec::new() }))
    }
}

#[derive(Debug)]
struct DuplicateEnv {
    inner: Box<dyn Env>,
    map: ActionMap,
}

impl Env for DuplicateEnv {
    fn spec(&self) -> EnvSpec {
        EnvSpec { n_actions: self.map.n_actions(), ..self.inner.spec() }
    }

    fn reset(&mut self, rng: &mut dyn RngCore, obs: ObsMut<'_>) -> Result<(), EnvError> {
        self.inner.reset(rng, obs)
    }

    fn reset_to(&mut self, state: &[f64], obs: ObsMut<'_>) -> Result<(), EnvError> {
        self.inner.reset_to(state, obs)
    }

    fn step(&mut self, action: usize, obs: ObsMut<'_>) -> Result<StepOutcome, EnvError> {
        self.inner.step(self.map.own_action(action)?, obs)
    }

    fn state(&self) -> &[f64] {
        self.inner.state()
    }

    fn elapsed_steps(&self) -> u32 {
        self.inner.elapsed_steps()
    }

    fn is_running(&self) -> bool {
        self.inner.is_running()
    }
}

#[derive(Debug)]
struct DuplicateVecEnv {
    inner: Box<dyn VecEnv>,
    map: ActionMap,
    /// The last step's actions in the environment's own space (kept to
    /// reuse its allocation).
    own: Vec<usize>,
}

impl VecEnv for DuplicateVecEnv {
    fn spec(&self) -> EnvSpec {
        EnvSpec { n_actions: self.map.n_actions(), ..self.inner.spec() }
    }

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn observations(&self) -> Obs<'_> {
        self.inner.observations()
    }

    fn final_observations(&self) -> Obs<'_> {
        self.inner.final_observations()
    }

    fn rewards(&self) -> &[f64] {
        self.inner.rewards()
    }

    fn terminated(&self) -> &[bool] {
        self.inner.terminated()
    }

    fn truncated(&self) -> &[bool] {
        self.inner.truncated()
    }

    fn elapsed_steps(&self) -> &[u32] {
        self.inner.elapsed_steps()
    }

    fn step(&mut self, actions: &[usize], resets: &mut dyn Resets) -> Result<(), EnvError> {
        if actions.len() != self.inner.len() {
            return Err(EnvError::ActionCount { expected: self.inner.len(), got: actions.len() });
        }
        self.own.clear();
        for &a in actions {
            self.own.push(self.map.own_action(a)?);
        }
        self.inner.step(&self.own, resets)
    }

    fn save(&self) -> Result<Vec<u8>, EnvError> {
        self.inner.save()
    }
}
