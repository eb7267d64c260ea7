"""Writes the gradient-norm clipping golden cases in tests/golden_clip_norm/
from real PyTorch: `torch.nn.utils.clip_grad_norm_(params, max_norm)`, what
Stable-Baselines3 and CleanRL call with `max_grad_norm`.

    /tmp/dqn-anchor-venv/bin/python crates/mlp/tests/generate_clip_norm_golden.py

Each case: the gradients of a chain of linear layers (`fcK.weight` [out, in],
`fcK.bias` [out], f32, in the golden format's `u32` tensors), `max_norm`, the
total norm torch returns and the gradients after clipping. The gradients are
drawn at several scales so the norm falls above and below `max_norm`.
Tolerances (tests/network/clip_norm.rs): total norm rtol 1e-6; clipped gradients
rtol 1e-6, atol 1e-9 (torch sums in f32 in its own order).
"""
import json
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden_clip_norm")


def tensor(t):
    flat = t.detach().contiguous().view(-1)
    return {"shape": list(t.shape), "u32": [f"{v & 0xFFFFFFFF:08x}" for v in flat.view(torch.int32).tolist()]}


def case(name, sizes, scale, max_norm, seed):
    g = torch.Generator().manual_seed(seed)
    grads = {}
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        grads[f"fc{k}.weight"] = torch.randn(n_out, n_in, generator=g) * scale
        grads[f"fc{k}.bias"] = torch.randn(n_out, generator=g) * scale
    params = []
    for name_, value in grads.items():
        p = torch.nn.Parameter(torch.zeros_like(value))
        p.grad = value.clone()
        params.append((name_, p))
    total = torch.nn.utils.clip_grad_norm_([p for _, p in params], max_norm)
    return {
        "torch_version": torch.__version__,
        "name": name,
        "sizes": sizes,
        "max_norm": max_norm,
        "total_norm": tensor(total.reshape(1)),
        "grads": {k: tensor(v) for k, v in grads.items()},
        "clipped": {k: tensor(p.grad) for k, p in params},
    }


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    cases = [
        case("seed_net_above", [4, 128, 128, 2], 0.05, 1.0, 1),
        case("seed_net_below", [4, 128, 128, 2], 0.001, 10.0, 2),
        case("sb3_default_net_large", [4, 64, 64, 2], 3.0, 10.0, 3),
        case("odd_sizes_tiny_limit", [7, 96, 33, 6], 1.0, 1e-3, 4),
    ]
    for c in cases:
        with open(os.path.join(OUT, c["name"] + ".json"), "w") as f:
            json.dump(c, f)
        print(c["name"], "written")


if __name__ == "__main__":
    main()
