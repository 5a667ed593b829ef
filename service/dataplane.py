"""The data plane: resolve a policy and version, check observations against its space, and
call the policy's verbs. Every protocol (our API, Open Inference Protocol, TF Serving) goes
through here, so they all answer alike and refuse alike.

It decides nothing about which version is served: that is the loader's decision, read
from the registry's snapshot.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from policy_artifacts.manifest import BoxSpace, DiscreteSpace
from service.errors import (
    InvalidObservation, InvalidRequest, NotReady, PayloadTooLarge, PolicyNotFound, VersionNotFound,
)
from service.policy import ServedPolicy, unseeded_generator
from service.registry import PolicyEntry, Registry, Snapshot
from service.settings import Settings


@dataclass(frozen=True)
class Answer:
    """What a verb produced, and which version produced it."""

    policy: ServedPolicy
    values: np.ndarray


Output = Literal["action", "probabilities", "value"]
OUTPUTS: tuple[Output, ...] = ("action", "probabilities", "value")


@dataclass(frozen=True)
class InferenceRequest:
    """What a protocol asks of the data plane, decoded from its wire format but not yet
    checked against any policy.

    `observations` is either a list of JSON values (one per observation) or an array
    from a tensor: a batch of integer states ([batch] or [batch, 1]) or of Box
    observations ([batch, *shape]).
    """

    policy: str | None
    version: int | str | None
    observations: list | np.ndarray
    outputs: tuple[Output, ...] = OUTPUTS
    greedy: bool = False
    seed: int | None = None
    action_mask: object = None  # as /act's: one 0/1 list per action, or one per observation
    field: str = "observations"  # what error messages call the observations


@dataclass(frozen=True)
class InferenceAnswer:
    """The requested outputs, in the order asked for, and the version that produced them."""

    policy: ServedPolicy
    outputs: dict[str, np.ndarray]


@dataclass(frozen=True)
class ModelView:
    """One policy as one snapshot shows it: the version a request resolved to, and every
    version of the policy (loaded or not)."""

    policy: ServedPolicy
    entry: PolicyEntry


class DataPlane:
    def __init__(self, settings: Settings, registry: Registry):
        self.settings = settings
        self.registry = registry
        self._max_values: tuple[Snapshot, int] | None = None

    # ---- which policy ------------------------------------------------------------------

    def default_policy_name(self, snapshot: Snapshot) -> str | None:
        if self.settings.default_policy:
            return self.settings.default_policy
        servable = [name for name, entry in snapshot.policies.items() if entry.served]
        return servable[0] if len(servable) == 1 else None

    def max_json_values(self) -> int:
        """Returns the most JSON values a valid request can hold for the policies served now:
        a full batch of the largest observation, with a mask per observation, and room for
        the other fields."""
        snapshot = self.registry.snapshot
        cached = self._max_values
        if cached is not None and cached[0] is snapshot:
            return cached[1]
        per_observation = 2
        for entry in snapshot.policies.values():
            for policy in entry.loaded.values():
                space = policy.observation_space
                elements = 2 if isinstance(space, DiscreteSpace) else space.size + len(space.shape)
                per_observation = max(per_observation, elements + len(policy.action_names) + 2)
        budget = self.settings.max_batch * per_observation + 1024
        self._max_values = (snapshot, budget)
        return budget

    def resolve(self, name: str | None, version: int | str | None = None, seed: int | None = None) -> ServedPolicy:
        """Returns the policy version a request asked for, or raises the matching error.

        `version` is a number, a label ("stable", "latest", ...) or None: the served
        version, or under a traffic split, the share the seed (or a random draw) lands in.
        """
        return self._resolve(self.registry.snapshot, name, version, seed)[1]

    def model(self, name: str, version: int | str | None = None) -> ModelView:
        """Returns the version a request names and its policy's entry, from one snapshot."""
        entry, policy = self._resolve(self.registry.snapshot, name, version, None)
        return ModelView(policy, entry)

    def repository(self) -> list[PolicyEntry]:
        """Returns every policy the loader knows of, served or not, from one snapshot."""
        return list(self.registry.snapshot.policies.values())

    def is_ready(self) -> bool:
        """Returns True when some policy is served."""
        return self.registry.snapshot.ready

    def infer(self, request: InferenceRequest) -> InferenceAnswer:
        """Returns the outputs a request asks for, from the policy version it resolves to.

        The whole request is answered from one snapshot and one version; an empty batch
        is answered with empty outputs of the right shape, without running a model.
        """
        _, policy = self._resolve(self.registry.snapshot, request.policy, request.version, request.seed)
        if isinstance(request.observations, np.ndarray):
            observations = self.tensor_observations(policy, request.observations, request.field)
        else:
            observations = self.observations(policy, request.observations, request.field)
        count = len(observations)
        mask = self.action_mask(policy, request.action_mask, count) if "action" in request.outputs else None
        outputs = {}
        for name in request.outputs:
            if count == 0:
                width = (len(policy.action_names),) if name == "probabilities" else ()
                outputs[name] = np.zeros((0, *width), dtype=np.int64 if name == "action" else np.float64)
            elif name == "action":
                outputs[name] = self.act(policy, observations, request.greedy, request.seed, mask).astype(np.int64)
            elif name == "probabilities":
                outputs[name] = self.probabilities(policy, observations)
            else:
                outputs[name] = self.value(policy, observations)
        return InferenceAnswer(policy, outputs)

    def _resolve(self, snapshot: Snapshot, name: str | None, version: int | str | None,
                 seed: int | None) -> tuple[PolicyEntry, ServedPolicy]:
        if not snapshot.ready:
            raise NotReady("no policy is loaded yet; retry shortly")
        if name is None:
            name = self.default_policy_name(snapshot)
            if name is None:
                raise InvalidRequest(
                    "several policies are served; name one in 'policy'",
                    details=[{"field": "policy", "allowed": sorted(snapshot.policies)[:20]}],
                )
        entry = snapshot.policies.get(name)
        if entry is None or entry.served is None:
            raise PolicyNotFound(
                f"no policy named {name[:80]!r} is loaded",
                details=[{"field": "policy", "allowed": sorted(n for n, e in snapshot.policies.items() if e.served)[:20]}],
            )
        if version is None:
            return entry, self._split(entry, seed) if entry.record.traffic else entry.served
        if isinstance(version, str):
            if version not in entry.record.labels:
                raise VersionNotFound(
                    f"policy {name!r} has no label {version[:40]!r}",
                    details=[{"field": "version", "allowed": sorted(entry.record.labels)}],
                )
            version = entry.record.labels[version]
        if version not in entry.loaded:
            raise VersionNotFound(
                f"policy {name!r} has no loaded version {str(version)[:20]}",
                details=[{"field": "version", "allowed": sorted(entry.loaded)}],
            )
        return entry, entry.loaded[version]

    @staticmethod
    def _split(entry, seed: int | None) -> ServedPolicy:
        shares = entry.record.traffic
        point = seed_point(seed) if seed is not None else unseeded_generator().random()
        point *= sum(share.weight for share in shares)
        for share in shares:
            if point < share.weight:
                return entry.loaded[share.version]
            point -= share.weight
        return entry.loaded[shares[-1].version]

    # ---- what it is asked about ----------------------------------------------------------

    def observations(self, policy: ServedPolicy, raw: list, field: str) -> np.ndarray:
        """Returns the observations as an array the policy takes, or raises InvalidObservation
        saying what its space expects. `raw` is a list of JSON values, one per observation."""
        if len(raw) > self.settings.max_batch:
            raise batch_too_large(field, len(raw), self.settings.max_batch)
        space = policy.observation_space
        if isinstance(space, DiscreteSpace):
            return _discrete_states(raw, space.n, policy.name, field)
        return _box_observations(raw, policy, field)

    def tensor_observations(self, policy: ServedPolicy, array: np.ndarray, field: str) -> np.ndarray:
        """Returns a tensor's observations as an array the policy takes, or raises
        InvalidObservation: integer states of shape [batch] or [batch, 1] for a discrete
        space, numbers of shape [batch, *shape] for a Box space."""
        space = policy.observation_space
        if array.ndim == 0:
            raise InvalidObservation(f"{field}: a batch of observations, got a scalar", details=[{"field": field}])
        if len(array) > self.settings.max_batch:
            raise batch_too_large(field, len(array), self.settings.max_batch)
        if isinstance(space, DiscreteSpace):
            if array.dtype.kind not in "iu":
                raise InvalidObservation(f"{field}: states of {policy.name} are integers, got {array.dtype} data",
                                         details=[{"field": field, "type": "integer"}])
            if array.ndim == 2 and array.shape[1] == 1:
                array = array[:, 0]
            if array.ndim != 1:
                raise InvalidObservation(f"{field}: states have shape [batch] or [batch, 1], got {list(array.shape)}",
                                         details=[{"field": field, "shape": [-1, 1]}])
            return _discrete_states(array.tolist(), space.n, policy.name, field)
        if array.dtype.kind != "f":
            raise InvalidObservation(f"{field}: observations of {policy.name} are floating-point numbers, "
                                     f"got {array.dtype} data", details=[{"field": field, "type": "number"}])
        if array.shape[1:] != tuple(space.shape):
            raise InvalidObservation(
                f"{field}: observations of {policy.name} have shape [batch, {', '.join(map(str, space.shape))}], "
                f"got {list(array.shape)}", details=[{"field": field, "shape": [-1, *space.shape]}])
        return self.observations(policy, array.tolist(), field)

    def action_mask(self, policy: ServedPolicy, mask, count: int) -> np.ndarray | None:
        """Returns the mask as a (count, n_actions) or (n_actions,) 0/1 array, checked: one
        mask for every observation or one per observation, each one 0 or 1 per action."""
        if mask is None:
            return None
        n_actions = len(policy.action_names)
        expected = InvalidRequest(
            f"action_mask: a list of one 0 or 1 per action of {policy.name} ({n_actions} actions), "
            f"or one such list per observation ({count})",
            details=[{"field": "action_mask", "length": n_actions}],
        )
        if not isinstance(mask, list) or not mask:
            raise expected
        rows = mask if all(type(row) is list for row in mask) else [mask]
        if len(rows) not in (1, count) or (rows is mask and len(rows) != count):
            raise expected
        for row in rows:
            if len(row) != n_actions or any(type(v) is not int or v not in (0, 1) for v in row):
                raise expected
        array = np.asarray(rows if rows is mask else rows[0], dtype=np.float64)
        if np.any(array.reshape(-1, n_actions).sum(axis=1) == 0):
            raise InvalidRequest("action_mask: allows no action", details=[{"field": "action_mask"}])
        return array

    # ---- the verbs -----------------------------------------------------------------------

    def act(self, policy: ServedPolicy, observations: np.ndarray, greedy: bool, seed: int | None,
            mask: np.ndarray | None = None) -> np.ndarray:
        rng = unseeded_generator() if seed is None else np.random.default_rng(seed)
        return policy.act(observations, greedy=greedy, rng=rng, mask=mask)

    def value(self, policy: ServedPolicy, observations: np.ndarray) -> np.ndarray:
        return policy.value(observations)

    def probabilities(self, policy: ServedPolicy, observations: np.ndarray) -> np.ndarray:
        self.check_answer_cells(len(observations) * len(policy.action_names), "observations x actions")
        return policy.probabilities(observations)

    def check_answer_cells(self, cells: int, what: str) -> None:
        """Raises PayloadTooLarge if an answer of `cells` numbers would pass the cap."""
        if cells > self.settings.max_answer_cells:
            raise PayloadTooLarge(
                f"the answer would hold {cells} numbers ({what}), over the limit of "
                f"{self.settings.max_answer_cells} (LAKE_MAX_ANSWER_CELLS); ask for fewer observations",
                details=[{"field": "observations", "cells": cells, "limit": self.settings.max_answer_cells}],
            )


