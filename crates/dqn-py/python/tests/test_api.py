"""The SB3-shaped API end to end: construction with SB3's names, learn,
predict (single and batched, as SB3's evaluate_policy calls it), the
counters, get_parameters, callbacks and Ctrl-C."""

from __future__ import annotations

import _thread

import gymnasium as gym
import numpy as np
import pytest

from dqn_rs import DQN, ConfigError
from conftest import Corridor, greedy_return

FAST = dict(learning_starts=100, target_update_interval=100, exploration_fraction=0.3, buffer_size=5_000)


def test_sb3_defaults_are_sb3s():
    model = DQN("MlpPolicy", "CartPole-v1", seed=0)
    assert (model.learning_rate, model.buffer_size, model.learning_starts, model.batch_size) == (1e-4, 1_000_000, 100, 32)
    assert (model.gamma, model.train_freq, model.target_update_interval, model.max_grad_norm) == (0.99, 4, 10_000, 10)
    params = model.get_parameters()["policy"]
    # net_arch [64, 64] on CartPole's 4 inputs and 2 actions, PyTorch's names.
    assert {k: v.shape for k, v in params.items()} == {
        "fc1.weight": (64, 4),
        "fc1.bias": (64,),
        "fc2.weight": (64, 64),
        "fc2.bias": (64,),
        "fc3.weight": (2, 64),
        "fc3.bias": (2,),
    }
    assert all(v.dtype == np.float32 for v in params.values())


def test_learn_counts_steps_and_anneals_epsilon():
    model = DQN("MlpPolicy", "CartPole-v1", seed=1, **FAST)
    assert model.num_timesteps == 0
    model.learn(2_000)
    assert model.num_timesteps == 2_000
    # Linear from 1.0 to 0.05 over 0.3 * 2000 = 600 steps: at its floor.
    assert model.exploration_rate == pytest.approx(0.05)
    # Updates every 4 steps once 100 transitions are stored.
    assert model.n_updates == pytest.approx((2_000 - 100) / 4, abs=2)
    assert len(model.ep_info_buffer) > 0


def test_predict_single_and_batched_and_deterministic():
    model = DQN("MlpPolicy", "CartPole-v1", seed=2, **FAST).learn(500)
    obs = np.array([0.01, -0.02, 0.03, 0.04], dtype=np.float32)
    action, state = model.predict(obs, deterministic=True)
    assert state is None and np.ndim(action) == 0 and action in (0, 1)
    batch = np.stack([obs, -obs, obs * 2])
    actions, _ = model.predict(batch, deterministic=True)
    assert actions.shape == (3,)
    # The batch gives each row's own greedy action.
    assert [int(model.predict(row, deterministic=True)[0]) for row in batch] == list(actions)
    q = model.q_values(batch)
    assert q.shape == (3, 2) and list(actions) == list(q.argmax(axis=1))
    with pytest.raises(ConfigError, match="shape"):
        model.predict(np.zeros(5, dtype=np.float32))


def test_same_seed_same_numbers():
    a = DQN("MlpPolicy", "CartPole-v1", seed=3, **FAST).learn(1_500).get_parameters()["policy"]
    b = DQN("MlpPolicy", "CartPole-v1", seed=3, **FAST).learn(1_500).get_parameters()["policy"]
    c = DQN("MlpPolicy", "CartPole-v1", seed=4, **FAST).learn(1_500).get_parameters()["policy"]
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)


def test_a_python_environment_is_learned_to_its_threshold():
    # Seeds 101..103 were not used while choosing the settings (those were
    # tried on seed 0 only).
    for seed in (101, 102, 103):
        model = DQN("MlpPolicy", Corridor(), seed=seed, gamma=0.9, **FAST).learn(3_000)
        assert greedy_return(model, Corridor(), episodes=20, seed=1000) == pytest.approx(1.0), seed


def test_callback_stops_training_and_sees_the_model():
    seen = []

    def callback(locals_, globals_):
        seen.append(locals_["self"].num_timesteps)
        return locals_["self"].num_timesteps < 300

    model = DQN("MlpPolicy", "CartPole-v1", seed=5, **FAST).learn(1_000, callback=callback)
    assert model.num_timesteps == 300
    assert seen[:3] == [1, 2, 3] and seen[-1] == 300

    class OnStep:
        def __init__(self):
            self.calls = 0

        def init_callback(self, model):
            self.model = model

        def on_step(self):
            self.calls += 1
            return self.calls < 50

    callback = OnStep()
    model = DQN("MlpPolicy", Corridor(), seed=5, **FAST).learn(1_000, callback=callback)
    assert callback.calls == 50 and callback.model is model and model.num_timesteps == 50


def test_a_callbacks_exception_reaches_the_caller():
    def callback(locals_, globals_):
        raise LookupError("from the callback")

    model = DQN("MlpPolicy", "CartPole-v1", seed=6, **FAST)
    with pytest.raises(LookupError, match="from the callback"):
        model.learn(100, callback=callback)


