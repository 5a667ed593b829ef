"""Loading a verified version's Keras models, safely, and tabulating them over every state.

FrozenLake has few states, all known in advance, so a loaded version is turned into two
tables (action probabilities and values per state) once; whoever serves it answers from
the tables and needs no Keras afterwards.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policy_artifacts.manifest import ACTOR_FILE, CRITIC_FILE, Manifest
from policy_artifacts.store import ArtifactError, read_verified


@dataclass(frozen=True)
class LoadedModels:
    manifest: Manifest
    actor: object
    critic: object


@dataclass(frozen=True)
class PolicyTables:
    """Everything a server needs to answer for one version: per-state probabilities and values."""

    manifest: Manifest
    probabilities: np.ndarray  # (n_states, n_actions), float64, rows sum to 1
    values: np.ndarray  # (n_states,), float64


def _load_keras_model(data: bytes, name: str, where: Path):
    import keras

    # Keras loads from a path; the private copy is made from the bytes that were hashed.
    with tempfile.TemporaryDirectory(prefix="policy-load-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            return keras.models.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:  # Keras raises many types for a bad archive; one error out.
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ArtifactError(f"{where}: {name} cannot be loaded safely: {reason}") from None


def load_models(version_dir: Path) -> LoadedModels:
    """Returns the verified actor and critic of a version, loaded with Keras safe mode on.

    Raises ArtifactError if the files fail verification, cannot be loaded without running
    custom code, or do not fit the observation and action spaces of the manifest.
    """
    verified = read_verified(version_dir)
    manifest = verified.manifest
    actor = _load_keras_model(verified.model_bytes[ACTOR_FILE], ACTOR_FILE, Path(version_dir))
    critic = _load_keras_model(verified.model_bytes[CRITIC_FILE], CRITIC_FILE, Path(version_dir))
    expected = {ACTOR_FILE: (actor, manifest.action_space.n), CRITIC_FILE: (critic, 1)}
    for name, (model, width) in expected.items():
        in_shape = tuple(model.input_shape) if not isinstance(model.input_shape, list) else None
        out_shape = tuple(model.output_shape) if not isinstance(model.output_shape, list) else None
        if in_shape != (None, 1) or out_shape != (None, width):
            raise ArtifactError(
                f"{version_dir}: {name} maps {in_shape} -> {out_shape}, but the manifest's spaces "
                f"need (None, 1) -> (None, {width})"
            )
    return LoadedModels(manifest, actor, critic)


def tabulate(models: LoadedModels) -> PolicyTables:
    """Returns the actor's probabilities and the critic's values for every state, checked."""
    manifest = models.manifest
    states = np.arange(manifest.observation_space.n, dtype=np.int32).reshape(-1, 1)
    probabilities = np.asarray(models.actor(states), dtype=np.float64)
    values = np.asarray(models.critic(states), dtype=np.float64).reshape(-1)
    if not (np.all(np.isfinite(probabilities)) and np.all(np.isfinite(values))):
        raise ArtifactError(f"policy {manifest.policy} v{manifest.version}: non-finite outputs")
    if np.any(probabilities < 0) or not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4):
        raise ArtifactError(
            f"policy {manifest.policy} v{manifest.version}: actor outputs are not probabilities"
        )
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    return PolicyTables(manifest, probabilities, values)


def load_tables(version_dir: Path) -> PolicyTables:
    """Returns the tables of a version: verify, load safely, check spaces, tabulate."""
    return tabulate(load_models(version_dir))
