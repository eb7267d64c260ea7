"""Writes convolutional Q-network DQN-update cases in tests/golden_conv_net/
from real PyTorch (CPU, one thread, deterministic algorithms), in the
"Convolutional Q-network / DQN update" format of golden-format.md: a network
of convolutions, a flatten and linear layers (ReLU after every layer but the
last), its forward pass on a u8 batch scaled on the way in, the DQN loss and
its gradients, and five optimizer steps with Adam and with RMSprop.

    /tmp/dqn-anchor-venv/bin/pip install --no-deps minatar==1.0.15
    /tmp/dqn-anchor-venv/bin/python crates/mlp/tests/generate_conv_net_golden.py

The MinAtar cases use real states: `minatar.Environment` (1.0.15) played by a
seeded random policy, `state()` `(10, 10, C)` turned channel-first as Young &
Tian's DQN does (`permute(2, 0, 1)`). Tensors are compact (`f32le_b64`,
`u8_b64`). lr/ε stays small (golden-format.md: a first step magnifies a
gradient's rounding by up to lr/ε).
"""
import base64
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden_conv_net")


def f32(t):
    t = t.detach().to(torch.float32).contiguous()
    return {"shape": list(t.shape), "f32le_b64": base64.b64encode(t.numpy().astype("<f4").tobytes()).decode()}


def u8(a):
    a = np.ascontiguousarray(a, dtype=np.uint8)
    return {"shape": list(a.shape), "u8_b64": base64.b64encode(a.tobytes()).decode()}


class Net(torch.nn.Module):
    """conv1, conv2, …, fc1, fc2, …: the format's names."""

    def __init__(self, input_shape, layers, n_actions):
        super().__init__()
        c, h, w = input_shape
        self.convs, self.fcs = [], []
        width = None
        for spec in layers:
            if spec["kind"] == "conv":
                conv = torch.nn.Conv2d(c, spec["out_channels"], spec["kernel"], spec["stride"], spec["padding"])
                setattr(self, f"conv{len(self.convs) + 1}", conv)
                self.convs.append(conv)
                h = (h + 2 * spec["padding"] - spec["kernel"]) // spec["stride"] + 1
                w = (w + 2 * spec["padding"] - spec["kernel"]) // spec["stride"] + 1
                c = spec["out_channels"]
            elif spec["kind"] == "flatten":
                width = c * h * w
            else:
                fc = torch.nn.Linear(width, spec["out"])
                setattr(self, f"fc{len(self.fcs) + 1}", fc)
                self.fcs.append(fc)
                width = spec["out"]
        fc = torch.nn.Linear(width if width is not None else c * h * w, n_actions)
        setattr(self, f"fc{len(self.fcs) + 1}", fc)
        self.fcs.append(fc)

    def forward(self, x, record=None):
        for i, conv in enumerate(self.convs, start=1):
            x = F.relu(conv(x))
            if record is not None:
                record[f"conv{i}_relu"] = x
        x = x.flatten(1)
        for i, fc in enumerate(self.fcs, start=1):
            x = fc(x)
            if i < len(self.fcs):
                x = F.relu(x)
                if record is not None:
                    record[f"fc{i}_relu"] = x
        return x


def minatar_states(game, n, seed):
    """`n` consecutive (state, next state, done) of a random policy."""
    import minatar

    env = minatar.Environment(game, sticky_action_prob=0.1)
    env.seed(seed)
    rng = np.random.default_rng(seed)
    env.reset()
    states = []
    while len(states) < n:
        s = env.state()
        _, done = env.act(int(rng.integers(6)))
        s2 = env.state()
        # Skip some steps so the batch is not one short stretch of play.
        if rng.random() < 0.3 or done:
            states.append((s, s2, done))
        if done:
            env.reset()
    to_chw = lambda s: np.transpose(s.astype(np.uint8), (2, 0, 1))
    return (np.stack([to_chw(s) for s, _, _ in states]), np.stack([to_chw(s) for _, s, _ in states]),
            [float(d) for _, _, d in states])


def loss_of(kind, q, y):
    return F.smooth_l1_loss(q, y) if kind["kind"] == "huber" else F.mse_loss(q, y)


