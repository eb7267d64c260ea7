"""Writes one-layer convolution golden cases in tests/golden_conv_layer/ from
real PyTorch (CPU, one thread): `nn.Conv2d(C, O, k, stride, padding)` with
PyTorch's default initialisation on one input `[1, C, H, W]`, its output,
and for a fixed upstream gradient R the gradients of `sum(out * R)` with
respect to the weight, the bias and the input.

    /tmp/dqn-anchor-venv/bin/python crates/mlp/tests/generate_conv_layer_golden.py

Tensors are the golden format's `u32` f32 tensors (shape, row-major, PyTorch's
layout: weight `[out, in, k, k]`, input/output `[C, H, W]`). Tolerances
(tests/network/conv_layer.rs, the golden format's): output rtol 1e-5, gradients
rtol 1e-4, atol 1e-6.
"""
import json
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden_conv_layer")


def tensor(t):
    flat = t.detach().contiguous().view(-1)
    return {"shape": list(t.shape), "u32": [f"{v & 0xFFFFFFFF:08x}" for v in flat.view(torch.int32).tolist()]}


def case(name, c, hw, o, k, stride, padding, seed, binary=False):
    torch.manual_seed(seed)
    conv = torch.nn.Conv2d(c, o, k, stride=stride, padding=padding)
    h, w = hw
    x = (torch.rand(1, c, h, w) < 0.3).float() if binary else torch.rand(1, c, h, w)
    x.requires_grad_(True)
    y = conv(x)
    r = torch.randn_like(y)
    (y * r).sum().backward()
    return {
        "torch_version": torch.__version__,
        "name": name,
        "in_channels": c, "height": h, "width": w, "out_channels": o,
        "kernel": k, "stride": stride, "padding": padding,
        "weight": tensor(conv.weight), "bias": tensor(conv.bias),
        "input": tensor(x[0]), "output": tensor(y[0]), "upstream": tensor(r[0]),
        "grad_weight": tensor(conv.weight.grad), "grad_bias": tensor(conv.bias.grad), "grad_input": tensor(x.grad[0]),
    }


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    cases = [
        # MinAtar's network (Young & Tian): 16 filters 3x3, stride 1, no padding, 10x10 planes.
        case("minatar_valid", 4, (10, 10), 16, 3, 1, 0, 1, binary=True),
        # Dopamine's MinAtar network: 'same' padding.
        case("minatar_same", 6, (10, 10), 16, 3, 1, 1, 2, binary=True),
        # The Nature network's first layer on a smaller frame: 8x8 stride 4.
        case("nature_first_layer_small", 4, (36, 36), 8, 8, 4, 0, 3),
        # Odd: non-square input, a stride that leaves a remainder, padding on a strided layer.
        case("odd_strided_padded", 3, (11, 7), 5, 4, 3, 2, 4),
    ]
    for c in cases:
        with open(os.path.join(OUT, c["name"] + ".json"), "w") as f:
            json.dump(c, f)
        print(c["name"], "written")


if __name__ == "__main__":
    main()
