"""Writes the interop golden cases in tests/golden_interop/ with the real torch, safetensors and onnxruntime.

Run from the workspace root, in a venv with torch, gymnasium, safetensors, onnx and
onnxruntime (bash xtask/interop/setup.sh makes one), after `cargo build --release -p xtask`:

    /tmp/dqn-anchor-venv/bin/python crates/runner/tests/generate_interop_golden.py

Each exported case trains a short run with `target/release/xtask train`, exports its
policy with `xtask export --format safetensors` (policy.safetensors) and `--format onnx`
(model.onnx), then:
  * loads policy.safetensors with `safetensors.torch.load_file` into a PyTorch module of
    the architecture the tensors' names describe (`fcK` linear layers with ReLU between;
    or `trunk.i`, `value.i`, `advantage.i` ModuleLists, Q = (V + A) - mean_a A; noisy
    layers as `weight_mu`, `weight_sigma`, `bias_mu`, `bias_sigma`, evaluated on the mean
    weights) with `load_state_dict(strict=True)`; a C51 head takes a softmax over each
    action's atoms and the expected value on the support z_j = v_min + j*dz (dz rounded
    once to f32, as the agent does);
  * checks model.onnx with `onnx.checker.check_model(full_check=True)` and runs it in
    onnxruntime (CPU) on the same observations, at batch 32 and row by row (the batch is
    dynamic);
  * asserts that the two agree (rtol 1e-5, atol 1e-5) and records both in case.json.
The Rust test (tests/interop.rs) rebuilds model.onnx from policy.safetensors byte for
byte, and checks its own Q-values against both records.

The `pytorch_seed` case goes the other way: the seed chapter's PyTorch DQN
(../shared/anchors/seed_dqn.py, seed 0, 200 episodes) saved with
`safetensors.torch.save_file(policy_net.state_dict())`; case.json holds its Q-values on a
batch of observations and its greedy returns in Gymnasium, and the Rust test reads the
file as a policy and tests it.

Number encodings are ../shared/golden-format.md's (f32 tensors as u32 bit patterns).
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
import safetensors
import torch
from safetensors.torch import load_file, save_file
from torch import nn

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
OUT = os.path.join(ROOT, "crates", "runner", "tests", "golden_interop")
XTASK = os.path.join(ROOT, "target", "release", "xtask")
ANCHOR = os.path.join(ROOT, "..", "shared", "anchors", "seed_dqn.py")
BATCH = 32

CASES = [
    dict(name="seed_cartpole", description="the seed chapter's network 4-128-128-2, trained 200 episodes",
         train=["--seed", "0"], c51=None),
    dict(name="dueling_mountaincar", description="dueling heads, 3 actions, MountainCar preset, 3000 steps",
         train=["--env", "mountaincar", "--seed", "1", "--set", "max_train_steps=Some(3000)",
                "--set", "agent.hidden=[64]", "--set", "agent.dueling=Some((value_hidden: [32], advantage_hidden: [32]))"],
         c51=None),
    dict(name="c51_cartpole", description="a chain with a C51 head of 21 atoms on [0, 100], 3000 steps",
         train=["--seed", "2", "--set", "max_train_steps=Some(3000)", "--set", "agent.hidden=[32, 32]",
                "--set", "agent.distributional=Some((n_atoms: 21, v_min: 0.0, v_max: 100.0))"],
         c51=dict(n_atoms=21, v_min=0.0, v_max=100.0)),
    dict(name="rainbow_acrobot", description="the Acrobot Rainbow preset (dueling, noisy heads, C51 51 atoms), 3000 steps",
         train=["--config", "presets/acrobot-rainbow.ron", "--seed", "3", "--set", "max_train_steps=Some(3000)",
                "--set", "early_stop=None"],
         c51=dict(n_atoms=51, v_min=-100.0, v_max=0.0)),
]

# Convolutional networks on Catch's 1 x 10 x 5 board (their own random stream,
# so the cases above keep their observations).
CONV_CASES = [
    dict(name="conv_minatar_catch", description="Young & Tian's MinAtar network on Catch (presets/catch-cnn.ron), "
         "2000 steps", train=["--config", "presets/catch-cnn.ron", "--seed", "4", "--set", "max_train_steps=Some(2000)"],
         c51=None, frames=1),
    dict(name="conv_dueling_catch", description="two stacked boards, a padded strided convolution and a valid one, "
         "dueling heads, 1500 steps",
         train=["--env", "catch", "--seed", "5", "--set", "max_train_steps=Some(1500)",
                "--set", "agent.stack=(frames: 2, padding: Repeat)", "--set", "agent.hidden=[32]",
                "--set", "agent.network=Some(Conv([(out_channels: 8, kernel: 3, stride: 2, padding: 1), "
                "(out_channels: 6, kernel: 2, stride: 1)]))",
                "--set", "agent.dueling=Some((value_hidden: [16], advantage_hidden: []))"],
         c51=None, frames=2),
]


def f32_tensor(a):
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    return {"u32": [format(int(b), "08x") for b in a.reshape(-1).view(np.uint32)],
            "repr": [repr(float(v)) for v in a.reshape(-1)], "shape": list(a.shape)}


class Linear(nn.Module):
    """nn.Linear's parameters, or a noisy layer's (evaluated on its mean weights)."""

    def __init__(self, outputs, inputs, noisy):
        super().__init__()
        self.noisy = noisy
        if noisy:
            self.weight_mu = nn.Parameter(torch.empty(outputs, inputs))
            self.weight_sigma = nn.Parameter(torch.empty(outputs, inputs))
            self.bias_mu = nn.Parameter(torch.empty(outputs))
            self.bias_sigma = nn.Parameter(torch.empty(outputs))
        else:
            self.weight = nn.Parameter(torch.empty(outputs, inputs))
            self.bias = nn.Parameter(torch.empty(outputs))

    def forward(self, x):
        if self.noisy:
            return nn.functional.linear(x, self.weight_mu, self.bias_mu)
        return nn.functional.linear(x, self.weight, self.bias)


def stack(x, layers, relu_last):
    for i, layer in enumerate(layers):
        x = layer(x)
        if relu_last or i + 1 < len(layers):
            x = torch.relu(x)
    return x


class QNetwork(nn.Module):
    """The architecture a state_dict's names describe, as dqn-rs names it;
    convolutions `conv1`, ... (nn.Conv2d, geometry from the file's metadata)
    first, reading the flat input as an image, then a channel-major flatten."""

    def __init__(self, shapes, c51, convs=()):
        super().__init__()
        def layers(prefix, count):
            return [Linear(*shapes[f"{prefix}{i}"]) for i in range(count)]
        self.convs = []
        for i, c in enumerate(convs, start=1):
            conv = nn.Conv2d(c["in_channels"], c["out_channels"], c["kernel"], c["stride"], c["padding"])
            setattr(self, f"conv{i}", conv)
            self.convs.append(conv)
        self.image = (convs[0]["in_channels"], convs[0]["height"], convs[0]["width"]) if convs else None
        groups = {}
        for key in shapes:
            if key.startswith("conv"):
                continue
            head, index = key.rsplit(".", 1) if "." in key else (key[:2], key[2:])
            groups.setdefault(head, set()).add(int(index))
        self.dueling = "trunk" in groups
        if self.dueling:
            self.trunk = nn.ModuleList(layers("trunk.", len(groups["trunk"])))
            self.value = nn.ModuleList(layers("value.", len(groups["value"])))
            self.advantage = nn.ModuleList(layers("advantage.", len(groups["advantage"])))
        else:
            for i in range(1, len(groups["fc"]) + 1):
                setattr(self, f"fc{i}", Linear(*shapes[f"fc{i}"]))
            self.n_layers = len(groups["fc"])
        self.c51 = c51
        if c51:
            n = c51["n_atoms"]
            dz = np.float32((c51["v_max"] - c51["v_min"]) / (n - 1))
            self.register_buffer("support", torch.tensor(
                [np.float32(c51["v_min"]) + np.float32(j) * dz for j in range(n)], dtype=torch.float32),
                persistent=False)

    def forward(self, x):
        if self.image is not None:
            x = x.view(x.shape[0], *self.image)
            for conv in self.convs:
                x = torch.relu(conv(x))
            x = x.flatten(1)
        if self.dueling:
            h = stack(x, self.trunk, True)
            v, a = stack(h, self.value, False), stack(h, self.advantage, False)
            if self.c51:
                g = self.c51["n_atoms"]
                v, a = v.view(x.shape[0], 1, g), a.view(x.shape[0], -1, g)
            out = (v + a) - a.mean(dim=1, keepdim=True)
        else:
            out = stack(x, [getattr(self, f"fc{i}") for i in range(1, self.n_layers + 1)], False)
        if self.c51:
            logits = out.reshape(x.shape[0], -1, self.c51["n_atoms"])
            out = (torch.softmax(logits, dim=2) * self.support).sum(dim=2)
        return out


def layer_shapes(state):
    """Each layer's (outputs, inputs, noisy), keyed by its name prefix (`fc1`, `trunk.0`)."""
    shapes = {}
    for name, t in state.items():
        layer, suffix = name.rsplit(".", 1)
        if suffix in ("weight", "weight_mu"):
            shapes[layer] = (t.shape[0], t.shape[1], suffix == "weight_mu")
    return shapes


def conv_geometry(path):
    """The convolutions' geometry a dqn-rs safetensors file's metadata gives."""
    with safetensors.safe_open(path, "pt") as f:
        metadata = f.metadata() or {}
    try:
        header = json.loads(metadata.get("dqn-rs policy", ""))
    except json.JSONDecodeError:
        return []
    return [layer["kind"]["Conv2d"] for layer in header["layers"] if isinstance(layer.get("kind"), dict)]


def torch_q(path, c51, obs):
    state = load_file(path)
    net = QNetwork(layer_shapes(state), c51, conv_geometry(path))
    net.load_state_dict(state, strict=True)
    net.eval()
    with torch.no_grad():
        return net(torch.from_numpy(obs)).numpy()


def observations(env, rng):
    if env == "cartpole":
        return (rng.standard_normal((BATCH, 4)) * [0.5, 0.5, 0.05, 0.5]).astype(np.float32)
    if env == "mountaincar":
        return np.stack([rng.uniform(-1.2, 0.6, BATCH), rng.uniform(-0.07, 0.07, BATCH)], 1).astype(np.float32)
    t1, t2 = rng.uniform(-np.pi, np.pi, BATCH), rng.uniform(-np.pi, np.pi, BATCH)
    return np.stack([np.cos(t1), np.sin(t1), np.cos(t2), np.sin(t2),
                     rng.uniform(-4, 4, BATCH), rng.uniform(-9, 9, BATCH)], 1).astype(np.float32)


def boards(rng, frames):
    """Catch inputs: `frames` boards of 10 x 5 cells, 0 or 1, one after the other."""
    return (rng.random((BATCH, frames * 50)) < 0.1).astype(np.float32)


def env_of(case):
    args = " ".join(case["train"])
    return "mountaincar" if "mountaincar" in args else "acrobot" if "acrobot" in args else "cartpole"


def versions():
    return {"torch_version": torch.__version__, "onnxruntime_version": ort.__version__,
            "onnx_version": onnx.__version__, "safetensors_version": safetensors.__version__}


def exported_case(case, scratch, rng):
    run = os.path.join(scratch, case["name"])
    subprocess.run([XTASK, "train", *case["train"], "--out", run, "--quiet"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    folder = os.path.join(OUT, case["name"])
    os.makedirs(folder, exist_ok=True)
    policy, model = os.path.join(folder, "policy.safetensors"), os.path.join(folder, "model.onnx")
    for fmt, path in (("safetensors", policy), ("onnx", model)):
        subprocess.run([XTASK, "export", "--run", run, "--format", fmt, "--out", path], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    obs = boards(rng, case["frames"]) if "frames" in case else observations(env_of(case), rng)
    q_torch = torch_q(policy, case["c51"], obs)
    onnx.checker.check_model(onnx.load(model), full_check=True)
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    q_ort = session.run(["q"], {"obs": obs})[0]
    rows = np.concatenate([session.run(["q"], {"obs": obs[i:i + 1]})[0] for i in range(BATCH)])
    np.testing.assert_allclose(rows, q_ort, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(q_torch, q_ort, rtol=1e-5, atol=1e-5)
    assert q_ort.shape == (BATCH, q_ort.shape[1])
    return dict(name=case["name"], description=case["description"], **versions(), c51=case["c51"],
                train=case["train"], obs=f32_tensor(obs), torch_q=f32_tensor(q_torch),
                onnxruntime_q=f32_tensor(q_ort),
                max_abs_torch_vs_onnxruntime=float(np.max(np.abs(q_torch - q_ort))))


def pytorch_seed_case(rng):
    spec = importlib.util.spec_from_file_location("seed_dqn", ANCHOR)
    seed_dqn = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seed_dqn)
    torch.set_num_threads(1)
    env, agent, _ = seed_dqn.make(0)
    returns = []
    for episode in range(200):
        state, _ = env.reset(seed=0 if episode == 0 else None)
        total = 0.0
        while True:
            action = agent.sample_action(state)
            next_state, reward, terminated, truncated, _ = env.step(action)
            agent.memory.push((state, action, reward, next_state, terminated))
            state = next_state
            agent.update()
            total += reward
            if terminated or truncated:
                break
        returns.append(total)
    test = []
    for _ in range(20):
        state, _ = env.reset()
        total = 0.0
        while True:
            state, reward, terminated, truncated, _ = env.step(agent.predict_action(state))
            total += reward
            if terminated or truncated:
                break
        test.append(total)
    folder = os.path.join(OUT, "pytorch_seed")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "policy.safetensors")
    save_file({k: v.contiguous() for k, v in agent.policy_net.state_dict().items()}, path)
    obs = observations("cartpole", rng)
    with torch.no_grad():
        q = agent.policy_net(torch.from_numpy(obs)).numpy()
    # The file loads back into the seed's own module, strictly.
    again = seed_dqn.MLP(4, 2, 128)
    again.load_state_dict(load_file(path), strict=True)
    return dict(name="pytorch_seed", description="../shared/anchors/seed_dqn.py, seed 0, 200 episodes, "
                "saved with safetensors.torch.save_file(policy_net.state_dict())", **versions(), c51=None,
                obs=f32_tensor(obs), torch_q=f32_tensor(q), last20_train_mean=float(np.mean(returns[-20:])),
                gymnasium_greedy_returns=test, gymnasium_greedy_mean=float(np.mean(test)))


def pytorch_conv_case(rng):
    """PyTorch's own module, saved with save_file(state_dict) and no metadata:
    Young & Tian's MinAtar network on Catch's board; Rust reads it with the
    geometry of a configuration that has that network."""
    torch.manual_seed(7)

    class MinAtarNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 16, 3, 1)
            self.fc1 = nn.Linear(16 * 8 * 3, 128)
            self.fc2 = nn.Linear(128, 3)

        def forward(self, x):
            x = torch.relu(self.conv1(x.view(x.shape[0], 1, 10, 5)))
            return self.fc2(torch.relu(self.fc1(x.flatten(1))))

    net = MinAtarNet()
    folder = os.path.join(OUT, "pytorch_conv")
    os.makedirs(folder, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, os.path.join(folder, "policy.safetensors"))
    obs = boards(rng, 1)
    with torch.no_grad():
        q = net(torch.from_numpy(obs)).numpy()
    return dict(name="pytorch_conv", description="a PyTorch module conv1 (16 3x3), fc1 128, fc2 3 on a 1x10x5 "
                "board, saved with save_file(net.state_dict())", **versions(), c51=None,
                network=dict(setting="Some(MinAtar)", image=[1, 10, 5], n_actions=3),
                obs=f32_tensor(obs), torch_q=f32_tensor(q))


def main():
    if not os.path.exists(XTASK):
        sys.exit(f"{XTASK} is missing: cargo build --release -p xtask")
    rng = np.random.default_rng(2026)
    scratch = tempfile.mkdtemp(prefix="dqn-interop-")
    try:
        cases = [exported_case(case, scratch, rng) for case in CASES]
    finally:
        shutil.rmtree(scratch)
    cases.append(pytorch_seed_case(rng))
    conv_rng = np.random.default_rng(2030)
    scratch = tempfile.mkdtemp(prefix="dqn-interop-")
    try:
        cases += [exported_case(case, scratch, conv_rng) for case in CONV_CASES]
    finally:
        shutil.rmtree(scratch)
    cases.append(pytorch_conv_case(conv_rng))
    for case in cases:
        with open(os.path.join(OUT, case["name"], "case.json"), "w") as f:
            json.dump(case, f, indent=1)
            f.write("\n")
        print(case["name"], {k: v for k, v in case.items() if k.startswith(("max_abs", "gymnasium_greedy_mean"))})


if __name__ == "__main__":
    main()
