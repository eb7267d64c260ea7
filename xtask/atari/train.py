#!/usr/bin/env python3
"""A long Atari run with dqn_rs, resumable: trains in chunks, saving the whole
run (replay, optimizer, RNGs, the game in progress) after each, so a run
stopped anywhere (Ctrl-C, SIGTERM, the end of a session, a crash) goes on
from its last save when started again with the same folder, to the same
numbers as a run never stopped.

  python xtask/atari/train.py --game Pong --config presets/atari/cleanrl-dqn.ron \\
      --steps 2500000 --out runs/atari-pong-seed1 --seed 1

Writes into --out: model.zip (the run, after each chunk), games.csv (each
finished game: the agent steps when it ended, its unclipped return, its
length in emulator frames, the wall seconds of the run so far), run.json
(the arguments, to refuse a resume with others) and, at the end,
summary.json. Needs dqn_rs with the atari extra.
"""

import argparse
import csv
import json
import os
import pathlib
import signal
import sys
import time

from dqn_rs import DQN, make_atari_env

GAMES_HEADER = ["steps", "return", "frames", "wall_seconds"]


def stop_on_term(signum, frame):
    raise KeyboardInterrupt


def read_games(path, upto):
    """The games of a saved run: rows ended by step `upto` (rows logged after
    the last save are redone by the resumed run)."""
    if not path.exists():
        return []
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return [r for r in rows if int(r["steps"]) <= upto]


def write_games(path, rows):
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=GAMES_HEADER)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--game", required=True)
    p.add_argument("--protocol", default="cleanrl")
    p.add_argument("--config", required=True, help="a RON configuration (presets/atari/...)")
    p.add_argument("--steps", type=int, required=True, help="agent steps in all")
    p.add_argument("--chunk", type=int, default=50_000, help="agent steps between saves")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--stop-after-chunks", type=int, default=None,
                   help="stop as SIGTERM would after this many saves (tests of resuming)")
    a = p.parse_args()
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    args = {k: v for k, v in vars(a).items() if k not in ("out", "chunk", "stop_after_chunks")}
    args["config_text"] = pathlib.Path(a.config).read_text()
    run_json, model_zip, games_csv = out / "run.json", out / "model.zip", out / "games.csv"
    if run_json.exists():
        before = json.loads(run_json.read_text())
        if before != args:
            changed = sorted(k for k in set(before) | set(args) if before.get(k) != args.get(k))
            sys.exit(f"{out}: a run with other settings is there ({', '.join(changed)} differ); give another --out")
    else:
        run_json.write_text(json.dumps(args, indent=1) + "\n")

    # SIGTERM (Slurm's time limit, a session's end) stops at the next step,
    # as Ctrl-C does; the chunk in progress is redone from the last save.
    signal.signal(signal.SIGTERM, stop_on_term)

    if model_zip.exists():
        model = DQN.load(model_zip, env=make_atari_env(a.game, a.protocol))
        wall_before = float(json.loads((out / "wall.json").read_text())["wall_seconds"]) if (out / "wall.json").exists() else 0.0
        print(f"resumed at step {model.num_timesteps} of {a.steps}", file=sys.stderr)
    else:
        model = DQN("CnnPolicy", make_atari_env(a.game, a.protocol), config=a.config, seed=a.seed,
                    stats_window_size=100_000)
        wall_before = 0.0
    games = read_games(games_csv, model.num_timesteps)
    seen = model._episode_num
    start = time.perf_counter()

    def wall():
        return wall_before + time.perf_counter() - start

    def record(locals_, globals_):
        nonlocal seen
        m = locals_["self"]
        new = m._episode_num - seen
        if new > 0:
            for e in list(m.ep_info_buffer)[-new:]:
                games.append({"steps": m.num_timesteps, "return": e["r"], "frames": e["l"], "wall_seconds": f"{wall():.1f}"})
            seen = m._episode_num
        return m.num_timesteps < stop_at

    chunks = 0
    try:
        while model.num_timesteps < a.steps:
            if a.stop_after_chunks is not None and chunks == a.stop_after_chunks:
                raise KeyboardInterrupt
            stop_at = min(a.steps, model.num_timesteps + a.chunk)
            first = model._schedule_steps is None
            model.learn(a.steps if first else a.steps - model.num_timesteps, callback=record,
                        reset_num_timesteps=first, log_interval=0)
            write_games(games_csv, games)
            model.save(model_zip)
            (out / "wall.json").write_text(json.dumps({"wall_seconds": wall(), "steps": model.num_timesteps}) + "\n")
            recent = [float(g["return"]) for g in games[-20:]]
            mean = sum(recent) / len(recent) if recent else float("nan")
            print(f"step {model.num_timesteps}: {len(games)} games, last 20 mean {mean:.2f}, {wall():.0f} s",
                  file=sys.stderr, flush=True)
            chunks += 1
    except KeyboardInterrupt:
        print(f"stopped at step {model.num_timesteps}; the same command resumes from the last save", file=sys.stderr)
        sys.exit(130)
    recent = [float(g["return"]) for g in games[-20:]]
    summary = {
        "game": a.game,
        "protocol": a.protocol,
        "steps": model.num_timesteps,
        "frames": 4 * model.num_timesteps,
        "games": len(games),
        "last_20_mean_return": sum(recent) / len(recent) if recent else None,
        "wall_seconds": wall(),
        "updates": model.n_updates,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
