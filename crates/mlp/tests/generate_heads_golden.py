"""Writes the dueling-head and noisy-layer golden vectors in tests/golden_heads/ from real PyTorch.

Run in a venv with torch installed (e.g. made by ../shared/anchors/setup.sh):

    /tmp/dqn-anchor-venv/bin/python crates/mlp/tests/generate_heads_golden.py

Each case is a network the `mlp` crate builds from an `Architecture` (the
`architecture` key is that struct's JSON): a chain or a trunk with dueling
value and advantage streams, Q = (V + A) − mean_a A per value output, some
layers factorised-Gaussian noisy (W = μ + σ ⊙ f(ε_out) f(ε_in)ᵀ,
b = μ_b + σ_b ⊙ f(ε_out), f(x) = sgn(x)·√|x|), in float32. Given: its
parameters (`params_init`, PyTorch names: `fcK.*` for a chain, `trunk.i.*`,
`value.i.*`, `advantage.i.*` for dueling heads; a noisy layer's tensors are
`weight_mu`, `weight_sigma`, `bias_mu`, `bias_sigma`), a noise sample
(`noise`: per layer null, or the raw standard-normal draws `input` = ε_in
and `output` = ε_out), and a batch (`inputs`, `actions`, `targets`).
Recorded: the outputs under the noise and on the mean weights, the loss
mean((q[a] − y)²) under the noise, every gradient (σ's included), and the
parameters after 1 and 2 steps of zero-grad → loss → backward → clamp to
[−1, 1] → Adam (lr 1e-3), the noise fixed. Number encodings and tolerances
are those of ../shared/golden-format.md (its MLP section).
"""
import json
import math
import os

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden_heads")


def tensor(t):
    a = t.detach().to(torch.float32).contiguous().numpy()
    out = {"u32": [format(int(b), "08x") for b in a.reshape(-1).view(np.uint32)]}
    if a.size <= 256:
        out["repr"] = [repr(float(v)) for v in a.reshape(-1)]
    out["shape"] = list(a.shape) if a.ndim > 0 else [1]
    return out


def signed_sqrt(x):
    return x.sign() * x.abs().sqrt()


class Linear(nn.Module):
    """A linear layer, plain or factorised-Gaussian noisy."""

    def __init__(self, inputs, outputs, noisy, sigma0):
        super().__init__()
        bound = 1.0 / math.sqrt(inputs)
        self.noisy = noisy
        if noisy:
            self.weight_mu = nn.Parameter(torch.empty(outputs, inputs).uniform_(-bound, bound))
            self.bias_mu = nn.Parameter(torch.empty(outputs).uniform_(-bound, bound))
            self.weight_sigma = nn.Parameter(torch.full((outputs, inputs), sigma0 / math.sqrt(inputs)))
            self.bias_sigma = nn.Parameter(torch.full((outputs,), sigma0 / math.sqrt(inputs)))
            self.eps_in = torch.zeros(inputs)
            self.eps_out = torch.zeros(outputs)
        else:
            self.weight = nn.Parameter(torch.empty(outputs, inputs).uniform_(-bound, bound))
            self.bias = nn.Parameter(torch.empty(outputs).uniform_(-bound, bound))

    def forward(self, x, with_noise):
        if not self.noisy:
            return F.linear(x, self.weight, self.bias)
        if not with_noise:
            return F.linear(x, self.weight_mu, self.bias_mu)
        f_out, f_in = signed_sqrt(self.eps_out), signed_sqrt(self.eps_in)
        weight = self.weight_mu + self.weight_sigma * torch.outer(f_out, f_in)
        bias = self.bias_mu + self.bias_sigma * f_out
        return F.linear(x, weight, bias)


def run_stack(layers, x, with_noise, relu_last):
    for i, layer in enumerate(layers):
        x = layer(x, with_noise)
        if relu_last or i + 1 < len(layers):
            x = torch.relu(x)
    return x


