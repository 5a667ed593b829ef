"""Turning a training result into a published policy version (through policy_artifacts)."""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from pathlib import Path

import gymnasium
import keras
import numpy as np
import tensorflow as tf

from policy_artifacts import PublishedVersion, publish_version
from policy_artifacts.manifest import EPISODE_FILE, parse_observation_space
from trainer.a2c import TrainingResult
from trainer.config import Hyperparameters
from trainer.episode import render_episode
from trainer.serving_form import write_policy_files
from trainer.tasks.base import Task


def _library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "gymnasium": gymnasium.__version__,
        "numpy": np.__version__,
    }


def manifest_fields(task: Task, hp: Hyperparameters, seed: int | None, result: TrainingResult) -> dict:
    """Returns every manifest field the trainer knows (schema 2); the artifact store adds the rest."""
    fields = {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "env": {"id": task.env_id, "kwargs": task.env_kwargs, "max_episode_steps": task.max_episode_steps},
        "observation_space": task.observation_space_fields(),
        "action_space": task.action_space_fields(),
        "action_names": list(task.action_names),
        "hyperparameters": hp.to_dict(),
        "seed": seed,
        "training": {
            "seconds": round(result.seconds, 3),
            "env_steps": result.env_steps,
            "updates": result.updates,
            "stopped_because": result.stopped_because,
            "curve": result.curve,
        },
        "evaluation": result.evaluation.to_manifest(),
        "libraries": _library_versions(),
    }
    if task.layout is not None:
        fields["layout"] = task.layout
    return fields


def publish_result(
    root: Path, policy: str, task: Task, hp: Hyperparameters, seed: int | None, result: TrainingResult
) -> PublishedVersion:
    """Returns the new version after saving both models (and their serving form), a rendered
    greedy episode where the environment renders, and the manifest, atomically."""
    fields = manifest_fields(task, hp, seed, result)
    space = parse_observation_space(fields["observation_space"])
    episode = render_episode(task, result.actor)

    def write_files(directory: Path) -> None:
        write_policy_files(directory, result.actor, result.critic, space)
        if episode is not None:
            (directory / EPISODE_FILE).write_bytes(episode)

    return publish_version(root, policy, write_files, fields)
