"""Writes the C51 golden cases from real PyTorch: the projection (tests/golden_c51/) and whole
distributional losses with their gradients (tests/golden_c51_update/).

Run in a venv with torch installed (e.g. made by ../shared/anchors/setup.sh):

    /tmp/dqn-anchor-venv/bin/python crates/agent/tests/generate_c51_golden.py

The categorical projection of distributional DQN (Bellemare et al. 2017), as the "C51 projection"
section of ../shared/golden-format.md defines it, in float32: Tz_j = clamp(r + discount * z_j *
(1 - terminated), v_min, v_max); b_j = (Tz_j - v_min) / dz (clamped to [0, n_atoms - 1], which
only matters when float rounding puts v_max a hair past the last atom); l = floor(b), u = ceil(b);
p_j goes to l with weight (u - b_j), to u with weight (b_j - l), and wholly to l when l = u.

The update cases (one file each): a net Linear(4->H), ReLU, Linear(H->H), ReLU, Linear(H->A*N) with
PyTorch's default init, its N logits per action action-major; a fixed target net. For each row:
the target net's softmax distributions at s', the next action by the largest expected value (or,
with `double_dqn`, by the policy's expected values at s'), that distribution projected as above
with the row's discount, and the cross-entropy -sum_j m_j log_softmax(logits_a)_j of the taken
action a; the loss is the batch mean of w * cross-entropy (w = 1 without `batch.weights`).
Keys: torch_version, name, hidden, n_actions, n_atoms, v_min, v_max, double_dqn, policy_init and
target ({fc1.weight, ...: tensor}), batch {states, actions, rewards, next_states, dones, discounts,
weights?}, forward {loss [1], row_loss [B] (the unweighted cross-entropies)}, grads {name: tensor},
after_adam_step {lr, params {name: tensor}}: one Adam step (PyTorch's defaults) on those gradients.
Tolerances as the MLP/DQN-update section of ../shared/golden-format.md (forward rtol 1e-5 atol
1e-6, gradients rtol 1e-4 atol 1e-6).
"""
import json
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden_c51")
OUT_UPDATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden_c51_update")
NAMES = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]


def f32(t):
    a = torch.as_tensor(t, dtype=torch.float32).contiguous().numpy()
    out = {"u32": [format(int(b), "08x") for b in a.reshape(-1).view(np.uint32)]}
    if a.size <= 64:
        out["repr"] = [repr(float(v)) for v in a.reshape(-1)]
    if a.ndim == 2:
        out["shape"] = list(a.shape)
    return out


def project(rewards, discounts, terminated, next_probs, v_min, v_max, n_atoms):
    support = torch.linspace(v_min, v_max, n_atoms, dtype=torch.float32)
    dz = torch.tensor((v_max - v_min) / (n_atoms - 1), dtype=torch.float32)
    z = torch.tensor(v_min, dtype=torch.float32) + torch.arange(n_atoms, dtype=torch.float32) * dz
    tz = rewards[:, None] + discounts[:, None] * z[None, :] * (1 - terminated[:, None])
    tz = tz.clamp(v_min, v_max)
    b = ((tz - v_min) / dz).clamp(0, n_atoms - 1)
    lo, up = b.floor().long(), b.ceil().long()
    out = torch.zeros_like(next_probs)
    same = lo == up
    out.scatter_add_(1, lo, next_probs * torch.where(same, torch.ones_like(b), up.float() - b))
    out.scatter_add_(1, up, next_probs * torch.where(same, torch.zeros_like(b), b - lo.float()))
    return support, out


def softmax_rows(gen, rows, n_atoms):
    return torch.softmax(torch.randn(rows, n_atoms, generator=gen) * 2.0, dim=1)


def case(name, description, v_min, v_max, n_atoms, rewards, discounts, terminated, next_probs):
    rewards = torch.tensor(rewards, dtype=torch.float32)
    discounts = torch.tensor(discounts, dtype=torch.float32)
    terminated = torch.tensor(terminated, dtype=torch.float32)
    support, projected = project(rewards, discounts, terminated, next_probs, v_min, v_max, n_atoms)
    return {"name": name, "description": description, "v_min": v_min, "v_max": v_max, "n_atoms": n_atoms,
            "support": f32(support), "rewards": f32(rewards), "discounts": f32(discounts),
            "terminated": f32(terminated), "next_probs": f32(next_probs), "projected": f32(projected)}


