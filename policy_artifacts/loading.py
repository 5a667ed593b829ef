"""Checking a verified version's models against the manifest and turning them into a
servable: what the service answers from. No TensorFlow and no Keras: the `.keras` files
are read by `policy_artifacts.keras_reader` (numpy and h5py).

- Discrete observations: the actor and critic take integer states of shape (batch, 1) and
  one-hot encode them inside (CategoryEncoding, or Embedding, of width n); they are
  tabulated over every state once, into a `TabularServable`.
- Box observations: they take float32 of shape (batch, *shape); the version's published
  serving form (actor.onnx, critic.onnx) is checked against the `.keras` models on sample
  observations, into a `NetworkServable`. A Box version published before serving forms
  existed is refused with the command that republishes it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policy_artifacts.gate import ArtifactLimits, read_verified
from policy_artifacts.keras_reader import KerasModel, read_keras_model
from policy_artifacts.manifest import ACTOR_FILE, CRITIC_FILE, SERVING_FILES, Manifest
from policy_artifacts.network import check_onnx, sample_observations
from policy_artifacts.spaces import BoxSpace, DiscreteSpace
from policy_artifacts.store import ArtifactError, first_line

PROBABILITY_TOLERANCE = 1e-4
ONE_HOT_ELEMENTS_PER_CALL = 1 << 24  # bounds the (rows x n) one-hot tensor of one tabulation call


@dataclass(frozen=True, eq=False)
class TabularServable:
    """A discrete-observation version as tables: probabilities (n, A) float64 with rows
    summing to 1, and values (n,) float64, indexed by state."""

    manifest: Manifest
    probabilities: np.ndarray
    values: np.ndarray
    episode_gif: bytes | None = None  # the verified rendered episode, where published


@dataclass(frozen=True, eq=False)
class NetworkServable:
    """A Box-observation version as two ONNX models (see `policy_artifacts.network`)."""

    manifest: Manifest
    actor_onnx: bytes
    critic_onnx: bytes
    episode_gif: bytes | None = None  # the verified rendered episode, where published


def check_models_fit(manifest: Manifest, models: dict[str, KerasModel], where: str) -> None:
    """Raises ArtifactError unless each model maps the manifest's observations to its outputs.

    Discrete: one integer input (None, 1), one-hot width n; box: one float32 input (None, *shape).
    Actor output (None, action_space.actor_outputs), critic output (None, 1).
    """
    space = manifest.observation_space
    if isinstance(space, DiscreteSpace):
        want_input, want_dtypes = (1,), ("int32", "int64")
    else:
        want_input, want_dtypes = tuple(space.shape), ("float32",)
    widths = {ACTOR_FILE: manifest.action_space.actor_outputs, CRITIC_FILE: 1}
    for name, model in models.items():
        got_output = model(np.zeros((1, *model.input_shape), dtype=model.input_dtype)).shape[1:]
        if (model.input_shape, got_output) != (want_input, (widths[name],)) or model.input_dtype not in want_dtypes:
            raise ArtifactError(
                f"{where}: {name} maps {(None, *model.input_shape)} {model.input_dtype} -> {(None, *got_output)}, "
                f"but the manifest's spaces need {(None, *want_input)} {want_dtypes[0]} -> {(None, widths[name])}"
            )
        if isinstance(space, DiscreteSpace):
            if not model.encoded_states:
                raise ArtifactError(
                    f"{where}: {name} has no CategoryEncoding or Embedding layer, so its number of states is unknown"
                )
            if any(width != space.n for width in model.encoded_states):
                raise ArtifactError(
                    f"{where}: {name} encodes {', '.join(map(str, sorted(set(model.encoded_states))))} states, "
                    f"the manifest's observation_space has {space.n}"
                )


def check_outputs(probabilities: np.ndarray, values: np.ndarray, where: str, discrete: bool = True) -> None:
    """Raises ArtifactError unless outputs are finite and, for discrete actions, each actor
    row is a distribution (a Gaussian actor's rows are means and log standard deviations)."""
    if not (np.all(np.isfinite(probabilities)) and np.all(np.isfinite(values))):
        raise ArtifactError(f"{where}: the models give non-finite outputs")
    if discrete and (np.any(probabilities < 0)
                     or not np.allclose(probabilities.sum(axis=1), 1.0, atol=PROBABILITY_TOLERANCE)):
        raise ArtifactError(f"{where}: actor outputs are not probabilities")


def tabulate(manifest: Manifest, actor: KerasModel, critic: KerasModel, where: str) -> TabularServable:
    """Returns the actor's probabilities and the critic's values for every state, checked."""
    n = manifest.observation_space.n
    rows = max(1, min(n, ONE_HOT_ELEMENTS_PER_CALL // n))
    probabilities, values = [], []
    for start in range(0, n, rows):
        states = np.arange(start, min(n, start + rows), dtype=np.int32).reshape(-1, 1)
        probabilities.append(actor(states))
        values.append(critic(states).reshape(-1))
    probabilities, values = np.concatenate(probabilities), np.concatenate(values)
    check_outputs(probabilities, values, where)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    return TabularServable(manifest, probabilities, values)


REPUBLISH_HINT = "python -m trainer.republish --artifact-root ROOT --policy {policy} --version {version}"


def check_serving_form(manifest: Manifest, verified_serving: dict[str, bytes], actor: KerasModel,
                       critic: KerasModel, where: str) -> NetworkServable:
    """Returns the published ONNX actor and critic, each checked against its `.keras` model."""
    missing = [name for name in SERVING_FILES.values() if name not in verified_serving]
    if missing:
        raise ArtifactError(
            f"{where}: has no serving form ({', '.join(missing)}): it was published before the service "
            f"stopped carrying TensorFlow; republish it with: "
            + REPUBLISH_HINT.format(policy=manifest.policy, version=manifest.version)
        )
    samples = sample_observations(manifest.observation_space)
    probabilities, values = actor(samples), critic(samples)
    check_outputs(probabilities, values, where, discrete=isinstance(manifest.action_space, DiscreteSpace))
    for keras_name, expected in ((ACTOR_FILE, probabilities), (CRITIC_FILE, values)):
        name = SERVING_FILES[keras_name]
        check_onnx(verified_serving[name], name, samples, expected, where)
    return NetworkServable(manifest, actor_onnx=verified_serving[SERVING_FILES[ACTOR_FILE]],
                           critic_onnx=verified_serving[SERVING_FILES[CRITIC_FILE]])


def load_servable(
    root: Path, policy: str, version: int, limits: ArtifactLimits = ArtifactLimits()
) -> TabularServable | NetworkServable:
    """Returns the servable of one version, after the whole gate; raises ArtifactError(reason).

    Order: paths and sizes, manifest, hashes and archive caps (`gate.read_verified`), then
    the `.keras` files read as an allowlisted chain of layers, the models against the
    manifest, and tabulation (discrete) or the serving form checked against them (box).
    A bad artifact never raises anything but ArtifactError.
    """
    verified = read_verified(Path(root), policy, version, limits)
    manifest, where = verified.manifest, verified.where
    try:
        models = {name: read_keras_model(verified.model_bytes[name], f"{where}: {name}")
                  for name in (ACTOR_FILE, CRITIC_FILE)}
        check_models_fit(manifest, models, where)
        actor, critic = models[ACTOR_FILE], models[CRITIC_FILE]
        if isinstance(manifest.observation_space, BoxSpace):
            servable = check_serving_form(manifest, verified.serving_bytes, actor, critic, where)
        else:
            servable = tabulate(manifest, actor, critic, where)
        return dataclasses.replace(servable, episode_gif=verified.episode_gif)
    except ArtifactError:
        raise
    except Exception as exc:  # a model that reads but cannot run is as bad as one that cannot be read
        raise ArtifactError(f"{where}: the models cannot be run: {first_line(exc)}") from None
