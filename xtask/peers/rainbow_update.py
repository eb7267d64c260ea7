#!/usr/bin/env python3
"""Rainbow's update in PyTorch: the peer of `Agent::update` with the agent settings of
`presets/cartpole-rainbow.ron` (`DqnConfig::rainbow`) for `cargo xtask bench`.

The same semantics as dqn-rs, per training action and update (as the Rust bench measures them):
  * act: a fresh noise sample for the policy's noisy layers, the greedy action of one observation
    by the expected values of its distributions;
  * update: a fresh noise sample for the target network; a prioritized mini-batch (a sum and a min
    tree, one draw in each of B equal segments of the total, importance weights (p_min / p_i)^beta,
    beta rising linearly to 1); Double DQN's next action, argmax_a of the policy's expected values
    at s' (with its current noise); the target network's distribution there projected onto the
    atoms after Tz = r + gamma^k z (1 - terminated), clipped; the loss mean(w * cross-entropy);
    gradients clamped to [-clip, clip]; Adam; the sampled priorities (cross-entropy + eps)^alpha;
    a hard target copy every C actions;
  * the network: a trunk of ReLU layers, dueling value and advantage streams (Q = V + A - mean A per
    atom), their layers factorised-Gaussian noisy (W = mu + sigma * f(eps_out) f(eps_in)^T,
    f(x) = sgn(x) sqrt|x|, sigma_0 = 0.5), n-step transitions stored with their step counts.

  python rainbow_update.py --threads 1 --updates 1000 --json out.json           # time it
  python rainbow_update.py --check-net crates/mlp/tests/golden_heads/rainbow_h64_b64.json
  python rainbow_update.py --check-loss crates/agent/tests/golden_c51_update/<case>.json
The checks run this script's network (outputs under a given noise and on the mean weights,
gradients, two clamped Adam steps) and its C51 learning step (loss, per-row losses, gradients, one
Adam step) on the golden cases dqn-rs's own tests check, at the golden format's tolerances.
"""
import argparse
import json
import math
import statistics
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from per_update import PriorityTree  # the PER peer's trees: the same sampling, one implementation

# The agent settings of presets/cartpole-rainbow.ron (DqnConfig::rainbow).
GAMMA, LR, BATCH, CAPACITY, TARGET_EVERY, CLIP = 0.99, 1e-3, 64, 50_000, 200, 10.0
TRUNK, STREAM, N_ATOMS, V_MIN, V_MAX, N_STEP, SIGMA0 = [128], [128], 51, 0.0, 100.0, 3, 0.5
ALPHA, BETA_START, BETA_STEPS, EPS = 0.5, 0.4, 20_000, 1e-6


def signed_sqrt(x):
    return x.sign() * x.abs().sqrt()


class Linear(nn.Module):
    """A linear layer, plain or factorised-Gaussian noisy."""

    def __init__(self, inputs, outputs, noisy):
        super().__init__()
        bound = 1.0 / math.sqrt(inputs)
        self.noisy, self.inputs, self.outputs = noisy, inputs, outputs
        if noisy:
            self.weight_mu = nn.Parameter(torch.empty(outputs, inputs).uniform_(-bound, bound))
            self.bias_mu = nn.Parameter(torch.empty(outputs).uniform_(-bound, bound))
            self.weight_sigma = nn.Parameter(torch.full((outputs, inputs), SIGMA0 / math.sqrt(inputs)))
            self.bias_sigma = nn.Parameter(torch.full((outputs,), SIGMA0 / math.sqrt(inputs)))
            self.set_noise(torch.zeros(inputs), torch.zeros(outputs))
        else:
            self.weight = nn.Parameter(torch.empty(outputs, inputs).uniform_(-bound, bound))
            self.bias = nn.Parameter(torch.empty(outputs).uniform_(-bound, bound))

    def set_noise(self, eps_in, eps_out):
        self.f_out = signed_sqrt(eps_out)
        self.weight_noise = torch.outer(self.f_out, signed_sqrt(eps_in))

    def forward(self, x, with_noise=True):
        if not self.noisy:
            return F.linear(x, self.weight, self.bias)
        if not with_noise:
            return F.linear(x, self.weight_mu, self.bias_mu)
        return F.linear(x, self.weight_mu + self.weight_sigma * self.weight_noise,
                        self.bias_mu + self.bias_sigma * self.f_out)


