#!/usr/bin/env python3
"""The seed's DQN update with proportional prioritized replay, in PyTorch: the peer of
`Agent::update` with `sampling: Prioritized(())` for `cargo xtask bench`.

The same semantics as dqn-rs (Schaul et al. 2016, proportional variant):
  * a sum tree and a min tree over the buffer's slots (numpy float64, every inner node recomputed
    from its children); a new transition gets the largest priority so far (1.0 at first);
  * a mini-batch of B: the total cut into B equal segments, one uniform draw in each;
  * importance weights w_i = (N P(i))^-beta / max_j w_j = (p_min / p_i)^beta, beta rising linearly
    from beta_start to 1 over beta_steps gradient steps;
  * loss mean(w * (q_sa - y)^2), y = r + gamma * max_a Q_target(s', a) * (1 - terminated), gradients
    clamped to [-1, 1], Adam (lr 1e-4, PyTorch's defaults), target copy every 4 updates;
  * the sampled transitions' priorities become (|q_sa - y| + eps)^alpha from that step's TD errors.
Tree updates and the descent are vectorized over the batch with numpy (one Python loop over the
tree's levels), which is as fast as an ordinary Python PER gets.

  python per_update.py --threads 1 --updates 2000 --json out.json     # time it
  python per_update.py --check crates/mlp/tests/golden/seed_h128_b64_unit_rewards_weighted.json
The check runs this script's own learning step on a golden case's batch and weights and compares
its loss, TD errors, gradients and parameters after one Adam step with the numbers the case
records (which dqn-rs's golden test checks too), at the golden format's tolerances.
"""
import argparse
import json
import statistics
import time

import numpy as np
import torch
from torch import nn

GAMMA, LR, BATCH, CAPACITY, TARGET_EVERY = 0.95, 1e-4, 64, 100_000, 4
ALPHA, BETA_START, BETA_STEPS, EPS = 0.6, 0.4, 100_000, 1e-6


class QNet(nn.Module):
    def __init__(self, hidden=128):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(4, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 2)

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