def case(name, description, input_shape, scale, layers, n_actions, batch, gamma, loss, optimizers, seed):
    torch.manual_seed(seed)
    policy = Net(input_shape, layers, n_actions)
    target = Net(input_shape, layers, n_actions)
    init = {k: v.clone() for k, v in policy.state_dict().items()}
    states, next_states, actions, rewards, dones = batch
    scale_t = torch.tensor(scale, dtype=torch.float32)
    x = torch.from_numpy(states).to(torch.float32) * scale_t
    x2 = torch.from_numpy(next_states).to(torch.float32) * scale_t
    a = torch.tensor(actions)
    r = torch.tensor(rewards, dtype=torch.float32)
    d = torch.tensor(dones, dtype=torch.float32)

    def dqn_loss(record=None):
        q = policy(x, record)
        q_sa = q.gather(1, a[:, None])[:, 0]
        with torch.no_grad():
            q_next = target(x2)
            q_next_max = q_next.max(1).values
            y = r + (gamma * q_next_max) * (1.0 - d)
        if record is not None:
            record.update(policy_q=q, q_sa=q_sa, target_q_next_all=q_next, target_q_next_max=q_next_max, y=y)
        return loss_of(loss, q_sa, y)

    record = {}
    value = dqn_loss(record)
    policy.zero_grad()
    value.backward()
    record["loss"] = value.reshape(1)
    grads = {n: p.grad.clone() for n, p in policy.named_parameters()}
    steps = {}
    for label, opt_spec in optimizers.items():
        policy.load_state_dict(init)
        if opt_spec["kind"] == "adam":
            opt = torch.optim.Adam(policy.parameters(), lr=opt_spec["lr"], betas=tuple(opt_spec["betas"]),
                                   eps=opt_spec["eps"])
        else:
            opt = torch.optim.RMSprop(policy.parameters(), lr=opt_spec["lr"], alpha=opt_spec["alpha"],
                                      eps=opt_spec["eps"], centered=opt_spec["centered"], momentum=0)
        before, after = [], {}
        for step in range(1, 6):
            opt.zero_grad()
            value = dqn_loss()
            before.append(f32(value.reshape(1)))
            value.backward()
            opt.step()
            if step in (1, 5):
                after[str(step)] = {"params": {n: f32(p) for n, p in policy.state_dict().items()}}
        steps[label] = {"optimizer": opt_spec, "loss_before_each_step": before, "after_step": after}
    return {
        "torch_version": torch.__version__, "name": name, "description": description,
        "input_shape": list(input_shape), "input_scale": scale, "layers": layers, "n_actions": n_actions,
        "batch_size": len(actions), "gamma": gamma, "loss": loss,
        "policy_init": {n: f32(v) for n, v in init.items()},
        "target": {n: f32(v) for n, v in target.state_dict().items()},
        "batch": {"states": u8(states), "next_states": u8(next_states), "actions": actions,
                  "rewards": f32(r), "dones": f32(d)},
        "forward": {k: f32(v) for k, v in record.items()},
        "grads": {n: f32(g) for n, g in grads.items()},
        "steps": steps,
    }


def random_batch(rng, shape, batch, n_actions, high=256):
    states = rng.integers(0, high, size=(batch, *shape), dtype=np.uint8)
    next_states = rng.integers(0, high, size=(batch, *shape), dtype=np.uint8)
    actions = [int(v) for v in rng.integers(n_actions, size=batch)]
    rewards = [float(v) for v in rng.choice([-1.0, 0.0, 1.0], size=batch)]
    dones = [float(v) for v in (rng.random(batch) < 0.25)]
    return states, next_states, actions, rewards, dones


def minatar_batch(game, batch, n_actions, seed):
    rng = np.random.default_rng(seed + 1)
    states, next_states, dones = minatar_states(game, batch, seed)
    actions = [int(v) for v in rng.integers(n_actions, size=batch)]
    rewards = [float(v) for v in rng.choice([0.0, 1.0], size=batch)]
    return states, next_states, actions, rewards, dones


ADAM = {"kind": "adam", "lr": 1e-4, "betas": [0.9, 0.999], "eps": 1e-3}
YOUNG_TIAN = {"kind": "rmsprop", "centered": True, "lr": 2.5e-4, "alpha": 0.95, "eps": 0.01}
PLAIN_RMSPROP = {"kind": "rmsprop", "centered": False, "lr": 1e-4, "alpha": 0.99, "eps": 1e-3}
HUBER = {"kind": "huber", "delta": 1.0}


def conv(out, k, s, p=0):
    return {"kind": "conv", "out_channels": out, "kernel": k, "stride": s, "padding": p}


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(30)
    cases = [
        case("minatar_young_tian_breakout",
             "Young & Tian's MinAtar network (16 3x3 valid, 128) on Breakout states, their centered RMSprop",
             (4, 10, 10), 1.0, [conv(16, 3, 1), {"kind": "flatten"}, {"kind": "linear", "out": 128}], 6,
             minatar_batch("breakout", 16, 6, 7), 0.99, HUBER, {"rmsprop": YOUNG_TIAN}, 1),
        case("minatar_dopamine_seaquest",
             "Dopamine's MinAtar network (16 3x3 'same', straight into the output) on Seaquest states",
             (10, 10, 10), 1.0, [conv(16, 3, 1, 1), {"kind": "flatten"}], 6,
             minatar_batch("seaquest", 12, 6, 11), 0.99, {"kind": "mse"},
             {"adam": ADAM, "rmsprop": PLAIN_RMSPROP}, 2),
        case("nature_geometry_narrow",
             "The Nature network's geometry on 4x84x84 frames (8x8/4, 4x4/2, 3x3/1), narrower filters and "
             "hidden layer to keep the file small",
             (4, 84, 84), 1.0 / 255.0, [conv(8, 8, 4), conv(16, 4, 2), conv(16, 3, 1), {"kind": "flatten"},
                                        {"kind": "linear", "out": 16}], 6,
             random_batch(rng, (4, 84, 84), 3, 6), 0.99, HUBER, {"adam": ADAM, "rmsprop": YOUNG_TIAN}, 3),
        case("odd_geometry",
             "A 3x13x7 input: 4x4 stride 3 with padding 1 (remainders 2 and 2), then 2x2 stride 1, two linear",
             (3, 13, 7), 1.0 / 255.0, [conv(5, 4, 3, 1), conv(6, 2, 1), {"kind": "flatten"},
                                       {"kind": "linear", "out": 10}], 3,
             random_batch(rng, (3, 13, 7), 5, 3), 0.9, {"kind": "mse"}, {"adam": ADAM, "rmsprop": PLAIN_RMSPROP}, 4),
    ]
    for c in cases:
        with open(os.path.join(OUT, c["name"] + ".json"), "w") as f:
            json.dump(c, f, separators=(",", ":"))
            f.write("\n")


if __name__ == "__main__":
    main()
