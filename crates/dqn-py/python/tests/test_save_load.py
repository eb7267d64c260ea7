"""save / load / continue: a model saved part-way and loaded continues
exactly as one uninterrupted learn (SB3 #1629 cannot happen), on the Rust
CartPole and on a Python environment that pickles; a model whose
environment cannot be saved keeps its policy."""

from __future__ import annotations

import numpy as np
import pytest

from dqn_rs import DQN
from conftest import Corridor, greedy_return

FAST = dict(learning_starts=100, target_update_interval=100, exploration_fraction=0.5, buffer_size=5_000)


def same(a: DQN, b: DQN) -> bool:
    pa, pb = a.get_parameters()["policy"], b.get_parameters()["policy"]
    return all(np.array_equal(pa[k], pb[k]) for k in pa)


def stop_at(n: int):
    return lambda locals_, globals_: locals_["self"].num_timesteps < n


@pytest.mark.parametrize("make_env", ["CartPole-v1", Corridor], ids=["rust-cartpole", "python-corridor"])
def test_save_load_continue_equals_one_learn(tmp_path, make_env):
    env = (lambda: make_env) if isinstance(make_env, str) else make_env
    whole = DQN("MlpPolicy", env(), seed=21, **FAST).learn(2_000)
    part = DQN("MlpPolicy", env(), seed=21, **FAST).learn(2_000, callback=stop_at(700))
    assert part.num_timesteps == 700
    eps_then = part.exploration_rate
    part.save(tmp_path / "model")
    loaded = DQN.load(tmp_path / "model.zip", env=None if isinstance(make_env, str) else env())
    assert loaded.num_timesteps == 700 and loaded.exploration_rate == eps_then
    assert same(loaded, part)
    loaded.learn(1_300, reset_num_timesteps=False)
    assert loaded.num_timesteps == 2_000
    assert loaded.exploration_rate == whole.exploration_rate
    assert same(loaded, whole)
    assert loaded.n_updates == whole.n_updates


def test_a_loaded_model_predicts_as_the_saved_one(tmp_path):
    model = DQN("MlpPolicy", Corridor(), seed=22, gamma=0.9, **FAST).learn(2_000)
    model.save(tmp_path / "corridor")
    loaded = DQN.load(tmp_path / "corridor", env=Corridor())
    obs = np.eye(8, dtype=np.float32)
    assert np.array_equal(model.q_values(obs), loaded.q_values(obs))
    assert greedy_return(loaded, Corridor(), 5, 0) == greedy_return(model, Corridor(), 5, 0)


def test_an_environment_that_cannot_be_pickled_keeps_the_policy(tmp_path):
    class Unpicklable(Corridor):
        def __reduce__(self):
            raise TypeError("no pickling")

        def __deepcopy__(self, memo):
            return Unpicklable()

    model = DQN("MlpPolicy", Unpicklable(), seed=23, **FAST).learn(500)
    model.save(tmp_path / "m")
    loaded = DQN.load(tmp_path / "m", env=Unpicklable())
    obs = np.eye(8, dtype=np.float32)
    assert np.array_equal(model.q_values(obs), loaded.q_values(obs))
    # The next learn starts a new run from the saved policy.
    loaded.learn(200)
    assert loaded.num_timesteps == 200


def test_the_checkpoint_is_read_where_it_lies_or_copied_when_compressed(tmp_path, monkeypatch):
    """``save`` stores the checkpoint uncompressed and ``load`` reads it in
    the archive (an Atari run's is gigabytes: no copy of it); an archive a
    user recompressed still loads, through a copy, to the same run."""
    import zipfile

    import dqn_rs.dqn

    model = DQN("MlpPolicy", "CartPole-v1", seed=24, **FAST).learn(600)
    model.save(tmp_path / "m")
    with zipfile.ZipFile(tmp_path / "m.zip") as z:
        assert z.getinfo("checkpoint.bin").compress_type == zipfile.ZIP_STORED
        with zipfile.ZipFile(tmp_path / "deflated.zip", "w", compression=zipfile.ZIP_DEFLATED) as out:
            for name in z.namelist():
                out.writestr(name, z.read(name))
    copied = DQN.load(tmp_path / "deflated.zip")

    def no_copy(*args):
        raise AssertionError("the checkpoint was copied out of the archive")

    monkeypatch.setattr(dqn_rs.dqn.shutil, "copyfileobj", no_copy)
    in_place = DQN.load(tmp_path / "m.zip")
    for loaded in (in_place, copied):
        assert loaded.num_timesteps == 600 and same(loaded, model)
    in_place.learn(400, reset_num_timesteps=False)
    copied.learn(400, reset_num_timesteps=False)
    assert same(in_place, copied)


def test_a_save_that_fails_part_way_leaves_the_last_model_whole(tmp_path):
    model = DQN("MlpPolicy", "CartPole-v1", seed=25, **FAST).learn(300)
    model.save(tmp_path / "m")
    before = (tmp_path / "m.zip").read_bytes()
    trainer = model._trainer

    class Interrupted:
        """The trainer, stopped by Ctrl-C while it writes the checkpoint."""

        def __getattr__(self, name):
            return getattr(trainer, name)

        def write_checkpoint(self, file):
            file.write(b"part of a checkpoint")
            raise KeyboardInterrupt

    model._trainer = Interrupted()
    with pytest.raises(KeyboardInterrupt):
        model.save(tmp_path / "m")
    model._trainer = trainer
    assert (tmp_path / "m.zip").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.zip"]


def test_what_the_files_write_raises_reaches_the_caller(tmp_path):
    model = DQN("MlpPolicy", "CartPole-v1", seed=26, **FAST).learn(300)

    class Full:
        def __init__(self):
            self.taken = 0

        def write(self, data):
            if self.taken + len(data) > 5_000:
                raise OSError(28, "No space left on device")
            self.taken += len(data)
            return len(data)

    with pytest.raises(OSError, match="No space left"):
        model._trainer.write_checkpoint(Full())
    with pytest.raises(AttributeError, match="write"):
        model._trainer.write_checkpoint(object())
