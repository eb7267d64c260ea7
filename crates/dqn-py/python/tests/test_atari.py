"""The Atari pipelines (``dqn_rs.make_atari_env``): the CleanRL protocol
replayed against games recorded through Stable-Baselines3's own wrappers
(``generate_atari_golden.py``), and what each protocol promises."""

import hashlib
import json
import pathlib

import gymnasium as gym
import numpy as np
import pytest

from dqn_rs import DQN, ConfigError
from dqn_rs.atari import PROTOCOLS, atari_id, make_atari_env

#: A small DQN on single frames that the agent stacks by four.
SMALL = dict(
    config="(agent: (stack: (frames: 4, padding: Repeat)))",
    buffer_size=2_000,
    train_freq=4,
    target_update_interval=100,
)

GOLDEN = sorted((pathlib.Path(__file__).parent / "golden_atari").glob("*.json"))


def digest(obs):
    return hashlib.sha256(np.ascontiguousarray(obs).tobytes()).hexdigest()[:16]


def cases():
    for path in GOLDEN:
        for case in json.loads(path.read_text())["cases"]:
            yield pytest.param(case, id=f"{path.stem}:{case['name']}")


def test_there_are_golden_games():
    assert len(GOLDEN) >= 2


@pytest.mark.parametrize("case", cases())
def test_the_cleanrl_protocol_plays_as_sb3s_wrappers_do(case):
    env = make_atari_env(case["game"], case["protocol"])
    rng = np.random.default_rng(case["action_seed"])
    obs, _ = env.reset(seed=case["reset_seed"])
    assert digest(obs) == case["reset_obs"]
    for row in case["steps"]:
        if "reset" in row:
            obs, _ = env.reset()
            assert digest(obs) == row["reset"], f"the reset after step {row['t']}"
            continue
        action = int(rng.integers(env.action_space.n))
        assert action == row["action"]
        obs, reward, terminated, truncated, info = env.step(action)
        got = (digest(obs), float(reward), bool(terminated), bool(truncated), int(env.unwrapped.ale.lives()))
        want = (row["obs"], row["reward"], row["terminated"], row["truncated"], row["lives"])
        assert got == want, f"step {row['t']}"
        if "game_return" in row:
            assert (float(info["episode"]["r"]), int(info["episode"]["l"])) == (row["game_return"], row["game_length"])
        else:
            assert "episode" not in info, f"step {row['t']}: a game ended that did not"
    env.close()


def test_a_lost_life_ends_the_episode_but_not_the_game():
    env = make_atari_env("Breakout", "cleanrl")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    lives = env.unwrapped.ale.lives()
    for _ in range(2000):
        _, _, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        if terminated:
            break
    assert terminated and env.unwrapped.ale.lives() == lives - 1 and "episode" not in info
    frame = env.unwrapped.ale.getEpisodeFrameNumber()
    env.reset()
    # The reset went on with the same game (a no-op step, FIRE, action 2:
    # three steps of four frames), where a new game would start at frame 0
    # plus the no-ops.
    assert env.unwrapped.ale.getEpisodeFrameNumber() == frame + 12
    env.close()


def test_each_protocol_observes_single_84_by_84_frames_or_stacks():
    for protocol in PROTOCOLS:
        env = make_atari_env("Pong", protocol)
        assert env.observation_space.shape == (84, 84) and env.observation_space.dtype == np.uint8
        obs, _ = env.reset(seed=1)
        assert obs.shape == (84, 84) and obs.dtype == np.uint8
        env.close()
    stacked = make_atari_env("Pong", "cleanrl", frame_stack=4)
    obs, _ = stacked.reset(seed=1)
    # The stack starts as the reset's frame four times (padding "reset").
    assert obs.shape == (4, 84, 84) and all((obs[i] == obs[3]).all() for i in range(3))
    stacked.close()


def test_the_protocols_differ_where_they_say():
    clean = make_atari_env("Pong", "cleanrl")
    v5 = make_atari_env("Pong", "ale-v5")
    assert clean.unwrapped.spec.id == "PongNoFrameskip-v4" and v5.unwrapped.spec.id == "ALE/Pong-v5"
    assert clean.unwrapped.ale.getFloat("repeat_action_probability") == 0.0
    assert v5.unwrapped.ale.getFloat("repeat_action_probability") == pytest.approx(0.25)
    # Both skip frames in AtariPreprocessing, none in ALE.
    assert clean.unwrapped._frameskip == 1 and v5.unwrapped._frameskip == 1
    names = []
    e = clean
    while isinstance(e, gym.Wrapper):
        names.append(type(e).__name__)
        e = e.env
    assert "EpisodicLifeEnv" in names and "FireResetEnv" in names
    e, names = v5, []
    while isinstance(e, gym.Wrapper):
        names.append(type(e).__name__)
        e = e.env
    assert "EpisodicLifeEnv" not in names and "FireResetEnv" not in names
    # Rewards are clipped: Pong's are already ±1, so check the wrapper.
    assert "ClipReward" in names
    clean.close()
    v5.close()


