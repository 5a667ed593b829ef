"""Time to solve each lake: our trainer vs Stable-Baselines3 A2C, plus the seed's loop speed.

    python bench/train_bench.py [--seeds 0-4] [--lakes 4x4,4x4-slippery,8x8,8x8-slippery]
                                [--sb3-seeds 0-4] [--sb3-cap 60] [--write]

Times are wall seconds from the start of training (imports excluded; model building
included) until the greedy policy's exact success reaches the issue's threshold. SB3 A2C
runs with its defaults (`A2C("MlpPolicy", env)`) on `gymnasium.make` with the same
kwargs, checked with the same exact evaluation every 1,000 steps, capped in wall time.
Needs the `bench` extra (`pip install -e ".[bench]"`, which takes torch 2.13, the CPU build); without it the
SB3 columns are skipped.
"""

from __future__ import annotations

import argparse
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
from trainer.evaluation import best_success_probability, success_probability  # noqa: E402
from trainer.lake import LakeSpec  # noqa: E402

# lake -> (LakeSpec kwargs, success threshold, time limit for our trainer or None = half SB3's)
LAKES = {
    "4x4": (dict(map_name="4x4"), 1.0, None),
    "4x4-slippery": (dict(map_name="4x4", is_slippery=True), 0.725, 10.0),
    "8x8": (dict(map_name="8x8"), 1.0, 10.0),
    "8x8-slippery": (dict(map_name="8x8", is_slippery=True), 0.86, 60.0),
}


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",") if s]


def run_ours(spec: LakeSpec, threshold: float, seed: int) -> dict:
    best, _ = best_success_probability(spec.table, spec.max_episode_steps)
    # The measure is the greedy policy's success, so the sampled-policy condition is off.
    hp = Hyperparameters(target=min(threshold / best, 1.0) - 1e-9, sampled_target=0.0, budget=10_000_000)
    result = train(spec, hp, seed=seed)
    return {"seed": seed, "reached": result.success_rate >= threshold - 1e-9, "seconds": result.seconds,
            "success": result.success_rate, "env_steps": result.env_steps}


def run_sb3(spec: LakeSpec, threshold: float, seed: int, cap_seconds: float) -> dict:
    import gymnasium as gym
    from stable_baselines3 import A2C
    from stable_baselines3.common.callbacks import BaseCallback

    every_state = np.arange(spec.table.n_states)

    class ExactTarget(BaseCallback):
        def __init__(self):
            super().__init__()
            self.started = time.perf_counter()
            self.best, self.reached_at = 0.0, None

        def _on_step(self) -> bool:
            if self.num_timesteps % 1000:
                return True
            greedy, _ = self.model.predict(every_state, deterministic=True)
            success = success_probability(spec.table, np.asarray(greedy), spec.max_episode_steps)
            self.best = max(self.best, success)
            if success >= threshold - 1e-9:
                self.reached_at = time.perf_counter() - self.started
                return False
            return time.perf_counter() - self.started < cap_seconds

    env = gym.make("FrozenLake-v1", **spec.make_kwargs)
    callback = ExactTarget()
    model = A2C("MlpPolicy", env, seed=seed, device="cpu")
    callback.started = time.perf_counter()  # measured from the start of learning, like ours
    model.learn(total_timesteps=10_000_000, callback=callback)
    return {"seed": seed, "reached": callback.reached_at is not None,
            "seconds": callback.reached_at or time.perf_counter() - callback.started,
            "success": callback.best, "env_steps": int(model.num_timesteps)}


def summary(runs: list[dict]) -> str:
    reached = [r for r in runs if r["reached"]]
    if not reached:
        best = max(r["success"] for r in runs)
        return f"0/{len(runs)} (best {best:.3f} after {max(r['seconds'] for r in runs):.0f} s)"
    times = sorted(r["seconds"] for r in reached)
    return f"{len(reached)}/{len(runs)}: median {statistics.median(times):.1f} s, max {times[-1]:.1f} s"


def throughput_rows(seconds: float) -> list[str]:
    from bench.seed_loop import env_steps_per_second

    seed_steps, seed_seconds = env_steps_per_second(seconds)
    spec = LakeSpec.create("4x4")
    ours = train(spec, Hyperparameters(target=2.0, budget=300_000), seed=0)  # target 2.0: never stops early
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
    parser.add_argument("--sb3-seeds", default="0-4", help="Seeds for SB3 on 4x4 lakes ('' to skip SB3).")
    parser.add_argument("--sb3-seeds-8x8", default="0-1", help="Seeds for SB3 on 8x8 lakes (slow).")
    parser.add_argument("--sb3-cap", type=float, default=60.0, help="Wall-second cap per SB3 run.")
    parser.add_argument("--lakes", default=",".join(LAKES))
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
    rows = ["| lake | threshold | this trainer: seeds reaching it, time | target | met | SB3 A2C (defaults) |",
            "|---|---|---|---|---|---|"]
    per_seed = ["| lake | seed | seconds | env steps | final success |", "|---|---|---|---|---|"]
    for lake in args.lakes.split(","):
        kwargs, threshold, limit = LAKES[lake]
        spec = LakeSpec.create(**kwargs)
        ours = [run_ours(spec, threshold, seed) for seed in parse_seeds(args.seeds)]
        sb3 = []
        if have_sb3:
            seeds = args.sb3_seeds if lake.startswith("4x4") else args.sb3_seeds_8x8
            sb3 = [run_sb3(spec, threshold, seed, args.sb3_cap) for seed in parse_seeds(seeds)]
        if limit is None:  # 4x4: at most half of SB3's time, measured now
            sb3_times = [r["seconds"] for r in sb3 if r["reached"]]
            limit = statistics.median(sb3_times) / 2 if sb3_times else None
        within = sum(r["reached"] and limit is not None and r["seconds"] <= limit for r in ours)
        met = "yes" if within >= min(4, len(ours)) else "NO"
        target = f">= 4 of 5 within {limit:.1f} s" if limit else "n/a (no SB3 time)"
        rows.append(f"| {lake} | {threshold} | {summary(ours)} | {target} | {met} ({within}) "
                    f"| {summary(sb3) if sb3 else 'skipped'} |")
        per_seed += [f"| {lake} | {r['seed']} | {r['seconds']:.2f} | {r['env_steps']:,} | {r['success']:.3f} |"
                     for r in ours]
        results[lake] = {"ours": ours, "sb3": sb3, "limit": limit}
        print(rows[-1], flush=True)

    throughput = throughput_rows(args.seed_loop_seconds)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "train_bench.json").write_text(json.dumps(results, indent=1))
    text = "\n".join([
        f"Command: `python bench/train_bench.py --seeds {args.seeds} --sb3-seeds {args.sb3_seeds} "
        f"--sb3-seeds-8x8 {args.sb3_seeds_8x8} --sb3-cap {args.sb3_cap:g}` ({date.today()}). Seconds from the "
        "start of training to the threshold (exact greedy success); SB3 runs in the same command, capped.",
        "", *rows, "", *throughput, "", "<details><summary>Per seed (this trainer)</summary>", "",
        *per_seed, "", "</details>",
    ])
    print(text)
    if args.write:
        replace_section(ROOT / "BENCHMARKS.md", "Training", text)


if __name__ == "__main__":
    main()