def run_stack(layers, x, with_noise, relu_last):
    for i, layer in enumerate(layers):
        x = layer(x, with_noise)
        if relu_last or i + 1 < len(layers):
            x = torch.relu(x)
    return x


class DuelingNet(nn.Module):
    """Trunk, then value and advantage streams (noisy), combined per value output."""

    def __init__(self, inputs, trunk, value_hidden, advantage_hidden, value_outputs, outputs, noisy_trunk=False):
        super().__init__()
        w = [inputs] + trunk
        self.trunk = nn.ModuleList(Linear(w[i], w[i + 1], noisy_trunk) for i in range(len(w) - 1))

        def stream(hidden, out):
            s = [trunk[-1]] + hidden + [out]
            return nn.ModuleList(Linear(s[i], s[i + 1], True) for i in range(len(s) - 1))

        self.value = stream(value_hidden, value_outputs)
        self.advantage = stream(advantage_hidden, outputs)
        self.value_outputs = value_outputs

    def noisy_layers(self):
        return [m for m in self.modules() if isinstance(m, Linear) and m.noisy]

    def reset_noise(self, gen):
        for layer in self.noisy_layers():
            layer.set_noise(torch.randn(layer.inputs, generator=gen), torch.randn(layer.outputs, generator=gen))

    def forward(self, x, with_noise=True):
        h = run_stack(self.trunk, x, with_noise, relu_last=True)
        v = run_stack(self.value, h, with_noise, relu_last=False)
        a = run_stack(self.advantage, h, with_noise, relu_last=False)
        rows, g = x.shape[0], self.value_outputs
        a = a.view(rows, -1, g)
        return (v.view(rows, 1, g) + a - a.mean(1, keepdim=True)).reshape(rows, -1)


def support(v_min, v_max, n_atoms):
    dz = torch.tensor((v_max - v_min) / (n_atoms - 1), dtype=torch.float32)
    return torch.tensor(v_min, dtype=torch.float32) + torch.arange(n_atoms, dtype=torch.float32) * dz, dz


def project(rewards, discounts, terminated, next_probs, v_min, v_max, n_atoms):
    z, dz = support(v_min, v_max, n_atoms)
    tz = (rewards[:, None] + discounts[:, None] * z[None, :] * (1 - terminated[:, None])).clamp(v_min, v_max)
    b = ((tz - v_min) / dz).clamp(0, n_atoms - 1)
    lo, up = b.floor().long(), b.ceil().long()
    out = torch.zeros_like(next_probs)
    same = lo == up
    out.scatter_add_(1, lo, next_probs * torch.where(same, torch.ones_like(b), up.float() - b))
    out.scatter_add_(1, up, next_probs * torch.where(same, torch.zeros_like(b), b - lo.float()))
    return out


def c51_loss(policy, target, batch, weights, n_actions, n_atoms, v_min, v_max, double_dqn=True):
    """The weighted cross-entropy against the projected target, and each row's cross-entropy."""
    s, a, r, s2, d, discounts = batch
    rows = s.shape[0]
    z, _ = support(v_min, v_max, n_atoms)
    with torch.no_grad():
        p_next = torch.softmax(target(s2).view(rows, n_actions, n_atoms), dim=2)
        chooser = torch.softmax(policy(s2).view(rows, n_actions, n_atoms), dim=2) if double_dqn else p_next
        a_next = (chooser * z).sum(2).argmax(1)
        m = project(r, discounts, d, p_next[torch.arange(rows), a_next], v_min, v_max, n_atoms)
    logits = policy(s).view(rows, n_actions, n_atoms)[torch.arange(rows), a]
    row_loss = -(m * torch.log_softmax(logits, dim=1)).sum(1)
    loss = (row_loss if weights is None else weights * row_loss).mean()
    return loss, row_loss.detach()