class Net(torch.nn.Module):
    def __init__(self, hidden, outputs):
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Linear(4, hidden), torch.nn.Linear(hidden, hidden)
        self.fc3 = torch.nn.Linear(hidden, outputs)

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def update_case(name, hidden, n_actions, n_atoms, v_min, v_max, batch_size, seed, double_dqn, weighted):
    torch.manual_seed(seed)
    policy, target = Net(hidden, n_actions * n_atoms), Net(hidden, n_actions * n_atoms)
    gen = torch.Generator().manual_seed(seed + 1000)
    states = torch.randn(batch_size, 4, generator=gen)
    next_states = states + torch.randn(batch_size, 4, generator=gen) * 0.1
    actions = torch.randint(0, n_actions, (batch_size,), generator=gen)
    rewards = torch.randn(batch_size, generator=gen) * 2.0
    dones = (torch.rand(batch_size, generator=gen) < 0.25).float()
    discounts = torch.tensor([0.99 ** int(k) for k in torch.randint(1, 4, (batch_size,), generator=gen)])
    weights = (torch.rand(batch_size, generator=gen) * 0.9 + 0.1) if weighted else None
    z = torch.tensor(v_min, dtype=torch.float32) + torch.arange(n_atoms, dtype=torch.float32) * torch.tensor(
        (v_max - v_min) / (n_atoms - 1), dtype=torch.float32)
    with torch.no_grad():
        p_next = torch.softmax(target(next_states).view(batch_size, n_actions, n_atoms), dim=2)
        chooser = torch.softmax(policy(next_states).view(batch_size, n_actions, n_atoms), dim=2) if double_dqn else p_next
        a_next = (chooser * z).sum(2).argmax(1)
        _, m = project(rewards, discounts, dones, p_next[torch.arange(batch_size), a_next], v_min, v_max, n_atoms)
    logits = policy(states).view(batch_size, n_actions, n_atoms)[torch.arange(batch_size), actions]
    row_loss = -(m * torch.log_softmax(logits, dim=1)).sum(1)
    loss = (row_loss if weights is None else weights * row_loss).mean()
    policy.zero_grad()
    loss.backward()
    params = dict(policy.named_parameters())
    grads = {n: f32_shaped(params[n].grad) for n in NAMES}
    init = {k: f32_shaped(v) for k, v in policy.state_dict().items()}
    # One Adam step (lr 1e-4, PyTorch's defaults) on these gradients, unclamped.
    opt = torch.optim.Adam(policy.parameters(), lr=1e-4)
    opt.step()
    batch = {"states": f32(states), "actions": [int(a) for a in actions], "rewards": f32(rewards),
             "next_states": f32(next_states), "dones": f32(dones), "discounts": f32(discounts)}
    if weights is not None:
        batch["weights"] = f32(weights)
    sd = lambda net: {k: f32_shaped(v) for k, v in net.state_dict().items()}
    return {"torch_version": torch.__version__, "name": name, "hidden": hidden, "n_actions": n_actions,
            "n_atoms": n_atoms, "v_min": v_min, "v_max": v_max, "double_dqn": double_dqn,
            "policy_init": init, "target": sd(target), "batch": batch,
            "forward": {"loss": f32(loss.detach().reshape(1)), "row_loss": f32(row_loss.detach())},
            "grads": grads, "after_adam_step": {"lr": 1e-4, "params": sd(policy)}}


def f32_shaped(t):
    out = f32(t.detach().reshape(-1))
    out["shape"] = list(t.shape)
    return out


def main():
    gen = torch.Generator().manual_seed(51)
    g = 0.99
    cases = [
        case("on_atoms", "dz = 0.5 exactly; r a multiple of dz, discount 1: every Tz_j lands on an atom (l = u)",
             -8.0, 8.0, 33, [1.0, -0.5, 0.0, 2.5], [1.0, 1.0, 1.0, 1.0], [0, 0, 0, 0], softmax_rows(gen, 4, 33)),
        case("beyond_both_ends", "rewards far past v_max and v_min: all mass at the last or the first atom",
             -10.0, 10.0, 51, [100.0, -100.0, 15.0, -15.0], [g, g, g, g], [0, 0, 0, 0], softmax_rows(gen, 4, 51)),
        case("terminal", "terminated rows collapse to the reward's projection (inside, on an atom, clipped)",
             -10.0, 10.0, 51, [1.0, 0.4, -3.3, 25.0], [g, g, g ** 3, g], [1, 1, 1, 1], softmax_rows(gen, 4, 51)),
        case("n_step_discounts", "gamma^k for k = 1, 2, 3 and k < n at an episode's end, mixed with terminal rows",
             -10.0, 10.0, 51, [1.0, 1.99, 2.9701, 0.5, 1.0, 3.0], [g, g ** 2, g ** 3, g ** 3, g, g ** 2],
             [0, 0, 0, 1, 0, 1], softmax_rows(gen, 6, 51)),
        case("random_seed_support", "the default support, 64 random rows: rewards in [-3, 3], a fifth terminal",
             -10.0, 10.0, 51, (torch.rand(64, generator=gen) * 6 - 3).tolist(),
             [g ** int(k) for k in torch.randint(1, 4, (64,), generator=gen)],
             (torch.rand(64, generator=gen) < 0.2).float().tolist(), softmax_rows(gen, 64, 51)),
        case("narrow_support", "a support of 11 atoms on [0, 200] (CartPole returns)",
             0.0, 200.0, 11, [1.0, 1.0, 0.0, 5.0], [0.99, 0.9801, 0.99, 0.5], [0, 0, 1, 0], softmax_rows(gen, 4, 11)),
    ]
    os.makedirs(OUT, exist_ok=True)
    doc = {"group": "c51_projection", "torch_version": torch.__version__, "cases": cases}
    with open(os.path.join(OUT, "projection.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"{len(cases)} cases -> {OUT}/projection.json")
    os.makedirs(OUT_UPDATE, exist_ok=True)
    for args in [("small_h16_a2_n11", 16, 2, 11, -10.0, 10.0, 8, 1, False, False),
                 ("double_weighted_h16_a3_n21", 16, 3, 21, -5.0, 15.0, 12, 2, True, True),
                 ("seed_h128_a2_n51_b64", 128, 2, 51, -10.0, 10.0, 64, 3, False, True)]:
        doc = update_case(*args)
        with open(os.path.join(OUT_UPDATE, f"{args[0]}.json"), "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.write("\n")
        print(f"{args[0]}: loss {doc['forward']['loss']['repr'][0]}")


if __name__ == "__main__":
    main()