def seed_point(seed: int) -> float:
    """Returns a point in [0, 1) fixed by the seed, spread evenly over seeds, so the same
    seed always lands on the same share of a traffic split."""
    digest = hashlib.blake2b(seed.to_bytes(8, "little", signed=False), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def version_reference(text: str | None, field: str = "version") -> int | str | None:
    """Returns a version number or label from URL or query text, or raises InvalidRequest."""
    if text is None or text == "":
        return None
    # isascii: str.isdigit() also accepts digits of other scripts, which int() reads.
    if text.isascii() and text.isdigit() and len(text) <= 18 and int(text) >= 1:
        return int(text)
    if LABEL.match(text):
        return text
    raise InvalidRequest(f"{field}: a positive version number or a label (a-z, 0-9, '_', '-')",
                         details=[{"field": field}])


def batch_too_large(field: str, count: int, limit: int) -> InvalidRequest:
    return InvalidRequest(f"{field}: at most {limit} per request, got {count}",
                          details=[{"field": field, "max_items": limit}])


def _discrete_states(raw: list, n: int, name: str, field: str) -> np.ndarray:
    # The (batch, 1) nesting of the models' own input is accepted too: [[0], [4]].
    states = [item[0] if type(item) is list and len(item) == 1 else item for item in raw]
    for index, state in enumerate(states):
        if type(state) is not int or not 0 <= state < n:
            where = field if len(raw) == 1 and field == "observation" else f"{field}[{index}]"
            shown = repr(state)[:40]
            raise InvalidObservation(
                f"{where}: states of {name} are non-negative integers 0..{n - 1}, got {shown}",
                details=[{"field": where, "type": "integer", "minimum": 0, "maximum": n - 1}],
            )
    return np.asarray(states, dtype=np.int64)


SMALL_BATCH_ELEMENTS = 256


def _box_observations(raw: list, policy: ServedPolicy, field: str) -> np.ndarray:
    space: BoxSpace = policy.observation_space
    if len(space.shape) == 1 and len(raw) * space.size <= SMALL_BATCH_ELEMENTS:
        return _small_box_batch(raw, policy, field)
    return _box_observations_slowly(raw, policy, field)


def _box_observations_slowly(raw: list, policy: ServedPolicy, field: str) -> np.ndarray:
    """Returns the observations as one array after checking them with numpy, or raises
    InvalidObservation naming the first thing wrong."""
    space: BoxSpace = policy.observation_space
    name = policy.name
    shape = tuple(space.shape)
    expected = f"observations of {name} are lists of numbers of shape {list(shape)}"
    details = [{"field": field, "type": "array", "shape": list(shape)}]
    if not _only_numbers(raw):
        raise InvalidObservation(f"{field}: {expected}; only JSON numbers (not strings, true or false)",
                                 details=details)
    try:
        array = np.asarray(raw, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):  # ragged, or an integer too large for a float
        raise InvalidObservation(f"{field}: {expected}", details=details) from None
    if array.shape[1:] != shape or any(type(item) is not list for item in raw):
        got = list(array.shape[1:]) if array.ndim > 1 else "a number"
        raise InvalidObservation(f"{field}: {expected}, got shape {got}", details=details)
    limit = np.finfo(np.float32).max if space.dtype == "float32" else np.finfo(np.float64).max
    if not np.all(np.abs(array) <= limit):
        raise InvalidObservation(f"{field}: {expected}, with finite {space.dtype} numbers", details=details)
    low, high = policy.box_bounds
    outside = (array < low) | (array > high)
    if outside.any():
        index = tuple(int(i) for i in np.argwhere(outside)[0])
        where = f"{field}[{index[0]}]" if field == "observations" else field
        element = index[1:]
        raise InvalidObservation(
            f"{where}: element {list(element)} is {array[index]}, outside the space's bounds "
            f"[{low[element]}, {high[element]}]",
            details=[{**details[0], "field": where, "element": list(element),
                      "minimum": float(low[element]), "maximum": float(high[element])}],
        )
    return array


def _small_box_batch(raw: list, policy: ServedPolicy, field: str) -> np.ndarray:
    """The checks of `_box_observations`, element by element in Python: for a few flat
    observations this is several times faster than numpy's whole-array machinery."""
    space: BoxSpace = policy.observation_space
    size = space.size
    lows, highs = policy.box_bound_lists
    limit = float(np.finfo(np.float32 if space.dtype == "float32" else np.float64).max)
    for index, observation in enumerate(raw):
        if type(observation) is not list or len(observation) != size:
            return _box_observations_slowly(raw, policy, field)  # for its precise message
        for element, value in enumerate(observation):
            kind = type(value)
            if (kind is not float and kind is not int) or not -limit <= value <= limit \
                    or not lows[element] <= value <= highs[element]:
                return _box_observations_slowly(raw, policy, field)
    return np.array(raw, dtype=np.float64)


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
