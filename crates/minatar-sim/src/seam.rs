//! The games behind `env_core`'s traits: [`MinAtarEnv`] (one game with
//! Gymnasium's episode rules) and [`MinAtarFamily`] (single games and
//! auto-resetting batches, for a training loop).
//!
//! Each reset draws a seed from the caller's RNG and does what the
//! package's Gymnasium wrapper does for `reset(seed=s)`: `seed(s)`, then
//! `reset()` (the last action kept). So every episode is the package's
//! episode for that seed, checkable step by step, while the run's
//! randomness still comes from the caller's streams as `env_core` wants.
//!
//! A game owns a random stream that sticky actions and the game share, and
//! a state with many internal invariants. Rather than store both and check
//! every invariant on the way back in, a saved game is its episode: the
//! seed it was reset from, the last action before it, and the actions
//! taken since (a byte each). Restoring replays them, so a restored game
//! is one the package could be in, exactly the one that was saved.

use env_core::{
    AutoReset, Env, EnvError, EnvFamily, EnvSpec, Inconsistency, ObsMut, ObsSpace, ObsType, SavedEnv, StepOutcome,
};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::{Game, MinAtar, N_ACTIONS, SIDE, Settings};

/// Which actions the agent chooses from: the package's Gymnasium ids
/// `MinAtar/<Game>-v0` (all six) and `-v1` (the game's minimal set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ActionSet {
    /// All six actions (`-v0`), as Young & Tian's results use.
    #[default]
    Full,
    /// The game's minimal set (`-v1`): action `i` is the game's `i`-th.
    Minimal,
}

/// A game's rules as an environment: the game, its settings and its action
/// set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// The game.
    pub game: Game,
    /// Sticky actions and difficulty ramping.
    pub settings: Settings,
    /// All six actions or the minimal set.
    pub actions: ActionSet,
}

impl Rules {
    /// The package's defaults for `game`: sticky actions 0.1, ramping on,
    /// all six actions (`MinAtar/<Game>-v0`).
    #[must_use]
    pub fn new(game: Game) -> Self {
        Self { game, settings: Settings::default(), actions: ActionSet::Full }
    }

    /// Refuses a sticky-action probability that is not a probability.
    ///
    /// # Errors
    /// [`EnvError::InvalidSetting`] naming `sticky_action_prob`.
    pub fn check(&self) -> Result<(), EnvError> {
        let value = self.settings.sticky_action_prob;
        if !(0.0..=1.0).contains(&value) {
            return Err(EnvError::InvalidSetting { name: "sticky_action_prob", value });
        }
        Ok(())
    }

    /// The Gymnasium id the package registers for these rules.
    #[must_use]
    pub fn id(&self) -> &'static str {
        let ids = match self.game {
            Game::Asterix => ["MinAtar/Asterix-v0", "MinAtar/Asterix-v1"],
            Game::Breakout => ["MinAtar/Breakout-v0", "MinAtar/Breakout-v1"],
            Game::Freeway => ["MinAtar/Freeway-v0", "MinAtar/Freeway-v1"],
            Game::Seaquest => ["MinAtar/Seaquest-v0", "MinAtar/Seaquest-v1"],
            Game::SpaceInvaders => ["MinAtar/SpaceInvaders-v0", "MinAtar/SpaceInvaders-v1"],
        };
        match self.actions {
            ActionSet::Full => ids[0],
            ActionSet::Minimal => ids[1],
        }
    }

    /// The rules a package id names (`MinAtar/Breakout-v1`), with the
    /// package's default settings.
    #[must_use]
    pub fn from_id(id: &str) -> Option<Self> {
        let name = id.strip_prefix("MinAtar/")?;
        let (game, actions) = if let Some(game) = name.strip_suffix("-v0") {
            (game, ActionSet::Full)
        } else {
            (name.strip_suffix("-v1")?, ActionSet::Minimal)
        };
        let game = Game::ALL.into_iter().find(|g| g.gym_name() == game)?;
        Some(Self { actions, ..Self::new(game) })
    }

    /// The number of actions the agent chooses from.
    #[must_use]
    pub fn n_actions(&self) -> usize {
        match self.actions {
            ActionSet::Full => N_ACTIONS,
            ActionSet::Minimal => self.game.minimal_actions().len(),
        }
    }

    /// The package's action for the agent's `action`, if it is one.
    fn game_action(&self, action: usize) -> Option<usize> {
        match self.actions {
            ActionSet::Full => (action < N_ACTIONS).then_some(action),
            ActionSet::Minimal => self.game.minimal_actions().get(action).copied(),
        }
    }

    /// The spaces and rules as `env_core` states them: binary planes
    /// `[channels, 10, 10]`, no step limit (Freeway's 2 500-frame end is
    /// the game's own termination), no reward threshold.
    #[must_use]
    pub fn spec(&self) -> EnvSpec {
        EnvSpec {
            id: self.id().to_string(),
            obs: ObsSpace::new(vec![self.game.channels(), SIDE, SIDE], ObsType::Bit)
                .expect("a game's planes are a valid shape"),
            n_actions: self.n_actions(),
            max_episode_steps: None,
            reward_threshold: None,
            obs_ranges: Vec::new(),
        }
    }
}

