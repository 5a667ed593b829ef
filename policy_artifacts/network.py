"""Box-observation policies as ONNX: the serving form the workers run without TensorFlow.

The trainer exports each Box policy's actor and critic with Keras' own exporter
(`trainer/serving_form.py`) and publishes them beside the `.keras` files, hashed in the
manifest, after checking them against Keras. The loader checks them again, against the
`.keras` files as `policy_artifacts.keras_reader` reads them, before anything is served.
The contract the service relies on, for a policy whose observation space is `box` with
`shape` and whose action space has A actions:

- the graph has exactly one input: float32, shape [batch, *shape] with a free batch
  dimension; its name is whatever the export chose (use `session.get_inputs()[0].name`);
- the graph has exactly one output, `session.get_outputs()[0]`: float32 [batch, A] of
  action probabilities (each row sums to 1) for the actor, [batch, 1] of values for the critic;
- on deterministic sample observations (uniform within finite bounds, standard normal
  clipped to the bounds otherwise) the outputs equal Keras' within 1e-4.

Keras' exporter turns some layers' constants into extra graph inputs (a `Normalization`
layer does); such a model is refused with that reason rather than served half-working.
"""

from __future__ import annotations

import numpy as np

from policy_artifacts.spaces import BoxSpace
from policy_artifacts.store import ArtifactError, first_line

SAMPLE_COUNT = 8
ONNX_TOLERANCE = 1e-4
UNIFORM_WIDTH_LIMIT = 1e6  # wider finite bounds are sampled like unbounded ones


def sample_observations(space: BoxSpace, count: int = SAMPLE_COUNT, seed: int = 0) -> np.ndarray:
    """Returns `count` deterministic float32 observations (count, *shape) within the space's bounds."""
    rng = np.random.default_rng(seed)
    low, high = (bound.reshape(-1) for bound in space.bounds)
    uniform = np.isfinite(low) & np.isfinite(high) & (high - low <= UNIFORM_WIDTH_LIMIT)
    samples = np.clip(rng.standard_normal((count, space.size)), low, high)
    samples[:, uniform] = rng.uniform(low[uniform], high[uniform], size=(count, int(uniform.sum())))
    return samples.astype(np.float32).reshape(count, *space.shape)


def _describe(values) -> str:
    return ", ".join(f"{v.name} {v.type} {list(v.shape)}" for v in values)


def _check_session(session, name: str, shape: tuple[int, ...], width: int, where: str) -> None:
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        raise ArtifactError(
            f"{where}: {name} has {len(inputs)} inputs ({_describe(inputs)[:300]}); only the "
            "observation may be one (layers such as Normalization export their constants as inputs: "
            "fold them into the next layer or normalise before the model)"
        )
    dims = list(inputs[0].shape)
    if inputs[0].type != "tensor(float)" or len(dims) != 1 + len(shape) or tuple(dims[1:]) != shape \
            or (isinstance(dims[0], int) and dims[0] > 0):
        raise ArtifactError(
            f"{where}: {name} takes {_describe(inputs)}, not float32 [batch, {', '.join(map(str, shape))}]"
        )
    if len(outputs) != 1 or outputs[0].type != "tensor(float)" or len(outputs[0].shape) != 2 \
            or outputs[0].shape[1] != width:
        raise ArtifactError(f"{where}: {name} gives {_describe(outputs)}, not float32 [batch, {width}]")


def check_onnx(data: bytes, name: str, samples: np.ndarray, expected: np.ndarray, where: str) -> None:
    """Raises ArtifactError unless ONNX Runtime takes `data`, it keeps the contract above, and its
    outputs on `samples` agree with `expected` (the `.keras` model's) within ONNX_TOLERANCE."""
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ArtifactError(f"{where}: ONNX Runtime cannot take {name}: {first_line(exc)}") from None
    _check_session(session, name, tuple(samples.shape[1:]), expected.shape[1], where)
    got = np.asarray(session.run(None, {session.get_inputs()[0].name: samples})[0], dtype=np.float64)
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=0, atol=ONNX_TOLERANCE):
        raise ArtifactError(f"{where}: {name} does not agree with its .keras model within {ONNX_TOLERANCE}")
