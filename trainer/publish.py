"""Turning a training result into a published policy version (through policy_artifacts)."""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from pathlib import Path

import gymnasium
import keras
import numpy as np

from policy_artifacts import ACTOR_FILE, CRITIC_FILE, PublishedVersion, publish_version
from trainer.a2c import TrainingResult
from trainer.config import Hyperparameters
from trainer.evaluation import METHOD
from trainer.lake import ACTION_NAMES, ENV_ID, LakeSpec
from trainer.models import inference_copy


def _library_versions() -> dict[str, str]:
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "gymnasium": gymnasium.__version__,
        "numpy": np.__version__,
    }


def manifest_fields(spec: LakeSpec, hp: Hyperparameters, seed: int | None, result: TrainingResult) -> dict:
    """Returns every manifest field the trainer knows; the artifact store adds the rest."""
    return {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "env": {"id": ENV_ID, "kwargs": spec.make_kwargs, "desc": list(spec.desc)},
        "observation_space": {"n": spec.table.n_states},
        "action_space": {"n": spec.table.n_actions},
        "action_names": list(ACTION_NAMES),
        "hyperparameters": hp.to_dict(),
        "seed": seed,
        "training": {
            "seconds": round(result.seconds, 3),
            "env_steps": result.env_steps,
            "updates": result.updates,
            "stopped_because": result.stopped_because,
            "curve": result.curve,
        },
        "evaluation": {
            "success_rate": result.success_rate,
            "sampled_success_rate": result.sampled_success_rate,
            "optimal_success_rate": result.optimal_success_rate,
            "method": METHOD,
        },
        "libraries": _library_versions(),
    }


def publish_result(
    root: Path, policy: str, spec: LakeSpec, hp: Hyperparameters, seed: int | None, result: TrainingResult
) -> PublishedVersion:
    """Returns the new version after saving both models and the manifest atomically."""

    def write_models(directory: Path) -> None:
        # Uncompiled copies: the files then name no custom loss, and load anywhere.
        inference_copy(result.actor).save(directory / ACTOR_FILE)
        inference_copy(result.critic).save(directory / CRITIC_FILE)

    return publish_version(root, policy, write_models, manifest_fields(spec, hp, seed, result))
