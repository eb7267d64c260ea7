#!/usr/bin/env python3
"""The DQN update of the seed at other network sizes: PyTorch or JAX, for `cargo xtask bench`'s grid.

One update as the seed's `agent.update()` does it, with the network 4 -> H -> H -> 2 and a batch of
B: sample B transitions from a buffer of 10 000, the target network on the next states, Bellman
targets (gamma 0.95, terminated mask), MSE on the taken actions, backward, every gradient clamped
to [-1, 1], Adam (lr 1e-4, PyTorch's defaults), a hard target copy every 4 updates.

The buffer is a random walk in CartPole's observation ranges (what it holds does not change the
cost). Each framework is given its fastest ordinary form, so the ratios are not flattered:
  torch  the buffer as tensors, indices from torch.randint (with replacement: cheaper than the
         seed's random.sample over a deque), one Python call per update;
  jax    `--updates` updates inside one jitted lax.scan, sampling inside it (Floyd's algorithm,
         without replacement, from ../shared/anchors/jax/dqn_core.py), the anchor's own update
         (optax clip + adam) -- the variant that is fastest in `jax_update.py`.

  python update_grid.py --framework torch --threads 1 --points 64x32,128x64 --json out.json
Prints (and writes) JSON: {"framework", "version", "threads", "points": {"HxB": {"us_median",
"us_min", "us_max", "reps"}}}. Reps are interleaved across points, one warm-up each.
"""
import argparse
import json
import os
import statistics
import sys
import time


def parse_points(text):
    points = []
    for item in text.split(","):
        hidden, batch = item.lower().split("x")
        points.append((int(hidden), int(batch)))
    return points


def random_walk_buffer(n, seed):
    import numpy as np
    rng = np.random.default_rng(seed)
    s = np.clip(np.cumsum(rng.uniform(-0.05, 0.05, (n + 1, 4)), axis=0), -2.0, 2.0).astype(np.float32)
    return dict(s=s[:-1], a=rng.integers(0, 2, n).astype(np.int64), r=np.ones(n, np.float32),
                s2=s[1:], d=(np.arange(n) % 25 == 24).astype(np.float32))


def torch_runner(hidden, batch, buf, seed):
    import torch
    from torch import nn
    torch.manual_seed(seed)

    def net():
        return nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                             nn.Linear(hidden, 2))

    policy, target = net(), net()
    target.load_state_dict(policy.state_dict())
    opt = torch.optim.Adam(policy.parameters(), lr=1e-4)
    s, a, r = torch.from_numpy(buf["s"]), torch.from_numpy(buf["a"]), torch.from_numpy(buf["r"])
    s2, d = torch.from_numpy(buf["s2"]), torch.from_numpy(buf["d"])
    n = s.shape[0]
    loss_fn = nn.MSELoss()
    count = [0]

    def update():
        idx = torch.randint(0, n, (batch,))
        q = policy(s[idx]).gather(1, a[idx].unsqueeze(1))
        with torch.no_grad():
            y = r[idx] + 0.95 * target(s2[idx]).max(1)[0] * (1.0 - d[idx])
        loss = loss_fn(q, y.unsqueeze(1))
        opt.zero_grad()
        loss.backward()
        for p in policy.parameters():
            p.grad.data.clamp_(-1, 1)
        opt.step()
        count[0] += 1
        if count[0] % 4 == 0:
            target.load_state_dict(policy.state_dict())

    def run(updates):
        t0 = time.perf_counter()
        for _ in range(updates):
            update()
        return time.perf_counter() - t0

    return run


def jax_runner(hidden, batch, buf, seed, updates):
    import jax
    import jax.numpy as jnp
    from dqn_core import init_mlp, make_learn, make_optimizer, sample_floyd
    opt = make_optimizer()
    learn = make_learn(opt)
    params = init_mlp(jax.random.PRNGKey(seed), (4, hidden, hidden, 2))
    agent = dict(params=params, target=jax.tree.map(jnp.copy, params), opt_state=opt.init(params),
                 count=jnp.int32(0))
    dev = {k: jnp.asarray(v if k != "a" else v.astype("int32")) for k, v in buf.items()}
    n = buf["s"].shape[0]

    @jax.jit
    def many(agent, key):
        def body(carry, _):
            agent, key = carry
            key, k = jax.random.split(key)
            idx = sample_floyd(k, n, batch)
            sample = (dev["s"][idx], dev["a"][idx], dev["r"][idx], dev["s2"][idx], dev["d"][idx])
            agent, (loss, _) = learn(agent, sample)
            return (agent, key), loss
        (agent, key), losses = jax.lax.scan(body, (agent, key), None, length=updates)
        return agent, key, losses

    state = dict(agent=agent, key=jax.random.PRNGKey(seed + 1))

    def run(_updates):
        t0 = time.perf_counter()
        agent, key, losses = many(state["agent"], state["key"])
        jax.block_until_ready(losses)
        state["agent"], state["key"] = agent, key
        return time.perf_counter() - t0

    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--framework", choices=["torch", "jax"], required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--points", default="64x32,64x64,64x128,64x256,128x32,128x64,128x128,128x256,"
                                         "256x32,256x64,256x128,256x256", help="HIDDENxBATCH,...")
    ap.add_argument("--updates", type=int, default=300, help="updates per rep")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--anchors", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "..", "..", "..", "shared", "anchors"))
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    points = parse_points(args.points)
    buf = random_walk_buffer(10_000, args.seed)
    if args.framework == "torch":
        import torch
        torch.set_num_threads(args.threads)
        version = torch.__version__
        runners = {p: torch_runner(p[0], p[1], buf, args.seed) for p in points}
    else:
        sys.path.insert(0, os.path.join(args.anchors, "jax"))
        import benchutil  # sets XLA's threads and the affinity before jax is imported
        benchutil.configure_threads(args.threads)
        import jax
        version = jax.__version__
        runners = {p: jax_runner(p[0], p[1], buf, args.seed, args.updates) for p in points}
    for run in runners.values():  # warm-up: compilation, allocator, caches
        run(max(args.updates // 10, 1))
    times = {p: [] for p in points}
    for _ in range(args.reps):
        for p in points:
            times[p].append(runners[p](args.updates) * 1e6 / args.updates)
    out = dict(framework=args.framework, version=version, threads=args.threads, updates=args.updates,
               points={f"{h}x{b}": dict(us_median=statistics.median(t), us_min=min(t), us_max=max(t),
                                        reps=len(t)) for (h, b), t in times.items()})
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