def test_ctrl_c_stops_learn_and_the_model_continues_exactly():
    heavy = dict(FAST, batch_size=256, gradient_steps=8, train_freq=1, policy_kwargs=dict(net_arch=[256, 256]))
    # About 20 ms a step once learning starts (step 100): seconds in all.
    total = 400
    whole = DQN("MlpPolicy", "CartPole-v1", seed=7, **heavy).learn(total)
    model = DQN("MlpPolicy", "CartPole-v1", seed=7, **heavy)
    # Ctrl-C as the terminal sends it, while learn runs in Rust: sent at a
    # fixed step (from the per-step callback), not after a fixed time, which
    # a fast enough run outlived (it ended before a signal 0.3 s in).
    fired = []

    def interrupt_at_150(locals_, globals_):
        if locals_["num_timesteps"] >= 150 and not fired:
            fired.append(locals_["num_timesteps"])
            _thread.interrupt_main()
        return True

    with pytest.raises(KeyboardInterrupt):
        model.learn(total, callback=interrupt_at_150)
    stopped_at = model.num_timesteps
    assert fired == [150] and 150 <= stopped_at < total
    model.learn(total - stopped_at, reset_num_timesteps=False)
    assert model.num_timesteps == total
    a, b = whole.get_parameters()["policy"], model.get_parameters()["policy"]
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert model.exploration_rate == whole.exploration_rate


def test_rainbow_switches_build_the_network():
    model = DQN("MlpPolicy", "CartPole-v1", seed=8, rainbow=True, **FAST)
    names = set(model.get_parameters()["policy"])
    assert any("sigma" in n for n in names) and any(n.startswith("value.") for n in names)
    model.learn(600)
    assert model.num_timesteps == 600
    plain = DQN("MlpPolicy", "CartPole-v1", seed=8, double_q=True, prioritized=True, n_step=3, **FAST).learn(600)
    assert plain.num_timesteps == 600


def test_a_ron_configuration_and_explicit_keywords():
    config = "(agent: (hidden: [32], lr: 0.001, gamma: 0.9))"
    model = DQN("MlpPolicy", "CartPole-v1", config=config, seed=9, learning_starts=50)
    params = model.get_parameters()["policy"]
    assert params["fc1.weight"].shape == (32, 4)
    model.learn(200)
    with pytest.raises(ConfigError, match="agent.lr"):
        DQN("MlpPolicy", "CartPole-v1", learning_rate=-1.0)
    # A Rust environment by id steps as many together as the configuration says.
    batched = DQN("MlpPolicy", "CartPole-v1", config="(collection: (envs: 4, update_every: 1))", seed=9)
    assert batched.n_envs == 4
    batched.learn(400)
    assert batched.num_timesteps == 400


def test_vector_envs_in_every_autoreset_mode():
    for mode in (gym.vector.AutoresetMode.NEXT_STEP, gym.vector.AutoresetMode.SAME_STEP, gym.vector.AutoresetMode.DISABLED):
        envs = gym.vector.SyncVectorEnv([Corridor for _ in range(3)], autoreset_mode=mode)
        model = DQN("MlpPolicy", envs, seed=10, gamma=0.9, **FAST).learn(3_000)
        assert model.num_timesteps == 3_000
        assert greedy_return(model, Corridor(), episodes=10, seed=50) == pytest.approx(1.0), mode
    rust = gym.make_vec("dqn_rs/CartPole-v1", num_envs=4)
    model = DQN("MlpPolicy", rust, seed=11, **FAST).learn(400)
    assert model.num_timesteps == 400 and model.n_envs == 4


class ImageCorridor(Corridor):
    """The corridor seen as a 4 x 8 grey image, channel last or first."""

    def __init__(self, channels_last: bool) -> None:
        super().__init__()
        self.channels_last = channels_last
        shape = (4, 8, 1) if channels_last else (1, 4, 8)
        self.observation_space = gym.spaces.Box(0, 255, shape=shape, dtype=np.uint8)

    def _obs(self) -> np.ndarray:
        image = np.zeros((1, 4, 8), dtype=np.uint8)
        image[0, :, self.position] = 255
        return np.transpose(image, (1, 2, 0)).copy() if self.channels_last else image


@pytest.mark.parametrize("channels_last", [True, False])
def test_images_channel_last_or_first_train_and_predict(channels_last):
    env = ImageCorridor(channels_last)
    model = DQN("MlpPolicy", env, seed=12, gamma=0.9, **FAST).learn(3_000)
    # Stored channel first either way: the network sees the same numbers.
    shape, dtype, _ = model._trainer.spaces()
    assert shape == [1, 4, 8] and dtype == "u8"
    assert greedy_return(model, ImageCorridor(channels_last), episodes=10, seed=70) == pytest.approx(1.0)
    batch = np.stack([env.reset(seed=s)[0] for s in range(3)])
    actions, _ = model.predict(batch, deterministic=True)
    assert actions.shape == (3,)


def test_tensorboard_log_writes_event_files(tmp_path):
    import struct

    model = DQN("MlpPolicy", "CartPole-v1", seed=13, tensorboard_log=str(tmp_path), **FAST)
    model.learn(1_000, log_interval=2)
    model.learn(500, reset_num_timesteps=False)
    runs = sorted(p.name for p in tmp_path.iterdir())
    assert runs == ["DQN_1"]  # continued: the same run folder
    files = list((tmp_path / "DQN_1").iterdir())
    assert files
    records = []
    for f in files:
        data = f.read_bytes()
        at = 0
        while at < len(data):
            (length,) = struct.unpack_from("<Q", data, at)
            records.append(data[at + 12 : at + 12 + length])
            at += 12 + length + 4
        assert at == len(data)  # whole TFRecords, nothing torn
    assert b"rollout/ep_rew_mean" in b"".join(records) and b"brain.Event:2" in records[0]
    DQN("MlpPolicy", "CartPole-v1", seed=13, tensorboard_log=str(tmp_path), **FAST).learn(100)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["DQN_1", "DQN_2"]