/// The episode a game is in, as it is saved: enough to replay it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpisodeLog {
    /// The seed of the reset that began it.
    pub seed: u32,
    /// The package's last action before that reset (it may repeat on the
    /// first step).
    pub last_action: u8,
    /// The package's actions since, one a step (after the sticky draw
    /// decided nothing: the actions asked for).
    pub actions: Vec<u8>,
}

/// One MinAtar game with Gymnasium's episode rules: reset before the first
/// step, no step after the end, observations written into the caller's
/// buffer.
///
/// ```
/// use env_core::Env;
/// use minatar_sim::{Game, MinAtarEnv, Rules};
/// use rand::SeedableRng;
///
/// let mut env = MinAtarEnv::new(Rules::new(Game::Breakout))?;
/// let mut planes = vec![0u8; env.spec().obs_len()];
/// env.reset(&mut rand_chacha::ChaCha8Rng::seed_from_u64(0), (&mut planes[..]).into())?;
/// let mut steps = 0;
/// while !env.step(5, (&mut planes[..]).into())?.is_done() {
///     steps += 1;
/// }
/// assert!(steps > 0);
/// # Ok::<(), env_core::EnvError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MinAtarEnv {
    rules: Rules,
    /// The game, once reset.
    game: Option<MinAtar>,
    log: Option<EpisodeLog>,
    over: bool,
}

/// What a [`MinAtarEnv`] is saved as (and read back from, checked by
/// replaying it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMinAtarEnv {
    /// The rules.
    pub rules: Rules,
    /// The episode, once reset.
    pub episode: Option<EpisodeLog>,
    /// Whether the episode has ended.
    pub over: bool,
}

impl Serialize for MinAtarEnv {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StoredMinAtarEnv { rules: self.rules, episode: self.log.clone(), over: self.over }.serialize(serializer)
    }
}

impl MinAtarEnv {
    /// A game under `rules`, to be reset before its first step.
    ///
    /// # Errors
    /// As [`Rules::check`].
    pub fn new(rules: Rules) -> Result<Self, EnvError> {
        rules.check()?;
        Ok(Self { rules, game: None, log: None, over: false })
    }

    /// The rules.
    #[must_use]
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The episode so far (`None` before the first reset).
    #[must_use]
    pub fn episode(&self) -> Option<&EpisodeLog> {
        self.log.as_ref()
    }

    /// The package's `reset(seed=seed)`: `seed(seed)`, then `reset()`, the
    /// last action kept. Writes the first observation into `obs`.
    ///
    /// # Errors
    /// As [`Env::reset`] for a buffer that does not fit.
    pub fn reset_with_seed(&mut self, seed: u32, obs: ObsMut<'_>) -> Result<(), EnvError> {
        let cells = self.cells(obs)?;
        let game = match self.game.take() {
            Some(mut game) => {
                game.seed(seed);
                game.reset();
                game
            }
            None => MinAtar::new(self.rules.game, self.rules.settings, seed),
        };
        let last_action = u8::try_from(game.last_action).expect("actions are below 6");
        game.draw(cells);
        self.game = Some(game);
        // The last episode's action list is reused: short episodes would
        // otherwise allocate anew each reset.
        let mut actions = self.log.take().map(|log| log.actions).unwrap_or_default();
        actions.clear();
        self.log = Some(EpisodeLog { seed, last_action, actions });
        self.over = false;
        Ok(())
    }

    /// The observation buffer as cells, checked.
    fn cells<'a>(&self, obs: ObsMut<'a>) -> Result<&'a mut [u8], EnvError> {
        let expected = self.rules.game.channels() * SIDE * SIDE;
        match obs {
            ObsMut::U8(cells) if cells.len() == expected => Ok(cells),
            ObsMut::U8(cells) => Err(EnvError::StateLength { what: "observation", expected, got: cells.len() }),
            other => Err(EnvError::ObsType { expected: ObsType::U8, got: other.carrier() }),
        }
    }
}

impl Env for MinAtarEnv {
    fn spec(&self) -> EnvSpec {
        self.rules.spec()
    }

    fn reset(&mut self, rng: &mut dyn RngCore, obs: ObsMut<'_>) -> Result<(), EnvError> {
        // Checked before the draw, so a bad buffer leaves the caller's RNG
        // where it was.
        let mut obs = obs;
        self.cells(obs.reborrow())?;
        let seed = rng.next_u32();
        self.reset_with_seed(seed, obs)
    }

