"""An MLServer custom runtime that answers as the service's `/v2/models/<name>/infer` does.

Loaded by MLServer (bench/mlserver_bench.py runs it in its own virtual environment), never
by the service. It runs the same `actor.onnx` and `critic.onnx` with ONNX Runtime, with the
session options of `service/policy.py` (one intra-op and one inter-op thread), and returns
the same three outputs for each observation: `action` (INT64 [batch], sampled from the
actor's probabilities), `probabilities` (FP64 [batch, actions]) and `value` (FP64 [batch]).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


def _session(path: Path) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path.read_bytes(), options, providers=["CPUExecutionProvider"])


class PolicyRuntime(MLModel):
    """`parameters.uri` is the directory holding actor.onnx and critic.onnx."""

    async def load(self) -> bool:
        directory = Path(self.settings.parameters.uri)
        self._actor = _session(directory / "actor.onnx")
        self._critic = _session(directory / "critic.onnx")
        self._rng = np.random.default_rng()
        return True

    def _run(self, session: onnxruntime.InferenceSession, observations: np.ndarray) -> np.ndarray:
        return session.run(None, {session.get_inputs()[0].name: observations})[0]

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        observations = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32, copy=False)
        probabilities = np.asarray(self._run(self._actor, observations), dtype=np.float64)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        cumulative = np.cumsum(probabilities, axis=1)
        draws = self._rng.random((len(cumulative), 1)) * cumulative[:, -1:]
        actions = np.minimum((draws >= cumulative).sum(axis=1), cumulative.shape[1] - 1).astype(np.int64)
        values = np.asarray(self._run(self._critic, observations), dtype=np.float64).reshape(-1)
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            outputs=[
                NumpyCodec.encode_output("action", actions),
                NumpyCodec.encode_output("probabilities", probabilities),
                NumpyCodec.encode_output("value", values),
            ],
        )
