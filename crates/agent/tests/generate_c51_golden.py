"""Writes the C51 projection golden cases in tests/golden_c51/ from real PyTorch.

Run in a venv with torch installed (e.g. made by ../shared/anchors/setup.sh):

    /tmp/dqn-anchor-venv/bin/python crates/agent/tests/generate_c51_golden.py

The categorical projection of distributional DQN (Bellemare et al. 2017), as the "C51 projection"
section of ../shared/golden-format.md defines it, in float32: Tz_j = clamp(r + discount * z_j *
(1 - terminated), v_min, v_max); b_j = (Tz_j - v_min) / dz (clamped to [0, n_atoms - 1], which
only matters when float rounding puts v_max a hair past the last atom); l = floor(b), u = ceil(b);
p_j goes to l with weight (u - b_j), to u with weight (b_j - l), and wholly to l when l = u.
"""
import json
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden_c51")


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


if __name__ == "__main__":
    main()
