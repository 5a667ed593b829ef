"""Loading a verified version's Keras models, checking them against the manifest, and
turning them into a servable: what the service answers from without Keras.

- Discrete observations: the actor and critic take int32 states of shape (batch, 1) and
  one-hot encode them inside (CategoryEncoding, or Embedding, of width n); they are
  tabulated over every state once, into a `TabularServable`.
- Box observations: they take float32 of shape (batch, *shape); they are converted to
  ONNX and checked against Keras (`policy_artifacts.network`), into a `NetworkServable`.

Every Keras call runs with `tempfile` and TMPDIR pointed at a private directory that is
removed afterwards, so nothing Keras or TensorFlow extracts or generates (archive
members, autograph modules, export scratch) outlives the call, even when it fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policy_artifacts.gate import ArtifactLimits, read_verified
from policy_artifacts.network import sample_observations, to_onnx
from policy_artifacts.manifest import ACTOR_FILE, CRITIC_FILE, BoxSpace, DiscreteSpace, Manifest
from policy_artifacts.store import ArtifactError, first_line

PROBABILITY_TOLERANCE = 1e-4
ONE_HOT_ELEMENTS_PER_CALL = 1 << 24  # bounds the (rows x n) one-hot tensor of one tabulation call

_temp_lock = threading.Lock()  # tempfile.tempdir is process-wide


@dataclass(frozen=True, eq=False)
class TabularServable:
    """A discrete-observation version as tables: probabilities (n, A) float64 with rows
    summing to 1, and values (n,) float64, indexed by state."""

    manifest: Manifest
    probabilities: np.ndarray
    values: np.ndarray


@dataclass(frozen=True, eq=False)
class NetworkServable:
    """A Box-observation version as two ONNX models (see `policy_artifacts.network`)."""

    manifest: Manifest
    actor_onnx: bytes
    critic_onnx: bytes


@contextmanager
def private_tempdir() -> Iterator[Path]:
    """Yields a fresh directory that `tempfile` and TMPDIR point at; removes it, and all in it, after."""
    with _temp_lock:
        directory = tempfile.mkdtemp(prefix="policy-load-")
        saved_tempdir, saved_env = tempfile.tempdir, os.environ.get("TMPDIR")
        tempfile.tempdir, os.environ["TMPDIR"] = directory, directory
        try:
            yield Path(directory)
        finally:
            tempfile.tempdir = saved_tempdir
            if saved_env is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = saved_env
            shutil.rmtree(directory, ignore_errors=True)


def _load_keras_model(data: bytes, name: str, scratch: Path, where: str):
    import keras

    # Keras loads from a path; the private copy is made from the bytes that were hashed.
    path = scratch / name
    path.write_bytes(data)
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a bad archive; one error out.
        raise ArtifactError(f"{where}: {name} cannot be loaded safely: {first_line(exc)}") from None
    finally:
        path.unlink(missing_ok=True)


def _nested_layers(model) -> Iterator:
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _nested_layers(layer)


def _signature(model) -> str:
    return f"{tuple(model.inputs[0].shape)} {model.inputs[0].dtype} -> {tuple(model.outputs[0].shape)}"


def check_models_fit(manifest: Manifest, models: dict[str, object], where: str) -> None:
    """Raises ArtifactError unless each model maps the manifest's observations to its outputs.

    Discrete: one int32 input (None, 1), one-hot width n; box: one float32 input (None, *shape).
    Actor output (None, action_space.n), critic output (None, 1).
    """
    space = manifest.observation_space
    if isinstance(space, DiscreteSpace):
        want_input, want_dtype = (None, 1), "int32"
    else:
        want_input, want_dtype = (None, *space.shape), "float32"
    widths = {ACTOR_FILE: manifest.action_space.n, CRITIC_FILE: 1}
    for name, model in models.items():
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ArtifactError(
                f"{where}: {name} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; one of each is needed"
            )
        got_input, got_dtype = tuple(model.inputs[0].shape), str(model.inputs[0].dtype)
        got_output = tuple(model.outputs[0].shape)
        if (got_input, got_dtype, got_output) != (want_input, want_dtype, (None, widths[name])):
            raise ArtifactError(
                f"{where}: {name} maps {_signature(model)}, but the manifest's spaces need "
                f"{want_input} {want_dtype} -> {(None, widths[name])}"
            )
        if isinstance(space, DiscreteSpace):
            encodings = [getattr(layer, "num_tokens", None) or getattr(layer, "input_dim", None)
                         for layer in _nested_layers(model)
                         if type(layer).__name__ in ("CategoryEncoding", "Embedding")]
            if not encodings:
                raise ArtifactError(
                    f"{where}: {name} has no CategoryEncoding or Embedding layer, so its number of states is unknown"
                )
            if any(width != space.n for width in encodings):
                raise ArtifactError(
                    f"{where}: {name} encodes {', '.join(map(str, sorted(set(encodings))))} states, "
                    f"the manifest's observation_space has {space.n}"
                )


def check_outputs(probabilities: np.ndarray, values: np.ndarray, where: str) -> None:
    """Raises ArtifactError unless outputs are finite and each actor row is a distribution."""
    if not (np.all(np.isfinite(probabilities)) and np.all(np.isfinite(values))):
        raise ArtifactError(f"{where}: the models give non-finite outputs")
    if np.any(probabilities < 0) or not np.allclose(probabilities.sum(axis=1), 1.0, atol=PROBABILITY_TOLERANCE):
        raise ArtifactError(f"{where}: actor outputs are not probabilities")


def tabulate(manifest: Manifest, actor, critic, where: str) -> TabularServable:
    """Returns the actor's probabilities and the critic's values for every state, checked."""
    n = manifest.observation_space.n
    rows = max(1, min(n, ONE_HOT_ELEMENTS_PER_CALL // n))
    probabilities, values = [], []
    for start in range(0, n, rows):
        states = np.arange(start, min(n, start + rows), dtype=np.int32).reshape(-1, 1)
        probabilities.append(np.asarray(actor(states, training=False), dtype=np.float64))
        values.append(np.asarray(critic(states, training=False), dtype=np.float64).reshape(-1))
    probabilities, values = np.concatenate(probabilities), np.concatenate(values)
    check_outputs(probabilities, values, where)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    return TabularServable(manifest, probabilities, values)


def convert(manifest: Manifest, actor, critic, scratch: Path, where: str) -> NetworkServable:
    """Returns the actor and critic as ONNX, each checked against Keras on sample observations."""
    samples = sample_observations(manifest.observation_space)
    probabilities = np.asarray(actor(samples, training=False), dtype=np.float64)
    values = np.asarray(critic(samples, training=False), dtype=np.float64)
    check_outputs(probabilities, values, where)
    return NetworkServable(
        manifest,
        actor_onnx=to_onnx(actor, ACTOR_FILE, samples, probabilities, scratch, where),
        critic_onnx=to_onnx(critic, CRITIC_FILE, samples, values, scratch, where),
    )


def load_servable(
    root: Path, policy: str, version: int, limits: ArtifactLimits = ArtifactLimits()
) -> TabularServable | NetworkServable:
    """Returns the servable of one version, after the whole gate; raises ArtifactError(reason).

    Order: paths and sizes, manifest, hashes and archive caps (`gate.read_verified`), then
    Keras with safe mode on, the models against the manifest, and tabulation (discrete)
    or ONNX conversion checked against Keras (box). A bad artifact never raises anything
    but ArtifactError.
    """
    verified = read_verified(Path(root), policy, version, limits)
    manifest, where = verified.manifest, verified.where
    with private_tempdir() as scratch:
        try:
            models = {name: _load_keras_model(verified.model_bytes[name], name, scratch, where)
                      for name in (ACTOR_FILE, CRITIC_FILE)}
            check_models_fit(manifest, models, where)
            actor, critic = models[ACTOR_FILE], models[CRITIC_FILE]
            if isinstance(manifest.observation_space, BoxSpace):
                return convert(manifest, actor, critic, scratch, where)
            return tabulate(manifest, actor, critic, where)
        except ArtifactError:
            raise
        except Exception as exc:  # a model that loads but cannot run is as bad as one that cannot load
            raise ArtifactError(f"{where}: the models cannot be run: {first_line(exc)}") from None
