"""Observation and action spaces with their behaviour, in one place.

A manifest describes each space as `discrete {n}` or `box {shape, dtype, low, high}`;
these models are that description and everything that follows from it: the bounds (null
in the manifest, +-inf here), checking a batch of observations against the space (the
batch cap included), the datatype and shape observations travel in over the wire, and
sampling one action per row of probabilities. The trainer, the format, the service's
data plane and every protocol use them, so they agree by construction.

Checks raise `SpaceError` (`BatchTooLarge` for the cap) with a message naming the field
and what the space expects, and `details` in the service's error shape; this module knows
nothing of HTTP, the service turns them into its own errors.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_STATES = 10_000_000
MAX_OBSERVATION_ELEMENTS = 4096
MAX_ACTION_ELEMENTS = 256
SMALL_BATCH_ELEMENTS = 256  # Box batches this small are checked element by element in Python


class StrictModel(BaseModel):
    # Unknown keys are errors: a manifest from a future schema must not half-load.
    # NaN and infinities are refused: JSON has none, and a bound of NaN checks nothing.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SpaceError(ValueError):
    """Observations a space does not take; `details` say what it expects, per field."""

    def __init__(self, message: str, details: list[dict]):
        super().__init__(message)
        self.message = message
        self.details = details


class BatchTooLarge(SpaceError):
    """More observations than one request may hold."""


def check_batch_size(count: int, limit: int, field: str) -> None:
    """Raises BatchTooLarge if a batch of `count` is over `limit`: the one check of the cap,
    made wherever a batch can first be counted (before any element is looked at)."""
    if count > limit:
        raise BatchTooLarge(f"{field}: at most {limit} per request, got {count}",
                            [{"field": field, "max_items": limit}])


class _Space(StrictModel):
    """What every observation space does; subclasses check their own values."""

    wire_dtype: ClassVar[np.dtype]  # the datatype observations travel in, in every protocol's signature

    @property
    def wire_shape(self) -> tuple[int, ...]:  # pragma: no cover - abstract
        """Returns the shape of one observation on the wire (after the batch dimension)."""
        raise NotImplementedError

    @property
    def json_values(self) -> int:  # pragma: no cover - abstract
        """Returns the most JSON values (numbers and lists) one observation takes."""
        raise NotImplementedError

    def check_batch(self, raw: list, field: str, name: str, max_batch: int) -> np.ndarray:
        """Returns a batch of JSON observations as the array the policy takes, or raises
        SpaceError naming the first thing wrong (`name` is the policy's, for the message)."""
        check_batch_size(len(raw), max_batch, field)
        return self._check_values(raw, field, name)

    def check_tensor(self, array: np.ndarray, field: str, name: str, max_batch: int) -> np.ndarray:
        """Returns a decoded tensor's observations as the array the policy takes, or raises
        SpaceError: a batch of the space's wire shape (integer states may also be [batch])."""
        if array.ndim == 0:
            raise SpaceError(f"{field}: a batch of observations, got a scalar", [{"field": field}])
        check_batch_size(len(array), max_batch, field)
        return self._check_array(array, field, name)

    def _check_values(self, raw: list, field: str, name: str) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_array(self, array: np.ndarray, field: str, name: str) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class DiscreteSpace(_Space):
    """`gymnasium.spaces.Discrete(n)` with start 0: observations or actions 0..n-1."""

    kind: Literal["discrete"] = "discrete"
    n: int = Field(gt=0, le=MAX_STATES)

    # The tables are indexed by any integer; int64 holds every state and is what numpy and
    # the protocols' clients send by default (the Keras models' int32 input is the loader's
    # concern: it tabulates them once).
    wire_dtype: ClassVar[np.dtype] = np.dtype(np.int64)

    @property
    def wire_shape(self) -> tuple[int, ...]:
        return (1,)  # the models' own (batch, 1); [batch] is accepted too

    @property
    def json_values(self) -> int:
        return 2  # the state, and the list around it in the (batch, 1) form

    @property
    def actor_outputs(self) -> int:
        """Returns the actor's output width as an action space: one probability per action."""
        return self.n

    def _check_values(self, raw: list, field: str, name: str) -> np.ndarray:
        # The (batch, 1) nesting of the models' own input is accepted too: [[0], [4]].
        n = self.n
        states = [item[0] if type(item) is list and len(item) == 1 else item for item in raw]
        for index, state in enumerate(states):
            if type(state) is not int or not 0 <= state < n:
                where = field if len(raw) == 1 and field == "observation" else f"{field}[{index}]"
                raise SpaceError(
                    f"{where}: states of {name} are non-negative integers 0..{n - 1}, got {repr(state)[:40]}",
                    [{"field": where, "type": "integer", "minimum": 0, "maximum": n - 1}],
                )
        return np.asarray(states, dtype=np.int64)

    def _check_array(self, array: np.ndarray, field: str, name: str) -> np.ndarray:
        if array.dtype.kind not in "iu":
            raise SpaceError(f"{field}: states of {name} are integers, got {array.dtype} data",
                             [{"field": field, "type": "integer"}])
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1:
            raise SpaceError(f"{field}: states have shape [batch] or [batch, 1], got {list(array.shape)}",
                             [{"field": field, "shape": [-1, 1]}])
        return self._check_values(array.tolist(), field, name)


class BoxSpace(_Space):
    """`gymnasium.spaces.Box`: real vectors of `shape`; bounds flattened in C order, null = unbounded."""

    kind: Literal["box"] = "box"
    shape: list[Annotated[int, Field(ge=1)]] = Field(min_length=1, max_length=4)
    dtype: Literal["float32", "float64"]
    low: list[float | None]
    high: list[float | None]

    wire_dtype: ClassVar[np.dtype] = np.dtype(np.float32)  # what the ONNX models take

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def wire_shape(self) -> tuple[int, ...]:
        return tuple(self.shape)

    @property
    def json_values(self) -> int:
        return self.size + len(self.shape)  # the numbers, and the lists that nest them

    @model_validator(mode="after")
    def _bounds_fit_shape(self):
        if self.size > MAX_OBSERVATION_ELEMENTS:
            raise ValueError(f"at most {MAX_OBSERVATION_ELEMENTS} observation elements, shape gives {self.size}")
        if len(self.low) != self.size or len(self.high) != self.size:
            raise ValueError(f"low and high need {self.size} entries each (one per element of shape {self.shape})")
        for low, high in zip(self.low, self.high):
            if low is not None and high is not None and low > high:
                raise ValueError(f"a low bound ({low}) is above its high bound ({high})")
        return self

    # Derived once per space, so a request pays only for comparing.
    @cached_property
    def flat_bounds(self) -> tuple[list[float], list[float]]:
        """Returns (low, high) flattened, as Python floats; -inf and inf where unbounded."""
        return ([-math.inf if b is None else b for b in self.low], [math.inf if b is None else b for b in self.high])

    @cached_property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Returns (low, high) as float64 arrays of the space's shape; -inf and inf where unbounded."""
        low, high = self.flat_bounds
        return (np.array(low, dtype=np.float64).reshape(self.shape),
                np.array(high, dtype=np.float64).reshape(self.shape))

    @cached_property
    def largest(self) -> float:
        """Returns the largest magnitude the space's dtype holds."""
        return float(np.finfo(self.dtype).max)

    def _check_values(self, raw: list, field: str, name: str) -> np.ndarray:
        if len(self.shape) == 1 and len(raw) * self.size <= SMALL_BATCH_ELEMENTS and self._small_batch_fits(raw):
            return np.array(raw, dtype=np.float64)
        return self._checked_array(raw, field, name)

    def _small_batch_fits(self, raw: list) -> bool:
        """Returns True if a few flat observations pass every check, element by element in
        Python: for them several times faster than numpy's whole-array machinery. False
        sends them to `_checked_array`, for its precise message."""
        size, limit = self.size, self.largest
        lows, highs = self.flat_bounds
        for observation in raw:
            if type(observation) is not list or len(observation) != size:
                return False
            for element, value in enumerate(observation):
                kind = type(value)
                if (kind is not float and kind is not int) or not -limit <= value <= limit \
                        or not lows[element] <= value <= highs[element]:
                    return False
        return True

    def _checked_array(self, raw: list, field: str, name: str) -> np.ndarray:
        """Returns the observations as one array after checking them with numpy, or raises
        SpaceError naming the first thing wrong."""
        shape = tuple(self.shape)
        expected = f"observations of {name} are lists of numbers of shape {list(shape)}"
        details = [{"field": field, "type": "array", "shape": list(shape)}]
        if not _only_numbers(raw):
            raise SpaceError(f"{field}: {expected}; only JSON numbers (not strings, true or false)", details)
        try:
            array = np.asarray(raw, dtype=np.float64)
        except (ValueError, TypeError, OverflowError):  # ragged, or an integer too large for a float
            raise SpaceError(f"{field}: {expected}", details) from None
        if array.shape[1:] != shape or any(type(item) is not list for item in raw):
            got = list(array.shape[1:]) if array.ndim > 1 else "a number"
            raise SpaceError(f"{field}: {expected}, got shape {got}", details)
        if not np.all(np.abs(array) <= self.largest):
            raise SpaceError(f"{field}: {expected}, with finite {self.dtype} numbers", details)
        low, high = self.bounds
        outside = (array < low) | (array > high)
        if outside.any():
            index = tuple(int(i) for i in np.argwhere(outside)[0])
            where = f"{field}[{index[0]}]" if field == "observations" else field
            element = index[1:]
            raise SpaceError(
                f"{where}: element {list(element)} is {array[index]}, outside the space's bounds "
                f"[{low[element]}, {high[element]}]",
                [{**details[0], "field": where, "element": list(element),
                  "minimum": float(low[element]), "maximum": float(high[element])}],
            )
        return array

    def _check_array(self, array: np.ndarray, field: str, name: str) -> np.ndarray:
        if array.dtype.kind != "f":
            raise SpaceError(f"{field}: observations of {name} are floating-point numbers, got {array.dtype} data",
                             [{"field": field, "type": "number"}])
        if array.shape[1:] != tuple(self.shape):
            raise SpaceError(
                f"{field}: observations of {name} have shape [batch, {', '.join(map(str, self.shape))}], "
                f"got {list(array.shape)}", [{"field": field, "shape": [-1, *self.shape]}])
        return self._check_values(array.tolist(), field, name)


ObservationSpace = Annotated[DiscreteSpace | BoxSpace, Field(discriminator="kind")]


class GaussianOutputs(StrictModel):
    """How a Gaussian actor's outputs read: `[mean | log_std]` side by side, per action element."""

    kind: Literal["diagonal_gaussian"] = "diagonal_gaussian"
    outputs: Literal["mean_and_log_std"] = "mean_and_log_std"
    log_std: Literal["state_independent", "network"] = Field(
        description="state_independent: learned, the same for every observation; network: computed per observation.")
    log_std_bounds: tuple[float, float] = Field(description="The log standard deviation is clipped to these.")


class BoxActionSpace(BoxSpace):
    """Box actions of a diagonal Gaussian actor: greedy is the mean, a sample is mean +
    std x N(0, 1), and either is clipped to the bounds before it leaves (the environment
    takes nothing else)."""

    distribution: GaussianOutputs

    @model_validator(mode="after")
    def _few_enough_elements(self):
        if self.size > MAX_ACTION_ELEMENTS:
            raise ValueError(f"at most {MAX_ACTION_ELEMENTS} action elements, shape gives {self.size}")
        return self

    @property
    def actor_outputs(self) -> int:
        """Returns the actor's output width: a mean and a log standard deviation per element."""
        return 2 * self.size

    def mean_and_std(self, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Returns the mean and standard deviation (each (batch, *shape)) from the actor's outputs."""
        return gaussian_mean_and_std(outputs, self.size, self.distribution.log_std_bounds, tuple(self.shape))

    def actions(self, outputs: np.ndarray, greedy: bool, rng: np.random.Generator) -> np.ndarray:
        """Returns one action per row of the actor's outputs, clipped to the bounds, in the
        wire dtype (float32): /act, OIP and TF Serving answer the same numbers."""
        mean, std = self.mean_and_std(outputs)
        return np.clip(mean if greedy else sample_gaussian(mean, std, rng), *self.wire_bounds).astype(self.wire_dtype)

    @cached_property
    def wire_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Returns the bounds as the float32 values nearest them on the inside: a float64 bound
        such as 0.1 has no float32 twin, and the nearest float32 (0.10000000149) lies outside."""
        low, high = self.bounds
        low32, high32 = low.astype(np.float32), high.astype(np.float32)
        low32 = np.where(low32 < low, np.nextafter(low32, np.float32(np.inf)), low32)
        high32 = np.where(high32 > high, np.nextafter(high32, np.float32(-np.inf)), high32)
        return low32, high32


ActionSpace = Annotated[DiscreteSpace | BoxActionSpace, Field(discriminator="kind")]


def parse_observation_space(fields: dict) -> DiscreteSpace | BoxSpace:
    """Returns the observation space a manifest's `observation_space` fields describe."""
    return BoxSpace.model_validate(fields) if fields.get("kind") == "box" else DiscreteSpace.model_validate(fields)


def _only_numbers(raw: list) -> bool:
    """Returns False if any leaf is not a JSON number: numpy would read "1" as 1.0 and
    true as 1.0."""
    stack = list(raw)
    while stack:
        item = stack.pop()
        if type(item) is list:
            stack.extend(item)
        elif type(item) is not int and type(item) is not float:
            return False
    return True


# ---- sampling -----------------------------------------------------------------------------

def sample_from_cumulative(cumulative: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Returns one index per row by inverse CDF; each row of `cumulative` rises to (about) 1.

    Draws are scaled by the row's total, so float round-off in a row's sum neither favours
    its last index nor returns one past it; the minimum guards the same at the top end.
    """
    last = cumulative.shape[1] - 1
    if len(cumulative) == 1:  # one row, the common request: skip the array machinery
        row = cumulative[0]
        return np.array([min(int(row.searchsorted(rng.random() * row[-1], side="right")), last)])
    draws = rng.random(len(cumulative))[:, None] * cumulative[:, -1:]
    return np.minimum((draws >= cumulative).sum(axis=1), last)


def sample_categorical(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Returns one index per row of `probabilities` (rows sum to 1), by inverse CDF: used for
    actions (trainer and service) and for stochastic transitions alike."""
    return sample_from_cumulative(np.cumsum(probabilities, axis=1), rng)


def gaussian_mean_and_std(outputs: np.ndarray, size: int, log_std_bounds: tuple[float, float],
                          shape: tuple[int, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Returns (mean, std) from a Gaussian actor's `[mean | log_std]` outputs (batch, 2 x size),
    each reshaped to (batch, *shape) if a shape is given."""
    outputs = np.asarray(outputs, np.float64)
    mean, std = outputs[:, :size], np.exp(np.clip(outputs[:, size:2 * size], *log_std_bounds))
    if shape is not None:
        mean, std = mean.reshape(len(outputs), *shape), std.reshape(len(outputs), *shape)
    return mean, std


def sample_gaussian(mean: np.ndarray, std: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Returns one draw of N(mean, std^2) per element, unclipped (the trainer's loss scores
    the draw itself; whoever steps an environment clips it)."""
    return mean + std * rng.standard_normal(mean.shape)