class PriorityTree:
    """Sum and min of per-slot priorities in complete binary trees (leaf i at width + i)."""

    def __init__(self, capacity):
        self.width = 1 << (capacity - 1).bit_length()
        self.sums = np.zeros(2 * self.width)
        self.mins = np.full(2 * self.width, np.inf)

    def set(self, slots, priorities):
        node = np.asarray(slots) + self.width
        self.sums[node] = priorities
        self.mins[node] = priorities
        while node[0] > 1:
            node = np.unique(node // 2)
            self.sums[node] = self.sums[2 * node] + self.sums[2 * node + 1]
            self.mins[node] = np.minimum(self.mins[2 * node], self.mins[2 * node + 1])

    def find(self, mass):
        node = np.ones(len(mass), dtype=np.int64)
        mass = mass.copy()
        while node[0] < self.width:
            left = 2 * node
            go_left = (mass < self.sums[left]) | (self.sums[left + 1] <= 0)
            mass = np.where(go_left, mass, mass - self.sums[left])
            node = np.where(go_left, left, left + 1)
        return node - self.width

    def sample_segments(self, k, rng):
        total = self.sums[1]
        return self.find((np.arange(k) + rng.random(k)) * (total / k))

    def weights(self, slots, beta):
        return (self.mins[1] / self.sums[slots + self.width]) ** beta


def learn(policy, target, opt, batch, weights):
    """One weighted gradient step; returns (loss, td_errors)."""
    s, a, r, s2, d = batch
    q_sa = policy(s).gather(1, a.unsqueeze(1)).squeeze(1)
    with torch.no_grad():
        y = r + (GAMMA * target(s2).max(1).values) * (1 - d)
    td = q_sa - y
    loss = (weights * td ** 2).mean()
    opt.zero_grad()
    loss.backward()
    for p in policy.parameters():
        p.grad.data.clamp_(-1, 1)
    opt.step()
    return loss.detach(), td.detach()


class PrioritizedAgent:
    def __init__(self, seed):
        torch.manual_seed(seed)
        self.policy, self.target = QNet(), QNet()
        self.target.load_state_dict(self.policy.state_dict())
        self.opt = torch.optim.Adam(self.policy.parameters(), lr=LR)
        self.tree, self.max_priority = PriorityTree(CAPACITY), 1.0
        self.s = torch.zeros(CAPACITY, 4)
        self.s2 = torch.zeros(CAPACITY, 4)
        self.a = torch.zeros(CAPACITY, dtype=torch.int64)
        self.r = torch.zeros(CAPACITY)
        self.d = torch.zeros(CAPACITY)
        self.len, self.pos, self.updates = 0, 0, 0
        self.rng = np.random.default_rng(seed)

    def push(self, s, a, r, s2, d):
        i = self.pos
        self.s[i], self.a[i], self.r[i], self.s2[i], self.d[i] = torch.as_tensor(s), a, r, torch.as_tensor(s2), d
        self.tree.set([i], [self.max_priority])
        self.pos, self.len = (i + 1) % CAPACITY, min(self.len + 1, CAPACITY)

    def update(self):
        slots = self.tree.sample_segments(BATCH, self.rng)
        beta = BETA_START + (1 - BETA_START) * min(1.0, self.updates / BETA_STEPS)
        w = torch.as_tensor(self.tree.weights(slots, beta), dtype=torch.float32)
        idx = torch.as_tensor(slots)
        batch = (self.s[idx], self.a[idx], self.r[idx], self.s2[idx], self.d[idx])
        _, td = learn(self.policy, self.target, self.opt, batch, w)
        priorities = (np.abs(td.numpy().astype(np.float64)) + EPS) ** ALPHA
        # A slot drawn twice keeps its last priority (as in dqn-rs).
        last = {int(slot): p for slot, p in zip(slots, priorities)}
        self.tree.set(np.fromiter(last.keys(), np.int64), np.fromiter(last.values(), np.float64))
        self.max_priority = max(self.max_priority, float(priorities.max()))
        self.updates += 1
        if self.updates % TARGET_EVERY == 0:
            self.target.load_state_dict(self.policy.state_dict())


def time_updates(args):
    agent = PrioritizedAgent(args.seed)
    rng = np.random.default_rng(args.seed)
    s = np.zeros(4, np.float32)
    for i in range(args.fill):  # a random walk in CartPole's ranges, as the Rust bench's buffer
        s2 = np.clip(s + rng.uniform(-0.05, 0.05, 4), -2, 2).astype(np.float32)
        agent.push(s, int(rng.integers(2)), 1.0, s2, float(i % 25 == 24))
        s = np.zeros(4, np.float32) if i % 25 == 24 else s2
    for _ in range(100):
        agent.update()
    reps = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        for _ in range(args.updates):
            agent.update()
        reps.append((time.perf_counter() - t0) * 1e6 / args.updates)
    return dict(mode="updates", us_per_update=statistics.median(reps), reps_us=reps, updates=args.updates,
                threads=torch.get_num_threads(), torch=torch.__version__)


def self_test():
    """The tree against a prefix-sum search, with updates, duplicates and rounding-free integers."""
    rng = np.random.default_rng(1)
    tree = PriorityTree(1000)
    naive = np.zeros(1000)
    for _ in range(50):
        slots = rng.integers(0, 1000, 64)
        p = rng.integers(1, 50, 64).astype(np.float64)
        last = {int(s): v for s, v in zip(slots, p)}
        tree.set(np.fromiter(last.keys(), np.int64), np.fromiter(last.values(), np.float64))
        for s_, v in last.items():
            naive[s_] = v
        assert tree.sums[1] == naive.sum() and tree.mins[1] == naive[naive > 0].min()
        mass = np.floor(rng.random(64) * naive.sum()) + 0.5
        assert (tree.find(mass) == np.searchsorted(np.cumsum(naive), mass, side="right")).all()
    print(json.dumps(dict(self_test="ok")))


def from_golden(t):
    a = np.array([int(b, 16) for b in t["u32"]], dtype=np.uint32).view(np.float32)
    return torch.from_numpy(a.reshape(t["shape"]).copy())


def check(path):
    case = json.load(open(path))
    policy, target = QNet(case["hidden"]), QNet(case["hidden"])
    for net, key in [(policy, "policy_init"), (target, "target")]:
        net.load_state_dict({k: from_golden(v) for k, v in case[key].items()})
    b = case["batch"]
    batch = (from_golden(b["states"]), torch.tensor(b["actions"]), from_golden(b["rewards"]),
             from_golden(b["next_states"]), from_golden(b["dones"]))
    opt = torch.optim.Adam(policy.parameters(), lr=LR)
    loss, td = learn(policy, target, opt, batch, from_golden(b["weights"]))
    close = lambda x, ref, rtol, atol: bool(torch.all((x - ref).abs() <= rtol * ref.abs() + atol))
    results = {
        "loss": close(loss.reshape(1), from_golden(case["forward"]["loss"]), 1e-5, 1e-6),
        "td_error": close(td, from_golden(case["forward"]["td_error"]), 1e-5, 1e-6),
        "grads_clamped": all(close(dict(policy.named_parameters())[n].grad, from_golden(g), 1e-4, 1e-6)
                             for n, g in case["grads_clamped"].items()),
        "params_after_step_1": all(close(dict(policy.named_parameters())[n].detach(), from_golden(p), 1e-5, 1e-6)
                                   for n, p in case["adam"]["0.0001"]["after_step"]["1"]["params"].items()),
    }
    print(json.dumps(dict(check=path, **results)))
    if not all(results.values()):
        raise SystemExit(f"{path}: the peer's update differs from the golden case: {results}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--updates", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--fill", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", default=None, help="a golden case with batch.weights: compare instead of timing")
    ap.add_argument("--self-test", action="store_true", help="check the priority tree against a prefix-sum search")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.self_test:
        self_test()
        return
    if args.check:
        check(args.check)
        return
    out = time_updates(args)
    print(json.dumps(out))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f)


if __name__ == "__main__":
    main()
