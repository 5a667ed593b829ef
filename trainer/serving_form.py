"""Writing a policy's files for publishing: both `.keras` models and, for Box observations,
their serving form (ONNX), checked against Keras before anything is published.

The service runs Box policies with ONNX Runtime and carries no TensorFlow, so the
conversion happens here, where Keras and TensorFlow already are (`model.export(...,
format="onnx")`, through tf2onnx). A model whose export ONNX Runtime cannot run, or whose
outputs disagree with Keras', is refused at publishing, with the reason.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import keras
import numpy as np

from policy_artifacts import ACTOR_FILE, CRITIC_FILE, ArtifactError, BoxSpace, DiscreteSpace
from policy_artifacts.manifest import SERVING_FILES
from policy_artifacts.network import check_onnx, sample_observations
from policy_artifacts.store import first_line
from trainer.models import inference_copy


_temp_lock = threading.Lock()  # tempfile.tempdir is process-wide


@contextmanager
def private_tempdir() -> Iterator[Path]:
    """Yields a fresh directory that `tempfile` and TMPDIR point at; removes it, and all in it,
    after: the exporter leaves autograph modules and tf2onnx scratch files in the temp dir."""
    with _temp_lock:
        directory = tempfile.mkdtemp(prefix="onnx-export-")
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


def export_onnx(model: keras.Model, name: str, space: BoxSpace) -> bytes:
    """Returns the model as ONNX bytes, once ONNX Runtime runs them and they agree with Keras."""
    samples = sample_observations(space)
    try:  # the call also builds the model: Keras exports only models that have been called
        expected = np.asarray(model(samples, training=False), dtype=np.float64)
    except Exception as exc:
        raise ArtifactError(f"{model.name} does not take observations of shape {space.shape}: {first_line(exc)}") from None
    with private_tempdir() as scratch:
        path = scratch / name
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # Keras' tf2onnx shim probes np.object
                model.export(str(path), format="onnx", verbose=False)
            data = path.read_bytes()
        except Exception as exc:
            raise ArtifactError(f"{model.name} cannot be converted to ONNX: {first_line(exc)}") from None
    check_onnx(data, name, samples, expected, where=f"the trainer's {model.name}")
    return data


def write_policy_files(directory: Path, actor: keras.Model, critic: keras.Model,
                       observation_space: BoxSpace | DiscreteSpace) -> None:
    """Writes actor.keras and critic.keras (uncompiled copies: the files then name no custom
    loss, and load anywhere) and, for Box observations, actor.onnx and critic.onnx."""
    for name, model in ((ACTOR_FILE, actor), (CRITIC_FILE, critic)):
        copy = inference_copy(model)
        copy.save(directory / name)
        if isinstance(observation_space, BoxSpace):
            (directory / SERVING_FILES[name]).write_bytes(export_onnx(copy, SERVING_FILES[name], observation_space))
