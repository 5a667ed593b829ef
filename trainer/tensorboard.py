"""Training as TensorBoard shows it: the scalars Stable-Baselines3's users know, per update.

    rollout/ep_rew_mean, rollout/ep_len_mean   episodes finished in the update's rollout
    train/policy_loss, train/value_loss, train/entropy, train/explained_variance,
    train/learning_rate (the actor's), train/critic_learning_rate, train/entropy_coef
    eval/<metric>                               each evaluation of the greedy policy
    time/fps                                    env steps per second since the start

Written with TensorFlow's own summary writer (training has TensorFlow loaded already), one
event file per run under the directory given (`--tensorboard DIR`); `tensorboard --logdir DIR`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from trainer.a2c import Progress, UpdateRecord


class TensorBoardLog:
    def __init__(self, directory: Path, run_name: str):
        self.writer = tf.summary.create_file_writer(str(Path(directory) / run_name))
        self.started = time.perf_counter()

    def update(self, record: UpdateRecord) -> None:
        scalars = {
            "train/policy_loss": record.actor_loss, "train/value_loss": record.critic_loss,
            "train/entropy": record.entropy, "train/explained_variance": record.explained_variance,
            "train/learning_rate": record.actor_learning_rate,
            "train/critic_learning_rate": record.critic_learning_rate, "train/entropy_coef": record.entropy_coef,
            "time/fps": record.env_steps / max(time.perf_counter() - self.started, 1e-9),
        }
        if record.episode_returns:  # a rollout shorter than an episode finishes none
            scalars["rollout/ep_rew_mean"] = float(np.mean(record.episode_returns))
            scalars["rollout/ep_len_mean"] = float(np.mean(record.episode_lengths))
        self._write(scalars, record.env_steps)

    def evaluation(self, progress: Progress) -> None:
        self._write({f"eval/{progress.evaluation.metric}": progress.evaluation.value}, progress.env_steps)

    def _write(self, scalars: dict[str, float], step: int) -> None:
        with self.writer.as_default(step=step):
            for name, value in scalars.items():
                if np.isfinite(value):
                    tf.summary.scalar(name, value)

    def close(self) -> None:
        self.writer.close()