def test_names_and_bad_arguments():
    assert atari_id("space_invaders") == "SpaceInvadersNoFrameskip-v4"
    assert atari_id("Pong", "ale-v5") == "ALE/Pong-v5"
    with pytest.raises(ConfigError, match="protocol='v4'"):
        make_atari_env("Pong", "v4")
    with pytest.raises(ConfigError, match="NoSuchGame"):
        make_atari_env("NoSuchGame")
    with pytest.raises(ConfigError, match="frame_stack=0"):
        make_atari_env("Pong", frame_stack=0)
    with pytest.raises(ConfigError, match="game=3"):
        make_atari_env(3)


class Seen(gym.Wrapper):
    """Keeps the games (``info["episode"]``) and the agent's episode ends."""

    def __init__(self, env):
        super().__init__(env)
        self.games, self.ends = [], 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.ends += terminated or truncated
        if "episode" in info:
            self.games.append((float(info["episode"]["r"]), int(info["episode"]["l"])))
        return obs, reward, terminated, truncated, info


def test_dqn_learns_on_single_frames_and_counts_whole_games():
    env = Seen(make_atari_env("Breakout", "cleanrl"))
    model = DQN("CnnPolicy", env, learning_starts=500, stats_window_size=100, seed=0, **SMALL).learn(1_200)
    assert 150 < model.n_updates <= 700 // 4 + 1
    got = [(e["r"], e["l"]) for e in model.ep_info_buffer]
    # Lives end the agent's episodes (five a game), the statistics count
    # games, with their frames (4 a step, plus no-ops).
    assert got == env.games and len(got) >= 2 and env.ends >= 5 * len(got)
    assert all(length > 4 * 100 for _, length in got)


PRESETS = sorted((pathlib.Path(__file__).resolve().parents[4] / "presets" / "atari").glob("*.ron"))


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_every_atari_preset_reads_and_trains_on_single_frames(preset):
    # The preset's 1 M-transition replay and 80 000 random steps, made small.
    model = DQN("CnnPolicy", make_atari_env("Pong"), config=preset, buffer_size=1_000, learning_starts=64, seed=0)
    text = "".join(model._config_text(None).split())
    settings = ["update_every:4", "frames:4", "Some(Nature)", "Hard(every:1000,)", "loss:Mse"]
    if preset.stem == "pong-fast":
        settings += ["double_dqn:true", "n_step:3", "decay:250000.0"]
    for setting in settings:
        assert setting in text, setting
    model.learn(200)
    # One update every 4 steps once 64 transitions are in (the n-step
    # window of pong-fast holds two more back).
    assert abs(model.n_updates - (200 - 64) / 4) <= 2, model.n_updates


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_env_pickled_mid_game_plays_on_the_same(protocol):
    import pickle

    env = make_atari_env("Breakout", protocol)
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(100):
        env.step(int(rng.integers(env.action_space.n)))
    twin = pickle.loads(pickle.dumps(env))
    resets = 0
    for t in range(3000):
        action = int(rng.integers(env.action_space.n))
        a, b = env.step(action), twin.step(action)
        assert digest(a[0]) == digest(b[0]) and a[1:4] == b[1:4], f"step {t}"
        if a[2] or a[3]:
            resets += 1
            assert digest(env.reset()[0]) == digest(twin.reset()[0]), f"the reset after step {t}"
    # Lost lives and whole games (no-ops drawn anew) came and went.
    assert resets >= 3


def test_a_stopped_atari_run_resumes_as_if_never_stopped(tmp_path):
    settings = dict(learning_starts=300, exploration_fraction=0.5, seed=5, **SMALL)

    def params(model):
        p = model.get_parameters()["policy"]
        return {k: np.asarray(v).tobytes() for k, v in p.items()}

    whole = DQN("CnnPolicy", make_atari_env("Breakout"), **settings).learn(900)
    part = DQN("CnnPolicy", make_atari_env("Breakout"), **settings)
    part.learn(900, callback=lambda locals_, globals_: locals_["self"].num_timesteps < 500)
    assert part.num_timesteps == 500
    part.save(tmp_path / "breakout")
    # A new process would build a new environment: its own game, its own
    # RNG; the saved run's (emulator, RNGs, lives, the frame stack) win.
    loaded = DQN.load(tmp_path / "breakout", env=make_atari_env("Breakout"))
    loaded.learn(400, reset_num_timesteps=False)
    assert loaded.num_timesteps == 900 and loaded.n_updates == whole.n_updates
    assert params(loaded) == params(whole)
    assert list(loaded.ep_info_buffer) == list(whole.ep_info_buffer)


