"""Writes RMSprop golden cases in tests/golden_rmsprop/ from real PyTorch:
`torch.optim.RMSprop(params, lr, alpha, eps, centered)` (momentum 0, no
weight decay) on a chain of linear layers, five steps with five given
gradients, recording the parameters and both averages after steps 1 and 5.

    /tmp/dqn-anchor-venv/bin/python crates/mlp/tests/generate_rmsprop_golden.py

Format: `sizes`, `optimizer` {lr, alpha, eps, centered}, `params_init`
{name: tensor}, `grads` [5 × {name: tensor}], `after_step` {"1": {"params",
"square_avg", "grad_avg"?}, "5": {…}} (golden-format `u32` tensors).
Tolerances (tests/network/rmsprop.rs, the golden format's for optimizer steps):
rtol 1e-5, atol 1e-6. lr/ε is kept small (see golden-format.md: a first
step magnifies gradient rounding by up to lr/ε).
"""
import json
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden_rmsprop")


def tensor(t):
    flat = t.detach().contiguous().view(-1)
    return {"shape": list(t.shape), "u32": [f"{v & 0xFFFFFFFF:08x}" for v in flat.view(torch.int32).tolist()]}


def case(name, sizes, lr, alpha, eps, centered, seed, grad_scale=0.1):
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:])]
    named = []
    for k, layer in enumerate(layers, start=1):
        named += [(f"fc{k}.weight", layer.weight), (f"fc{k}.bias", layer.bias)]
    init = {n: tensor(p) for n, p in named}
    opt = torch.optim.RMSprop([p for _, p in named], lr=lr, alpha=alpha, eps=eps, centered=centered, momentum=0)
    grads, after = [], {}
    for step in range(1, 6):
        g = {n: torch.randn_like(p) * grad_scale for n, p in named}
        grads.append({n: tensor(v) for n, v in g.items()})
        for n, p in named:
            p.grad = g[n].clone()
        opt.step()
        if step in (1, 5):
            record = {"params": {n: tensor(p) for n, p in named},
                      "square_avg": {n: tensor(opt.state[p]["square_avg"]) for n, p in named}}
            if centered:
                record["grad_avg"] = {n: tensor(opt.state[p]["grad_avg"]) for n, p in named}
            after[str(step)] = record
    return {"torch_version": torch.__version__, "name": name, "sizes": sizes,
            "optimizer": {"kind": "rmsprop", "lr": lr, "alpha": alpha, "eps": eps, "centered": centered},
            "params_init": init, "grads": grads, "after_step": after}


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    cases = [
        # Young & Tian's MinAtar DQN: centered, lr 2.5e-4, alpha 0.95, eps 0.01.
        case("young_tian_centered", [6, 32, 16, 3], 2.5e-4, 0.95, 0.01, True, 1),
        case("pytorch_defaults_plain", [4, 16, 16, 2], 1e-4, 0.99, 1e-3, False, 2),
        case("centered_large_lr", [5, 8, 4], 1e-2, 0.9, 0.1, True, 3, grad_scale=2.0),
    ]
    for c in cases:
        with open(os.path.join(OUT, c["name"] + ".json"), "w") as f:
            json.dump(c, f)
        print(c["name"], "written")


if __name__ == "__main__":
    main()
