"""The training progress bar: env steps, episodes and the greedy policy's latest evaluation."""

from __future__ import annotations

from tqdm import tqdm

from trainer.a2c import Progress


class ProgressBar:
    def __init__(self, total: int, enabled: bool = True):
        self._bar = tqdm(total=total, unit="step", unit_scale=True, disable=not enabled, dynamic_ncols=True)

    def update(self, progress: Progress) -> None:
        self._bar.update(progress.env_steps - self._bar.n)
        evaluation = progress.evaluation
        best = "" if evaluation.best is None else f"/{evaluation.best:.3f}"
        self._bar.set_postfix({"episodes": progress.episodes, evaluation.metric: f"{evaluation.value:.3f}{best}"},
                              refresh=False)

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        self._bar.close()
