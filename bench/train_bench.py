"""Time to reach each task's target: our trainer vs Stable-Baselines3 A2C, plus the seed's loop speed.

    python bench/train_bench.py [--seeds 0-4] [--tasks 4x4,...,cartpole,acrobot] [--sb3-seeds 0-4]
                                [--sb3-tasks 4x4,taxi,cliff,cartpole,acrobot] [--sb3-cap 60]
                                [--sb3-box-cap 300] [--write]

Times are wall seconds from the start of training (imports excluded; model building and
every evaluation included) until the target is met. Tabular tasks (FrozenLake, Taxi,
CliffWalking) are checked with the exact evaluation of the greedy policy (ours at every
evaluation, SB3's every 1,000 steps); Box tasks (CartPole, Acrobot) with the same
protocol for both: 20 seeded greedy episodes every ~10k steps, and when their mean reaches
the target, 100 seeded episodes (seeds 1,000,000-1,000,099) that must reach it too.
SB3 A2C runs with its defaults on `gymnasium.make` for FrozenLake (as before), and with
n_envs 8, otherwise defaults (rl-zoo's setting), on the other tasks, capped in wall time.
Needs the `bench` extra (torch 2.13, the CPU build); without it the SB3 columns are skipped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.markdown import replace_section  # noqa: E402
from trainer.a2c import train  # noqa: E402
from trainer.config import Hyperparameters  # noqa: E402
from trainer.evaluation import metric_of, monte_carlo_returns, one_hot, success_probability  # noqa: E402
from trainer.tasks.frozenlake import LakeSpec  # noqa: E402
from trainer.tasks.registry import create_task  # noqa: E402
from trainer.tasks.box import SCREEN_EPISODES  # noqa: E402

# name -> (task, how the target reads, its check on our evaluation, time limit for us or None = half SB3's)
TASKS = {
    "4x4": (lambda: LakeSpec.create("4x4").task(), "success 1.0", 1.0, None),
    "4x4-slippery": (lambda: LakeSpec.create("4x4", is_slippery=True).task(), "success 0.725", 0.725, 10.0),
    "8x8": (lambda: LakeSpec.create("8x8").task(), "success 1.0", 1.0, 10.0),
    "8x8-slippery": (lambda: LakeSpec.create("8x8", is_slippery=True).task(), "success 0.86", 0.86, 60.0),
    "taxi": (lambda: create_task("Taxi-v4"), "return >= 98% of optimum", 0.98, 30.0),
    "cliff": (lambda: create_task("CliffWalking-v1"), "optimal return", 1.0, 10.0),
    "cartpole": (lambda: create_task("CartPole-v1"), "mean return >= 475 (100 ep.)", None, None),
    "acrobot": (lambda: create_task("Acrobot-v1"), "mean return >= -100 (100 ep.)", None, None),
}
LAKES = ("4x4", "4x4-slippery", "8x8", "8x8-slippery")
BOX = ("cartpole", "acrobot")


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",") if s]


def tabular_threshold(task, name: str, level: float) -> float:
    """Returns the exact greedy metric that counts as reaching the target."""
    optimum = task.optimum[0]
    if name in LAKES:
        return level
    return optimum - (1.0 - level) * abs(optimum)


def run_ours(task, name: str, level: float | None, seed: int) -> dict:
    if name in BOX:
        hp = dataclasses.replace(task.hyperparameters, budget=3_000_000)
        result = train(task, hp, seed=seed)
        reached = result.stopped_because == "target"
    else:
        # The measure is the greedy policy's exact figure, so the sampled condition is off.
        fraction = min(level / task.optimum[0], 1.0) - 1e-9 if name in LAKES else level
        hp = dataclasses.replace(task.hyperparameters, target=fraction, sampled_target=0.0, budget=10_000_000)
        result = train(task, hp, seed=seed)
        reached = result.evaluation.value >= tabular_threshold(task, name, level) - 1e-9
    return {"seed": seed, "reached": reached, "seconds": result.seconds,
            "value": result.evaluation.value, "env_steps": result.env_steps}


def run_sb3(task, name: str, level: float | None, seed: int, cap_seconds: float) -> dict:
    import gymnasium as gym
    from stable_baselines3 import A2C
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    box = name in BOX
    every = 10_000 if box else 1_000

    def greedy_probabilities(observations):
        actions, _ = model.predict(observations, deterministic=True)
        return one_hot(actions, task.n_actions)

    def evaluate() -> tuple[float, bool]:
        if box:
            screen = monte_carlo_returns(screen_envs, greedy_probabilities, task.distribution, True, rng).mean()
            if screen < task.target_return:
                return screen, False
            full = monte_carlo_returns(full_envs, greedy_probabilities, task.distribution, True, rng).mean()
            return full, full >= task.target_return
        actions = greedy_probabilities(np.arange(task.table.n_states)).argmax(axis=1)
        if name in LAKES:
            value = success_probability(task.table, actions, task.max_episode_steps)
        else:
            value = metric_of(task.table, one_hot(actions, task.n_actions), task.max_episode_steps, task.metric)
        return value, value >= tabular_threshold(task, name, level) - 1e-9

    class Target(BaseCallback):
        def __init__(self):
            super().__init__()
            self.started, self.best, self.reached_at, self.next_check = time.perf_counter(), -np.inf, None, every

        def _on_step(self) -> bool:
            if self.num_timesteps < self.next_check:
                return True
            self.next_check += every
            value, reached = evaluate()
            self.best = max(self.best, value)
            if reached:
                self.reached_at = time.perf_counter() - self.started
                return False
            return time.perf_counter() - self.started < cap_seconds

    rng = np.random.default_rng(0)
    if box:
        screen_envs, full_envs = task.make_vec(SCREEN_EPISODES), task.make_vec(100)
        env = make_vec_env(task.env_id, n_envs=8, seed=seed)
        model = A2C("MlpPolicy", env, seed=seed, device="cpu")
    elif name in LAKES:
        model = A2C("MlpPolicy", task.make_env(), seed=seed, device="cpu")
    else:
        env = make_vec_env(lambda: gym.make(task.env_id, max_episode_steps=task.max_episode_steps), n_envs=8, seed=seed)
        model = A2C("MlpPolicy", env, seed=seed, device="cpu")
    callback = Target()
    callback.started = time.perf_counter()  # measured from the start of learning, like ours
    model.learn(total_timesteps=50_000_000, callback=callback)
    return {"seed": seed, "reached": callback.reached_at is not None,
            "seconds": callback.reached_at or time.perf_counter() - callback.started,
            "value": callback.best, "env_steps": int(model.num_timesteps)}


def summary(runs: list[dict]) -> str:
    reached = [r for r in runs if r["reached"]]
    if not reached:
        best = max(r["value"] for r in runs)
        return f"0/{len(runs)} (best {best:.3f} after {max(r['seconds'] for r in runs):.0f} s)"
    times = sorted(r["seconds"] for r in reached)
    return f"{len(reached)}/{len(runs)}: median {statistics.median(times):.1f} s, max {times[-1]:.1f} s"


def throughput_rows(seconds: float) -> list[str]:
    from bench.seed_loop import env_steps_per_second

    seed_steps, seed_seconds = env_steps_per_second(seconds)
    ours = train(LakeSpec.create("4x4").task(), Hyperparameters(target=2.0, budget=300_000), seed=0)  # never stops early
    seed_rate, our_rate = seed_steps / seed_seconds, ours.env_steps / ours.seconds
    return [
        "| loop (4x4, fixed budget) | env steps | seconds | env steps/s |",
        "|---|---|---|---|",
        f"| seed notebook (eager, one model call per step) | {seed_steps:,} | {seed_seconds:.1f} | {seed_rate:,.0f} |",
        f"| this trainer (compiled, 32 lakes, one policy lookup per rollout) | {ours.env_steps:,} "
        f"| {ours.seconds:.1f} | {our_rate:,.0f} |",
        f"| **ratio** | | | **{our_rate / seed_rate:,.0f}x** |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--sb3-seeds", default="0-4", help="Seeds for SB3 ('' to skip SB3).")
    parser.add_argument("--sb3-tasks", default="4x4,taxi,cliff,cartpole,acrobot", help="Tasks SB3 runs on.")
    parser.add_argument("--sb3-cap", type=float, default=60.0, help="Wall-second cap per SB3 run on tabular tasks.")
    parser.add_argument("--sb3-box-cap", type=float, default=300.0, help="Wall-second cap per SB3 run on Box tasks.")
    parser.add_argument("--seed-loop-seconds", type=float, default=20.0)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    try:
        import stable_baselines3  # noqa: F401
        have_sb3 = bool(args.sb3_seeds)
    except ImportError:
        print("stable-baselines3 is not installed: SB3 columns skipped (pip install torch==2.13.0 stable-baselines3)")
        have_sb3 = False

    results = {}
    rows = ["| task | target | this trainer: seeds reaching it, time | our target | met | SB3 A2C |",
            "|---|---|---|---|---|---|"]
    per_seed = ["| task | seed | seconds | env steps | final greedy value |", "|---|---|---|---|---|"]
    for name in args.tasks.split(","):
        make, description, level, limit = TASKS[name]
        task = make()
        ours = [run_ours(task, name, level, seed) for seed in parse_seeds(args.seeds)]
        sb3 = []
        if have_sb3 and name in args.sb3_tasks.split(","):
            cap = args.sb3_box_cap if name in BOX else args.sb3_cap
            sb3 = [run_sb3(task, name, level, seed, cap) for seed in parse_seeds(args.sb3_seeds)]
        if limit is None:  # at most half of SB3's median time, measured now
            sb3_times = [r["seconds"] for r in sb3 if r["reached"]]
            limit = statistics.median(sb3_times) / 2 if sb3_times else None
        within = sum(r["reached"] and limit is not None and r["seconds"] <= limit for r in ours)
        met = "yes" if within >= min(4, len(ours)) else "NO"
        target = f">= 4 of 5 within {limit:.1f} s" if limit else "n/a (no SB3 time)"
        rows.append(f"| {name} | {description} | {summary(ours)} | {target} | {met} ({within}) "
                    f"| {summary(sb3) if sb3 else 'not run'} |")
        per_seed += [f"| {name} | {r['seed']} | {r['seconds']:.2f} | {r['env_steps']:,} | {r['value']:.3f} |"
                     for r in ours]
        results[name] = {"ours": ours, "sb3": sb3, "limit": limit}
        print(rows[-1], flush=True)

    throughput = throughput_rows(args.seed_loop_seconds)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "train_bench.json").write_text(json.dumps(results, indent=1))
    text = "\n".join([
        f"Command: `python bench/train_bench.py --seeds {args.seeds} --tasks {args.tasks} --sb3-seeds {args.sb3_seeds} "
        f"--sb3-tasks {args.sb3_tasks} --sb3-cap {args.sb3_cap:g} --sb3-box-cap {args.sb3_box_cap:g}` ({date.today()}). "
        "Seconds from the start of training to the target, every evaluation included; SB3 runs in the same "
        "command, capped. See the script's docstring for the evaluation protocol.",
        "", *rows, "", *throughput, "", "<details><summary>Per seed (this trainer)</summary>", "",
        *per_seed, "", "</details>",
    ])
    print(text)
    if args.write:
        replace_section(ROOT / "BENCHMARKS.md", "Training", text)


if __name__ == "__main__":
    main()