class Net(nn.Module):
    def __init__(self, arch):
        super().__init__()
        noisy = arch["noisy"]
        sigma0 = noisy["sigma0"] if noisy else 0.0
        dueling = arch["dueling"]
        widths = [arch["inputs"]] + arch["hidden"]
        if dueling is None:
            widths = widths + [arch["outputs"]]
            n = len(widths) - 1
            first_noisy = n if noisy is None else (0 if noisy["layers"] == "All" else n - 1)
            self.chain = [Linear(widths[i], widths[i + 1], i >= first_noisy, sigma0) for i in range(n)]
            for i, layer in enumerate(self.chain):
                setattr(self, f"fc{i + 1}", layer)
            self.dueling = None
        else:
            all_noisy = noisy is not None and noisy["layers"] == "All"
            heads_noisy = noisy is not None
            self.trunk = nn.ModuleList(
                Linear(widths[i], widths[i + 1], all_noisy, sigma0) for i in range(len(widths) - 1))

            def stream(hidden, outputs):
                w = [widths[-1]] + hidden + [outputs]
                return nn.ModuleList(Linear(w[i], w[i + 1], heads_noisy, sigma0) for i in range(len(w) - 1))

            self.value = stream(dueling["value_hidden"], dueling["value_outputs"])
            self.advantage = stream(dueling["advantage_hidden"], arch["outputs"])
            self.dueling = dueling

    def layers(self):
        if self.dueling is None:
            return list(self.chain)
        return list(self.trunk) + list(self.value) + list(self.advantage)

    def forward(self, x, with_noise=True):
        if self.dueling is None:
            return run_stack(self.chain, x, with_noise, relu_last=False)
        h = run_stack(self.trunk, x, with_noise, relu_last=True)
        v = run_stack(self.value, h, with_noise, relu_last=False)
        a = run_stack(self.advantage, h, with_noise, relu_last=False)
        g = self.dueling["value_outputs"]
        rows = x.shape[0]
        a = a.view(rows, -1, g)
        q = v.view(rows, 1, g) + a - a.mean(1, keepdim=True)
        return q.reshape(rows, -1)


def params_of(net):
    return {name: tensor(p) for name, p in net.named_parameters()}


def case(name, arch, batch_size, seed):
    torch.manual_seed(seed)
    net = Net(arch)
    gen = torch.Generator().manual_seed(seed + 1000)
    noise = []
    for layer in net.layers():
        if layer.noisy:
            layer.eps_in = torch.randn(layer.eps_in.shape[0], generator=gen)
            layer.eps_out = torch.randn(layer.eps_out.shape[0], generator=gen)
            noise.append({"input": tensor(layer.eps_in), "output": tensor(layer.eps_out)})
        else:
            noise.append(None)
    inputs = torch.randn(batch_size, arch["inputs"], generator=gen)
    actions = torch.randint(0, arch["outputs"], (batch_size,), generator=gen)
    targets = torch.randn(batch_size, generator=gen) * 2.0
    init = {k: v.clone() for k, v in net.state_dict().items()}

    def loss_of():
        q = net(inputs)
        return F.mse_loss(q.gather(1, actions.unsqueeze(1)).squeeze(1), targets), q

    net.zero_grad()
    loss, outputs = loss_of()
    loss.backward()
    grads = {n: tensor(p.grad) for n, p in net.named_parameters()}
    with torch.no_grad():
        mean_outputs = net(inputs, with_noise=False)

    lr = 1e-3
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    after = {}
    for step in (1, 2):
        opt.zero_grad()
        loss_t, _ = loss_of()
        loss_t.backward()
        for p in net.parameters():
            p.grad.data.clamp_(-1, 1)
        opt.step()
        after[str(step)] = {"params": params_of(net)}
    net.load_state_dict(init)

    return {
        "torch_version": torch.__version__, "name": name, "architecture": arch,
        "params_init": params_of(net), "noise": noise,
        "batch": {"inputs": tensor(inputs), "actions": [int(a) for a in actions], "targets": tensor(targets)},
        "forward": {"outputs": tensor(outputs), "mean_outputs": tensor(mean_outputs),
                    "loss": tensor(loss.detach().reshape(1))},
        "grads": grads,
        "adam": {"lr": lr, "betas": [0.9, 0.999], "eps": 1e-8, "after_step": after},
    }


def arch(inputs, hidden, outputs, dueling=None, noisy=None):
    return {"inputs": inputs, "hidden": hidden, "outputs": outputs, "dueling": dueling, "noisy": noisy}


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    heads = {"layers": "Heads", "sigma0": 0.5}
    cases = [
        ("dueling_scalar_h16", arch(4, [16], 3, {"value_hidden": [8], "advantage_hidden": [8], "value_outputs": 1}),
         16, 1),
        ("dueling_grouped_h16", arch(4, [16, 12], 2 * 5, {"value_hidden": [], "advantage_hidden": [6],
                                                          "value_outputs": 5}), 24, 2),
        ("noisy_chain_h16", arch(4, [16, 16], 2, None, heads), 16, 3),
        ("noisy_chain_all_h8", arch(3, [8], 4, None, {"layers": "All", "sigma0": 0.4}), 9, 4),
        ("rainbow_h64_b64", arch(4, [64], 2 * 51, {"value_hidden": [64], "advantage_hidden": [64],
                                                    "value_outputs": 51}, heads), 64, 5),
    ]
    for name, a, batch_size, seed in cases:
        doc = case(name, a, batch_size, seed)
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(doc, f, separators=(",", ":"))
        print("wrote", name)


if __name__ == "__main__":
    main()
