"""Which exploration helps? Trains each variant on the same lakes and seeds, side by side.

    python bench/exploration_ablation.py --lakes 8x8,8x8-slippery --seeds 0-2

Variants: the defaults (decaying entropy bonus, no epsilon); the seed notebook's
epsilon-greedy on top; a constant entropy bonus; no entropy bonus at all. Prints one
markdown row per (lake, variant): seeds that reached the target, median seconds and env
steps. The defaults are the baseline, run in the same command.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from trainer.a2c import train  # noqa: E402
from trainer.config import Hyperparameters  # noqa: E402
from trainer.tasks.frozenlake import LakeSpec  # noqa: E402

VARIANTS = {
    "defaults (entropy 0.02 -> 0.002)": {},
    "+ epsilon 0.2 -> 0": {"epsilon_start": 0.2},
    "constant entropy 0.02": {"entropy_coef_final": 0.02},
    "no entropy bonus": {"entropy_coef": 0.0, "entropy_coef_final": 0.0},
}
LAKES = {
    "4x4": dict(map_name="4x4"),
    "4x4-slippery": dict(map_name="4x4", is_slippery=True),
    "8x8": dict(map_name="8x8"),
    "8x8-slippery": dict(map_name="8x8", is_slippery=True),
}


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lakes", default="8x8,8x8-slippery")
    parser.add_argument("--seeds", default="0-2")
    parser.add_argument("--budget", type=int, default=3_000_000)
    args = parser.parse_args()
    print("| lake | variant | reached target | median s | median env steps | final success per seed |")
    print("|---|---|---|---|---|---|")
    for lake in args.lakes.split(","):
        task = LakeSpec.create(**LAKES[lake]).task()
        for label, changes in VARIANTS.items():
            hp = dataclasses.replace(Hyperparameters(budget=args.budget, sampled_target=0.0), **changes)
            results = [train(task, hp, seed=seed) for seed in parse_seeds(args.seeds)]
            reached = sum(r.stopped_because == "target" for r in results)
            print(
                f"| {lake} | {label} | {reached}/{len(results)} "
                f"| {statistics.median(r.seconds for r in results):.1f} "
                f"| {statistics.median(r.env_steps for r in results):,} "
                f"| {', '.join(f'{r.evaluation.value:.3f}' for r in results)} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