def test_a_checkpoint_reaches_the_file_in_pieces_of_at_most_a_mebibyte():
    """The frames are one array (7 GB at a million Atari transitions):
    handed to a Python file whole, they would be copied into one bytes
    object, doubling the memory of a save."""
    model = DQN("CnnPolicy", make_atari_env("Breakout"), learning_starts=1_000, seed=6, **SMALL).learn(400)

    class Pieces:
        def __init__(self):
            self.sizes = []

        def write(self, data):
            self.sizes.append(len(data))
            return len(data)

    pieces = Pieces()
    written = model._trainer.write_checkpoint(pieces)
    assert written == sum(pieces.sizes) > 400 * 84 * 84
    assert max(pieces.sizes) <= 1 << 20


class Recorder(gym.Wrapper):
    """Keeps every reset's seed and every action, to play them again."""

    def __init__(self, env):
        super().__init__(env)
        self.calls = []

    def reset(self, **kwargs):
        self.calls.append(("reset", kwargs.get("seed")))
        return self.env.reset(**kwargs)

    def step(self, action):
        self.calls.append(("step", int(action)))
        return self.env.step(action)


def test_the_replays_stacks_are_the_frame_stacks_gymnasium_emits():
    # The agent stacks single frames itself; the same game played again
    # through FrameStackObservation must give the stacks it learns from,
    # across lost lives (each a new stack, padded with its first frame) and
    # whole games.
    env = Recorder(make_atari_env("Breakout", "cleanrl"))
    model = DQN("CnnPolicy", env, **{**SMALL, "buffer_size": 5_000}, learning_starts=5_000, seed=3)
    model.learn(2_000)
    expected = stacks_replayed(env.calls)
    assert len(expected) == 2_000 and sum(t for _, _, t in expected) >= 10
    assert_replay_holds(model, expected)


def stacks_replayed(calls):
    """`(state, next_state, terminated)` of each step of `calls` (a
    Recorder's) played again through FrameStackObservation."""
    twin = make_atari_env("Breakout", "cleanrl", frame_stack=4)
    expected, obs = [], None
    for kind, value in calls:
        if kind == "reset":
            obs, _ = twin.reset(seed=value)
        else:
            following, _, terminated, _, _ = twin.step(value)
            expected.append((obs, following, terminated))
            obs = following
    return expected


def assert_replay_holds(model, expected):
    """The replay's first transitions, gathered as the learner gathers
    them, are `expected`'s stacks, scaled, value for value."""

    def rows(stacks):
        return (np.asarray(stacks, dtype=np.float64) / 255).astype(np.float32).reshape(len(stacks), -1)

    states, next_states, terminated = model._trainer.replay_rows(list(range(len(expected))))
    assert np.array_equal(terminated, [t for _, _, t in expected])
    assert np.array_equal(states, rows([s for s, _, _ in expected]))
    going_on = ~np.asarray(terminated)
    assert np.array_equal(next_states[going_on], rows([n for _, n, t in expected if not t]))


def test_stacks_from_frame_stack_observation_are_stored_one_frame_a_step():
    # The environment stacks (FrameStackObservation): the replay keeps one
    # 84x84 frame a step (and one for each episode's first stack, four
    # copies of its frame), and gives back exactly the stacks observed.
    env = Recorder(make_atari_env("Breakout", "cleanrl", frame_stack=4))
    small = {k: v for k, v in SMALL.items() if k != "config"}
    model = DQN("CnnPolicy", env, **{**small, "buffer_size": 5_000}, learning_starts=5_000, seed=4)
    assert "by_environment: true" in model._config_text(None)
    model.learn(2_000)
    expected = stacks_replayed(env.calls)
    # Episodes played: resets followed by a step (a reset may come twice).
    kinds = [kind for kind, _ in env.calls]
    starts = sum(a == "reset" and b == "step" for a, b in zip(kinds, kinds[1:]))
    ends = sum(t for _, _, t in expected)
    assert len(expected) == 2_000 and ends >= 10
    assert model._trainer.replay_frames == starts + 2_000 - ends
    assert_replay_holds(model, expected)

    # Without the recognition, each stack is stored whole: four frames a step.
    whole = DQN("CnnPolicy", Recorder(make_atari_env("Breakout", "cleanrl", frame_stack=4)),
                **{**small, "buffer_size": 5_000}, learning_starts=5_000, seed=4, dedup_frame_stack=False)
    assert "by_environment" not in whole._config_text(None)