    fn step(&mut self, action: usize, obs: ObsMut<'_>) -> Result<StepOutcome, EnvError> {
        let steps = self.elapsed_steps();
        let n_actions = self.rules.n_actions();
        let game_action = self.rules.game_action(action);
        let cells = self.cells(obs);
        let (Some(game), Some(log)) = (self.game.as_mut(), self.log.as_mut()) else {
            return Err(EnvError::NotReset);
        };
        if self.over {
            return Err(EnvError::EpisodeOver { steps, terminated: true, truncated: false });
        }
        let Some(game_action) = game_action else {
            return Err(EnvError::InvalidAction { action, n_actions });
        };
        let cells = cells?;
        let (reward, terminated) = game.act(game_action).expect("the action set holds the package's actions");
        log.actions.push(u8::try_from(game_action).expect("actions are below 6"));
        game.draw(cells);
        self.over = terminated;
        Ok(StepOutcome { reward: f64::from(reward), terminated, truncated: false })
    }

    fn elapsed_steps(&self) -> u32 {
        self.log.as_ref().map_or(0, |log| u32::try_from(log.actions.len()).unwrap_or(u32::MAX))
    }

    fn is_running(&self) -> bool {
        self.game.is_some() && !self.over
    }
}

impl SavedEnv for MinAtarEnv {
    type Stored = StoredMinAtarEnv;

    /// Replays the stored episode: the seed's reset, then each action.
    fn from_stored(stored: StoredMinAtarEnv) -> Result<Self, EnvError> {
        let StoredMinAtarEnv { rules, episode, over } = stored;
        let mut env = Self::new(rules)?;
        let Some(log) = episode else {
            if over {
                return Err(EnvError::Inconsistent(Inconsistency::Replay {
                    step: 0,
                    problem: "an episode that ended before any reset",
                }));
            }
            return Ok(env);
        };
        let replay = |step, problem| EnvError::Inconsistent(Inconsistency::Replay { step, problem });
        if usize::from(log.last_action) >= N_ACTIONS {
            return Err(replay(0, "a last action above 5"));
        }
        let mut game = MinAtar::new(rules.game, rules.settings, log.seed);
        game.last_action = usize::from(log.last_action);
        for (step, &action) in log.actions.iter().enumerate() {
            if game.terminal() {
                return Err(replay(step, "an action after the game ended"));
            }
            let action = usize::from(action);
            let allowed = match rules.actions {
                ActionSet::Full => action < N_ACTIONS,
                ActionSet::Minimal => rules.game.minimal_actions().contains(&action),
            };
            if !allowed {
                return Err(replay(step + 1, "an action outside the action set"));
            }
            game.act(action).map_err(|_| replay(step + 1, "an action above 5"))?;
        }
        if game.terminal() != over {
            let problem =
                if over { "stored as ended, but the game is not over" } else { "the game is over, stored as running" };
            return Err(replay(log.actions.len(), problem));
        }
        env.game = Some(game);
        env.log = Some(log);
        env.over = over;
        Ok(env)
    }

    fn observe(&self, obs: ObsMut<'_>) -> Result<(), EnvError> {
        let cells = self.cells(obs)?;
        match &self.game {
            Some(game) => game.draw(cells),
            None => cells.fill(0),
        }
        Ok(())
    }
}

/// Makes [`MinAtarEnv`]s of one set of rules for a training loop: single
/// ones, and batches with same-step auto-reset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinAtarFamily {
    rules: Rules,
}

impl MinAtarFamily {
    /// The family of games under `rules`.
    ///
    /// # Errors
    /// As [`Rules::check`].
    pub fn new(rules: Rules) -> Result<Self, EnvError> {
        rules.check()?;
        Ok(Self { rules })
    }

    fn make(&self) -> MinAtarEnv {
        MinAtarEnv::new(self.rules).expect("checked by new")
    }
}

impl EnvFamily for MinAtarFamily {
    fn spec(&self) -> EnvSpec {
        self.rules.spec()
    }

    fn single(&self) -> Result<Box<dyn Env>, EnvError> {
        Ok(Box::new(self.make()))
    }

    fn batch(&self, n: usize, resets: &mut dyn env_core::Resets) -> Result<Box<dyn env_core::VecEnv>, EnvError> {
        let envs = (0..n).map(|_| self.make()).collect();
        Ok(Box::new(AutoReset::new(envs, resets)?))
    }

    fn restore(&self, saved: &[u8]) -> Result<Box<dyn env_core::VecEnv>, EnvError> {
        let batch = AutoReset::<MinAtarEnv>::restore(saved)?;
        if batch.envs().iter().any(|e| e.rules != self.rules) {
            return Err(EnvError::Inconsistent(Inconsistency::Rules));
        }
        Ok(Box::new(batch))
    }
}