class RainbowAgent:
    def __init__(self, seed, n_actions=2):
        torch.manual_seed(seed)
        self.gen = torch.Generator().manual_seed(seed + 1)
        self.n_actions = n_actions
        make = lambda: DuelingNet(4, TRUNK, STREAM, STREAM, N_ATOMS, n_actions * N_ATOMS)
        self.policy, self.target = make(), make()
        self.target.load_state_dict(self.policy.state_dict())
        self.opt = torch.optim.Adam(self.policy.parameters(), lr=LR)
        self.tree, self.max_priority = PriorityTree(CAPACITY), 1.0
        self.s, self.s2 = torch.zeros(CAPACITY, 4), torch.zeros(CAPACITY, 4)
        self.a = torch.zeros(CAPACITY, dtype=torch.int64)
        self.r, self.d, self.discount = torch.zeros(CAPACITY), torch.zeros(CAPACITY), torch.zeros(CAPACITY)
        self.len, self.pos, self.updates, self.actions = 0, 0, 0, 0
        self.rng = np.random.default_rng(seed)
        self.z, _ = support(V_MIN, V_MAX, N_ATOMS)
        self.policy.reset_noise(self.gen)

    def push(self, s, a, r, s2, d, steps):
        i = self.pos
        self.s[i], self.a[i], self.r[i], self.s2[i], self.d[i] = torch.as_tensor(s), a, r, torch.as_tensor(s2), d
        self.discount[i] = GAMMA ** steps
        self.tree.set([i], [self.max_priority])
        self.pos, self.len = (i + 1) % CAPACITY, min(self.len + 1, CAPACITY)

    def act(self, obs):
        self.policy.reset_noise(self.gen)
        self.actions += 1
        with torch.no_grad():
            p = torch.softmax(self.policy(torch.as_tensor(obs)[None]).view(self.n_actions, N_ATOMS), dim=1)
            return int((p * self.z).sum(1).argmax())

    def update(self):
        self.target.reset_noise(self.gen)
        slots = self.tree.sample_segments(BATCH, self.rng)
        beta = BETA_START + (1 - BETA_START) * min(1.0, self.updates / BETA_STEPS)
        w = torch.as_tensor(self.tree.weights(slots, beta), dtype=torch.float32)
        idx = torch.as_tensor(slots)
        batch = (self.s[idx], self.a[idx], self.r[idx], self.s2[idx], self.d[idx], self.discount[idx])
        loss, row_loss = c51_loss(self.policy, self.target, batch, w, self.n_actions, N_ATOMS, V_MIN, V_MAX)
        self.opt.zero_grad()
        loss.backward()
        for p in self.policy.parameters():
            p.grad.data.clamp_(-CLIP, CLIP)
        self.opt.step()
        priorities = (row_loss.numpy().astype(np.float64) + EPS) ** ALPHA
        last = {int(slot): p for slot, p in zip(slots, priorities)}
        self.tree.set(np.fromiter(last.keys(), np.int64), np.fromiter(last.values(), np.float64))
        self.max_priority = max(self.max_priority, float(priorities.max()))
        self.updates += 1
        if self.actions % TARGET_EVERY == 0:
            self.target.load_state_dict(self.policy.state_dict())


def time_updates(args):
    agent = RainbowAgent(args.seed)
    rng = np.random.default_rng(args.seed)
    s = np.zeros(4, np.float32)
    for i in range(args.fill):  # a random walk in CartPole's ranges, as the Rust bench's buffer
        s2 = np.clip(s + rng.uniform(-0.05, 0.05, 4), -2, 2).astype(np.float32)
        done = i % 25 == 24
        agent.push(s, int(rng.integers(2)), 3.0, s2, float(done), N_STEP)
        s = np.zeros(4, np.float32) if done else s2
    obs = np.array([0.01, 0.0, -0.01, 0.0], np.float32)
    for _ in range(50):
        agent.act(obs)
        agent.update()
    reps = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        for _ in range(args.updates):
            agent.act(obs)
            agent.update()
        reps.append((time.perf_counter() - t0) * 1e6 / args.updates)
    return dict(mode="updates", us_per_update=statistics.median(reps), reps_us=reps, updates=args.updates,
                threads=torch.get_num_threads(), torch=torch.__version__)


def from_golden(t):
    a = np.array([int(b, 16) for b in t["u32"]], dtype=np.uint32).view(np.float32)
    return torch.from_numpy(a.reshape(t.get("shape", [-1])).copy())


