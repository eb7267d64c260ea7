"""Writes the MLP / DQN-update golden vectors in tests/golden/ from real PyTorch.

Run in a venv with torch installed (e.g. made by ../shared/anchors/setup.sh):

    /tmp/dqn-anchor-venv/bin/python crates/mlp/tests/generate_golden.py

For each case: a policy net and a fixed target net, Linear(4→H), ReLU,
Linear(H→H), ReLU, Linear(H→2) in float32 with PyTorch's default init; one
batch of transitions; the forward values, the Bellman targets, the MSE loss,
every gradient before and after clamping to [-1, 1]; then from the same
start, 10 steps of zero-grad → loss → backward → clamp → Adam at lr 1e-4 and
1e-2, recording the parameters after steps 1, 2 and 10. Format:
../shared/golden-format.md. Cases named `*_weighted` add per-row loss weights
(`batch.weights`, prioritized replay's importance weights, max 1): their loss
is mean(w·(q_sa − y)²), and `forward.td_error` records q_sa − y.
"""
import json
import os

import numpy as np
import torch
from torch import nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
GAMMA = 0.95
NAMES = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]


class QNet(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.fc1 = nn.Linear(4, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, 2)

    def forward(self, x):
        h1 = torch.relu(self.fc1(x))
        h2 = torch.relu(self.fc2(h1))
        return self.fc3(h2), h1, h2


def tensor(t):
    a = t.detach().to(torch.float32).contiguous().numpy()
    out = {"u32": [format(int(b), "08x") for b in a.reshape(-1).view(np.uint32)]}
    if a.size <= 256:  # decimals for people reading; large tensors keep only bits
        out["repr"] = [repr(float(v)) for v in a.reshape(-1)]
    out["shape"] = list(a.shape) if a.ndim > 0 else [1]
    return out


def state_dict(net):
    sd = net.state_dict()
    return {k: tensor(sd[k]) for k in NAMES}


def make_weights(gen, batch_size):
    """Importance weights as prioritized replay makes them: in (0, 1], the largest 1."""
    w = torch.rand(batch_size, generator=gen) * 0.95 + 0.05
    return (w / w.max()).to(torch.float32)


def make_batch(gen, batch_size, reward_scale):
    scale = torch.tensor([1.0, 1.5, 0.1, 1.5])
    states = torch.randn(batch_size, 4, generator=gen) * scale
    next_states = states + torch.randn(batch_size, 4, generator=gen) * 0.05
    actions = torch.randint(0, 2, (batch_size,), generator=gen)
    rewards = torch.ones(batch_size) if reward_scale == 1.0 else torch.randn(batch_size, generator=gen) * reward_scale
    dones = (torch.rand(batch_size, generator=gen) < 0.2).to(torch.float32)
    return states, actions, rewards.to(torch.float32), next_states, dones


def loss_of(policy, target, batch, weights=None):
    states, actions, rewards, next_states, dones = batch
    q, h1, h2 = policy(states)
    q_sa = q.gather(1, actions.unsqueeze(1)).squeeze(1)
    with torch.no_grad():
        tq, _, _ = target(next_states)
        tmax = tq.max(1).values
        y = rewards + (GAMMA * tmax) * (1 - dones)
    if weights is None:
        loss = nn.functional.mse_loss(q_sa, y)
    else:
        loss = (weights * (q_sa - y) ** 2).mean()
    return loss, dict(policy_h1_relu=h1, policy_h2_relu=h2, policy_q=q, q_sa=q_sa,
                      target_q_next_all=tq, target_q_next_max=tmax, y=y, td_error=q_sa - y)


def case(name, hidden, batch_size, seed, reward_scale, moments, weighted=False):
    torch.manual_seed(seed)
    policy, target = QNet(hidden), QNet(hidden)
    gen = torch.Generator().manual_seed(seed + 1000)
    batch = make_batch(gen, batch_size, reward_scale)
    weights = make_weights(gen, batch_size) if weighted else None
    init = {k: v.clone() for k, v in policy.state_dict().items()}

    policy.zero_grad()
    loss, fwd = loss_of(policy, target, batch, weights)
    loss.backward()
    grads_raw = {n: tensor(dict(policy.named_parameters())[n].grad) for n in NAMES}
    grads_clamped = {n: tensor(dict(policy.named_parameters())[n].grad.clamp(-1, 1)) for n in NAMES}

    adam = {}
    for lr in [1e-4, 1e-2]:
        policy.load_state_dict(init)
        opt = torch.optim.Adam(policy.parameters(), lr=lr)
        losses, after = [], {}
        for step in range(1, 11):
            opt.zero_grad()
            loss_t, _ = loss_of(policy, target, batch, weights)
            losses.append(tensor(loss_t.detach().reshape(1)))
            loss_t.backward()
            for p in policy.parameters():
                p.grad.data.clamp_(-1, 1)
            opt.step()
            if step in (1, 2, 10):
                entry = {"params": state_dict(policy)}
                if moments:
                    params = dict(policy.named_parameters())
                    entry["exp_avg"] = {n: tensor(opt.state[params[n]]["exp_avg"]) for n in NAMES}
                    entry["exp_avg_sq"] = {n: tensor(opt.state[params[n]]["exp_avg_sq"]) for n in NAMES}
                after[str(step)] = entry
        adam[repr(lr) if lr != 1e-4 else "0.0001"] = {
            "lr": lr, "betas": [0.9, 0.999], "eps": 1e-8,
            "loss_before_each_step": losses, "after_step": after}
    policy.load_state_dict(init)

    states, actions, rewards, next_states, dones = batch
    batch_doc = {"states": tensor(states), "actions": [int(a) for a in actions], "rewards": tensor(rewards),
                 "next_states": tensor(next_states), "dones": tensor(dones)}
    if weights is not None:
        batch_doc["weights"] = tensor(weights)
    return {
        "torch_version": torch.__version__, "name": name, "hidden": hidden, "batch_size": batch_size,
        "gamma": GAMMA,
        "policy_init": state_dict(policy), "target": state_dict(target),
        "batch": batch_doc,
        "forward": {k: tensor(v) for k, v in fwd.items()} | {"loss": tensor(loss.detach().reshape(1))},
        "grads_raw": grads_raw, "grads_clamped": grads_clamped, "adam": adam,
    }


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    cases = [
        ("small_h8_b16_unit_rewards", 8, 16, 1, 1.0, True),
        ("small_h8_b16_large_rewards", 8, 16, 2, 20.0, True),
        ("seed_h128_b64_unit_rewards", 128, 64, 3, 1.0, False),
        ("seed_h128_b64_large_rewards", 128, 64, 4, 20.0, False),
    ]
    weighted = [
        ("small_h8_b16_large_rewards_weighted", 8, 16, 5, 20.0, True),
        ("seed_h128_b64_unit_rewards_weighted", 128, 64, 6, 1.0, False),
    ]
    for name, hidden, b, seed, rs, moments, *w in [c + (False,) for c in cases] + [c + (True,) for c in weighted]:
        doc = case(name, hidden, b, seed, rs, moments, weighted=w[0])
        n_clamped = sum(int(u != v) for n in NAMES
                        for u, v in zip(doc["grads_raw"][n]["u32"], doc["grads_clamped"][n]["u32"]))
        print(f"{name}: loss {doc['forward']['loss']['repr'][0]}, {n_clamped} gradient entries clamped")
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.write("\n")


if __name__ == "__main__":
    main()
