#!/usr/bin/env python3
"""The DQN update of a convolutional Q-network: PyTorch or JAX (CPU), the peer of dqn-rs's conv nets.

Two networks, ReLU after every layer but the last, PyTorch's channel-major flatten between the
convolutions and the linear layers, 6 actions:
  minatar  4x10x10 (MinAtar Breakout's binary planes, uint8 0/1, scale 1.0): conv 16 3x3 s1 ->
           flatten 1024 -> 128 -> 6;
  nature   4x84x84 (uint8 frames, scale 1/255): conv 32 8x8 s4 -> conv 64 4x4 s2 -> conv 64 3x3 s1
           -> flatten 3136 -> 512 -> 6.
One update: B = 32 indices (with replacement) into a buffer of 10 000 transitions held as uint8
(states and next states separately, actions int64, rewards and dones float32); the sampled states
converted to float32 times the scale; y = r + 0.99 max_a Q_target(s', a) (1 - done) without gradient;
Q(s, a) of the policy; Huber loss (smooth_l1, delta 1, mean); backward; Adam (lr 1e-4, betas
0.9/0.999, eps 1e-8), no gradient clipping; a hard target copy every 1000 updates (counted).

The buffer is random (seeded numpy): uint8 planes 0/1 (minatar) or 0..255 (nature), actions 0..5,
rewards in {0, 1}, dones with probability 0.1 (what it holds does not change the cost). Each
framework is given its fastest ordinary form:
  torch  the buffer as tensors, indices from torch.randint, one Python call per update, eager
         mode with torch.optim.Adam's defaults (no torch.compile);
  jax    `--updates` updates inside one jitted lax.scan, sampling inside it (jax.random.randint
         from a key in the carry), NCHW/OIHW convolutions by lax.conv_general_dilated, optax.adam;
         the buffer is an argument of the jitted function (not a constant baked into it).
         `--jax-loop python` instead calls one jitted update per update (buffers donated): XLA:CPU
         (jaxlib 0.10.2) runs most convolutions and their gradients 5-30x slower inside a loop body
         (a while loop: scan, fori_loop) than at top level (jax-ml/jax#12868; the conv is not
         rewritten to its fast channel-last form there, NHWC inputs do not avoid it), so for the
         nature net the scan is the slow form, the Python loop the fast one.

  python conv_update.py --framework torch --threads 1 --nets minatar,nature --reps 3 --json out.json
Prints (and writes) JSON: {"framework", "version", "threads", "updates", "points": {"NET":
{"us_median", "us_min", "us_max", "reps", "flop_per_update"}}}, times per update in microseconds.
Reps are interleaved across points, one warm-up each. flop_per_update = 2 B (2 F + G): target and
policy forwards plus the policy's backward (weight gradients of every layer, input gradients of all
but the first), F and G the multiply-adds per sample of all layers and of all but the first. The
last loss of each net goes to stderr.
"""
import argparse
import json
import os
import statistics
import sys
import time

BATCH, CAPACITY, ACTIONS, GAMMA, LR, TARGET_EVERY = 32, 10_000, 6, 0.99, 1e-4, 1000
# input (C, H, W), values 0..high-1, scale, convolutions (out_channels, kernel, stride), hidden
NETS = dict(minatar=dict(shape=(4, 10, 10), high=2, scale=1.0, convs=[(16, 3, 1)], hidden=128),
            nature=dict(shape=(4, 84, 84), high=256, scale=1.0 / 255.0,
                        convs=[(32, 8, 4), (64, 4, 2), (64, 3, 1)], hidden=512))


def layers(net):
    """[("conv", cin, cout, k, stride) | ("linear", fan_in, fan_out)] and the MACs per sample of each."""
    c, h, w = net["shape"]
    out, macs = [], []
    for cout, k, s in net["convs"]:
        h, w = (h - k) // s + 1, (w - k) // s + 1
        out.append(("conv", c, cout, k, s))
        macs.append(cout * c * k * k * h * w)
        c = cout
    flat = c * h * w
    for fan_in, fan_out in ((flat, net["hidden"]), (net["hidden"], ACTIONS)):
        out.append(("linear", fan_in, fan_out))
        macs.append(fan_in * fan_out)
    return out, macs