def close(x, ref, rtol, atol):
    return bool(torch.all((x - ref).abs() <= rtol * ref.abs() + atol))


def finish(path, results):
    print(json.dumps(dict(check=path, **results)))
    if not all(results.values()):
        raise SystemExit(f"{path}: the peer differs from the golden case: {results}")


def check_net(path):
    """This script's dueling noisy network on a golden_heads case with dueling heads."""
    case = json.load(open(path))
    arch = case["architecture"]
    d = arch["dueling"]
    net = DuelingNet(arch["inputs"], arch["hidden"], d["value_hidden"], d["advantage_hidden"], d["value_outputs"],
                     arch["outputs"], noisy_trunk=arch["noisy"]["layers"] == "All")
    net.load_state_dict({k: from_golden(v) for k, v in case["params_init"].items()}, strict=True)
    for layer, noise in zip([m for m in net.modules() if isinstance(m, Linear)], case["noise"]):
        if noise is not None:
            layer.set_noise(from_golden(noise["input"]), from_golden(noise["output"]))
    b = case["batch"]
    x, a, y = from_golden(b["inputs"]), torch.tensor(b["actions"]), from_golden(b["targets"])
    q = net(x)
    loss = F.mse_loss(q.gather(1, a[:, None]).squeeze(1), y)
    loss.backward()
    params = dict(net.named_parameters())
    results = {
        "outputs": close(q.detach(), from_golden(case["forward"]["outputs"]), 1e-5, 1e-6),
        "mean_outputs": close(net(x, with_noise=False).detach(), from_golden(case["forward"]["mean_outputs"]),
                              1e-5, 1e-6),
        "grads": all(close(params[n].grad, from_golden(g), 1e-4, 1e-6) for n, g in case["grads"].items()),
    }
    opt = torch.optim.Adam(net.parameters(), lr=case["adam"]["lr"])
    for step in ("1", "2"):
        opt.zero_grad()
        F.mse_loss(net(x).gather(1, a[:, None]).squeeze(1), y).backward()
        for p in net.parameters():
            p.grad.data.clamp_(-1, 1)
        opt.step()
        results["params_after_step_" + step] = all(
            close(params[n].detach(), from_golden(p), 1e-5, 1e-6)
            for n, p in case["adam"]["after_step"][step]["params"].items())
    finish(path, results)


class ChainNet(nn.Module):
    def __init__(self, hidden, outputs):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(4, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, outputs)

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def check_loss(path):
    """This script's C51 learning step on a golden_c51_update case."""
    case = json.load(open(path))
    outputs = case["n_actions"] * case["n_atoms"]
    policy, target = ChainNet(case["hidden"], outputs), ChainNet(case["hidden"], outputs)
    policy.load_state_dict({k: from_golden(v) for k, v in case["policy_init"].items()})
    target.load_state_dict({k: from_golden(v) for k, v in case["target"].items()})
    b = case["batch"]
    batch = (from_golden(b["states"]), torch.tensor(b["actions"]), from_golden(b["rewards"]),
             from_golden(b["next_states"]), from_golden(b["dones"]), from_golden(b["discounts"]))
    weights = from_golden(b["weights"]) if "weights" in b else None
    loss, row_loss = c51_loss(policy, target, batch, weights, case["n_actions"], case["n_atoms"], case["v_min"],
                              case["v_max"], case["double_dqn"])
    loss.backward()
    params = dict(policy.named_parameters())
    results = {
        "loss": close(loss.detach().reshape(1), from_golden(case["forward"]["loss"]), 1e-5, 1e-6),
        "row_loss": close(row_loss, from_golden(case["forward"]["row_loss"]), 1e-5, 1e-6),
        "grads": all(close(params[n].grad, from_golden(g), 1e-4, 1e-6) for n, g in case["grads"].items()),
    }
    finish(path, results)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--updates", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--fill", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check-net", default=None, help="a golden_heads case with dueling heads: compare")
    ap.add_argument("--check-loss", default=None, help="a golden_c51_update case: compare")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.check_net:
        check_net(args.check_net)
        return
    if args.check_loss:
        check_loss(args.check_loss)
        return
    out = time_updates(args)
    print(json.dumps(out))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f)


if __name__ == "__main__":
    main()