def flop_per_update(net):
    _, macs = layers(net)
    return 2 * BATCH * (2 * sum(macs) + sum(macs[1:]))


def random_buffer(net, seed):
    import numpy as np
    rng = np.random.default_rng(seed)
    shape = (CAPACITY,) + net["shape"]
    return dict(s=rng.integers(0, net["high"], shape, dtype=np.uint8),
                s2=rng.integers(0, net["high"], shape, dtype=np.uint8),
                a=rng.integers(0, ACTIONS, CAPACITY).astype(np.int64),
                r=rng.integers(0, 2, CAPACITY).astype(np.float32),
                d=(rng.random(CAPACITY) < 0.1).astype(np.float32))


def torch_runner(net, buf, seed):
    import torch
    from torch import nn
    from torch.nn import functional as F
    torch.manual_seed(seed)

    def make():
        mods = []
        for kind, i, o, *ks in layers(net)[0]:
            if kind == "conv":
                mods += [nn.Conv2d(i, o, ks[0], stride=ks[1]), nn.ReLU()]
            else:
                if not any(isinstance(m, nn.Flatten) for m in mods):
                    mods.append(nn.Flatten())
                mods += [nn.Linear(i, o), nn.ReLU()]
        return nn.Sequential(*mods[:-1])

    policy, target = make(), make()
    target.load_state_dict(policy.state_dict())
    opt = torch.optim.Adam(policy.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8)
    t = {k: torch.from_numpy(v) for k, v in buf.items()}
    scale = net["scale"]
    state = dict(count=0, loss=None)

    def update():
        idx = torch.randint(0, CAPACITY, (BATCH,))
        s, s2 = t["s"][idx].float() * scale, t["s2"][idx].float() * scale
        with torch.no_grad():
            y = t["r"][idx] + GAMMA * target(s2).max(1).values * (1.0 - t["d"][idx])
        q = policy(s).gather(1, t["a"][idx].unsqueeze(1)).squeeze(1)
        loss = F.smooth_l1_loss(q, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        state["count"] += 1
        if state["count"] % TARGET_EVERY == 0:
            target.load_state_dict(policy.state_dict())
        state["loss"] = loss

    def run(updates):
        t0 = time.perf_counter()
        for _ in range(updates):
            update()
        return time.perf_counter() - t0

    return run, lambda: float(state["loss"].item())


def jax_runner(net, buf, seed, updates, loop):
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    def init(key):
        """torch's default init: W and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)); conv weights OIHW,
        linear weights (in, out)."""
        params = []
        for kind, i, o, *ks in layers(net)[0]:
            key, kw, kb = jax.random.split(key, 3)
            fan_in, shape = (i * ks[0] * ks[0], (o, i, ks[0], ks[0])) if kind == "conv" else (i, (i, o))
            bound = 1.0 / np.sqrt(fan_in)
            params.append(dict(w=jax.random.uniform(kw, shape, jnp.float32, -bound, bound),
                               b=jax.random.uniform(kb, (o,), jnp.float32, -bound, bound)))
        return params

    spec = layers(net)[0]

    def forward(params, x):
        h = x
        for n, ((kind, *_, stride), p) in enumerate(zip(spec, params)):
            if kind == "conv":
                h = jax.lax.conv_general_dilated(h, p["w"], (stride, stride), "VALID",
                                                 dimension_numbers=("NCHW", "OIHW", "NCHW"))
                h = h + p["b"][None, :, None, None]
            else:
                h = h.reshape(h.shape[0], -1) @ p["w"] + p["b"]  # channel-major, as torch's flatten
            if n < len(spec) - 1:
                h = jax.nn.relu(h)
        return h

    scale = jnp.float32(net["scale"])

    def loss_fn(params, target, s, a, r, s2, d):
        y = jax.lax.stop_gradient(r + GAMMA * jnp.max(forward(target, s2), axis=1) * (1.0 - d))
        q = jnp.take_along_axis(forward(params, s), a[:, None], axis=1)[:, 0]
        return jnp.mean(optax.huber_loss(q, y, delta=1.0))

    grad_fn = jax.value_and_grad(loss_fn)
    opt = optax.adam(LR, b1=0.9, b2=0.999, eps=1e-8)
    params = init(jax.random.PRNGKey(seed))
    agent = dict(params=params, target=jax.tree.map(jnp.copy, params), opt_state=opt.init(params),
                 count=jnp.int32(0))
    dev = {k: jnp.asarray(v if k != "a" else v.astype("int32")) for k, v in buf.items()}

    def step(agent, key, dev):
        key, k = jax.random.split(key)
        idx = jax.random.randint(k, (BATCH,), 0, CAPACITY, dtype=jnp.int32)
        s = dev["s"][idx].astype(jnp.float32) * scale
        s2 = dev["s2"][idx].astype(jnp.float32) * scale
        loss, grads = grad_fn(agent["params"], agent["target"], s, dev["a"][idx], dev["r"][idx], s2,
                              dev["d"][idx])
        upd, opt_state = opt.update(grads, agent["opt_state"], agent["params"])
        params = optax.apply_updates(agent["params"], upd)
        count = agent["count"] + 1
        target = jax.lax.cond(count % TARGET_EVERY == 0, lambda: params, lambda: agent["target"])
        return dict(params=params, target=target, opt_state=opt_state, count=count), key, loss

    @jax.jit
    def many(agent, key, dev):
        def body(carry, _):
            agent, key, loss = step(*carry, dev)
            return (agent, key), loss
        (agent, key), losses = jax.lax.scan(body, (agent, key), None, length=updates)
        return agent, key, losses

    one = jax.jit(step, donate_argnums=0)
    state = dict(agent=agent, key=jax.random.PRNGKey(seed + 1), losses=None)

    def run(n):
        t0 = time.perf_counter()
        if loop == "scan":  # always `updates` updates: the scan's length is compiled in
            agent, key, losses = many(state["agent"], state["key"], dev)
        else:
            agent, key = state["agent"], state["key"]
            for _ in range(n):
                agent, key, losses = one(agent, key, dev)
        jax.block_until_ready(losses)
        state["agent"], state["key"], state["losses"] = agent, key, losses
        return time.perf_counter() - t0

    return run, lambda: float(jnp.ravel(state["losses"])[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--framework", choices=["torch", "jax"], required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--nets", default="minatar,nature", help="NET,... of " + ",".join(NETS))
    ap.add_argument("--updates", type=int, default=200, help="updates per rep")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--jax-loop", choices=["scan", "python"], default="scan",
                    help="jax: all updates in one jitted lax.scan, or one jitted call per update")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--anchors", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "..", "..", "..", "shared", "anchors"))
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    nets = args.nets.split(",")
    for name in nets:
        if name not in NETS:
            ap.error(f"unknown net {name!r}: one of {', '.join(NETS)}")
    if args.framework == "torch":
        import torch
        torch.set_num_threads(args.threads)
        version = torch.__version__
        runners = {n: torch_runner(NETS[n], random_buffer(NETS[n], args.seed), args.seed) for n in nets}
    else:
        sys.path.insert(0, os.path.join(args.anchors, "jax"))
        import benchutil  # sets XLA's threads and the affinity before jax is imported
        benchutil.configure_threads(args.threads)
        import jax
        version = jax.__version__
        runners = {n: jax_runner(NETS[n], random_buffer(NETS[n], args.seed), args.seed, args.updates,
                                      args.jax_loop)
                   for n in nets}
    for run, _ in runners.values():  # warm-up: compilation, allocator, caches
        run(max(args.updates // 10, 1))
    times = {n: [] for n in nets}
    for _ in range(args.reps):
        for n in nets:
            times[n].append(runners[n][0](args.updates) * 1e6 / args.updates)
    for n in nets:
        print(f"{n}: last loss {runners[n][1]():.6g}", file=sys.stderr)
    out = dict(framework=args.framework, version=version, threads=args.threads, updates=args.updates,
               **(dict(jax_loop=args.jax_loop) if args.framework == "jax" else {}),
               points={n: dict(us_median=statistics.median(t), us_min=min(t), us_max=max(t), reps=len(t),
                               flop_per_update=flop_per_update(NETS[n])) for n, t in times.items()})
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
