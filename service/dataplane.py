"""The data plane: resolve a policy and version, check observations against its space, and
call the policy's verbs. Every protocol (our API, Open Inference Protocol, TF Serving) goes
through here, so they all answer alike and refuse alike.

It decides nothing about which version is served: that is the loader's decision, read
from the registry's snapshot.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from policy_artifacts.names import LABEL, LABEL_RULE
from policy_artifacts.spaces import SpaceError
from service import handoff
from service.errors import (
    EpisodeNotFound, InvalidRequest, NotReady, PayloadTooLarge, PolicyNotFound, UnsupportedForPolicy,
    VersionNotFound, refused_observations,
)
from service.policy import OutputSpec, ServedPolicy, unseeded_generator
from service.registry import PolicyEntry, Registry, Snapshot
from service.settings import Settings


@dataclass(frozen=True)
class Answer:
    """What a verb produced, and which version produced it."""

    policy: ServedPolicy
    values: np.ndarray


# Every output some policy answers (which ones a policy has: `ServedPolicy.outputs`).
Output = Literal["action", "probabilities", "mean", "std", "value"]
OUTPUTS: tuple[Output, ...] = ("action", "probabilities", "mean", "std", "value")
# The outputs a request asks for: names, None for every output of the policy it resolves
# to, or a function choosing them from that policy (for a protocol whose method means
# different outputs for different policies: TF Serving's actor signature).
Outputs = tuple[Output, ...] | Callable[[ServedPolicy], tuple[Output, ...]] | None


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
    outputs: Outputs = None
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
                per_observation = max(per_observation,
                                      policy.observation_space.json_values + len(policy.action_names) + 2)
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

    def episode(self, name: str, version: int | str) -> tuple[ServedPolicy, bytes]:
        """Returns the version a request names and its rendered episode (GIF bytes, as the
        gate verified them), from one snapshot; raises EpisodeNotFound if it has none."""
        entry, policy = self._resolve(self.registry.snapshot, name, version, None)
        record = entry.record.record(policy.version)
        if record is None or record.episode is None:
            raise EpisodeNotFound(f"{policy.name} version {policy.version} has no rendered episode "
                                  "(its environment does not render rgb_array frames, or it was published without one)")
        try:
            return policy, handoff.read_episode(self.registry.cache_dir, record)
        except OSError:  # the loader is writing it again (a cleaned cache dir): as good as none now
            raise EpisodeNotFound(f"{policy.name} version {policy.version}: its episode cannot be read now") from None

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
        specs = self.output_specs(policy, request.outputs)
        mask = self.action_mask(policy, request.action_mask, count) if "action" in specs else None
        outputs, distribution = {}, None
        for name, spec in specs.items():
            if count == 0:
                outputs[name] = np.zeros((0, *spec.shape), dtype=spec.dtype)
            elif name == "action":
                outputs[name] = self.act(policy, observations, request.greedy, request.seed, mask).astype(spec.dtype)
            elif name == "value":
                outputs[name] = self.value(policy, observations)
            else:
                distribution = distribution or self.distribution(policy, observations)
                outputs[name] = distribution[name]
        return InferenceAnswer(policy, outputs)

    @staticmethod
    def output_specs(policy: ServedPolicy, wanted: Outputs) -> dict[str, OutputSpec]:
        """Returns {name: spec} of the outputs a request asks for, in its order, or raises
        InvalidRequest naming one the policy does not answer."""
        specs = {spec.name: spec for spec in policy.outputs}
        names = wanted(policy) if callable(wanted) else wanted
        if names is None:
            return specs
        for name in names:
            if name not in specs:
                raise InvalidRequest(
                    f"outputs: {str(name)[:40]!r} is not an output of {policy.name} "
                    f"({policy.action_space.kind} actions); its outputs are {list(specs)}",
                    details=[{"field": "outputs", "allowed": list(specs)}])
        return {name: specs[name] for name in names}

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
        try:
            return policy.observation_space.check_batch(raw, field, policy.name, self.settings.max_batch)
        except SpaceError as exc:
            raise refused_observations(exc) from None

    def tensor_observations(self, policy: ServedPolicy, array: np.ndarray, field: str) -> np.ndarray:
        """Returns a tensor's observations as an array the policy takes, or raises
        InvalidObservation: integer states of shape [batch] or [batch, 1] for a discrete
        space, numbers of shape [batch, *shape] for a Box space."""
        try:
            return policy.observation_space.check_tensor(array, field, policy.name, self.settings.max_batch)
        except SpaceError as exc:
            raise refused_observations(exc) from None

    def action_mask(self, policy: ServedPolicy, mask, count: int) -> np.ndarray | None:
        """Returns the mask as a (count, n_actions) or (n_actions,) 0/1 array, checked: one
        mask for every observation or one per observation, each one 0 or 1 per action."""
        if mask is None:
            return None
        if not policy.takes_action_mask:
            kind = policy.action_space.kind
            raise UnsupportedForPolicy(
                f"action_mask: {policy.name} has {kind} actions; an action mask applies only to discrete actions",
                details=[{"field": "action_mask", "action_space": kind}])
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
        if policy.action_elements > 1:  # Box actions: an answer of observations x elements numbers
            self.check_answer_cells(len(observations) * policy.action_elements, "observations x action elements")
        rng = unseeded_generator() if seed is None else np.random.default_rng(seed)
        return policy.act(observations, greedy=greedy, rng=rng, mask=mask)

    def value(self, policy: ServedPolicy, observations: np.ndarray) -> np.ndarray:
        return policy.value(observations)

    def distribution(self, policy: ServedPolicy, observations: np.ndarray) -> dict[str, np.ndarray]:
        """Returns the action distribution per observation: probabilities (discrete actions),
        or mean and std (Box actions)."""
        width = sum(math.prod(spec.shape) for spec in policy.distribution_outputs)
        self.check_answer_cells(len(observations) * width, "observations x distribution numbers")
        return policy.distribution(observations)

    def check_answer_cells(self, cells: int, what: str) -> None:
        """Raises PayloadTooLarge if an answer of `cells` numbers would pass the cap."""
        if cells > self.settings.max_answer_cells:
            raise PayloadTooLarge(
                f"the answer would hold {cells} numbers ({what}), over the limit of "
                f"{self.settings.max_answer_cells} (POLICY_MAX_ANSWER_CELLS); ask for fewer observations",
                details=[{"field": "observations", "cells": cells, "limit": self.settings.max_answer_cells}],
            )


def seed_point(seed: int) -> float:
    """Returns a point in [0, 1) fixed by the seed, spread evenly over seeds, so the same
    seed always lands on the same share of a traffic split."""
    digest = hashlib.blake2b(seed.to_bytes(8, "little", signed=False), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


def version_reference(text: str | None, field: str = "version") -> int | str | None:
    """Returns a version number or label from URL or query text, or raises InvalidRequest."""
    if text is None or text == "":
        return None
    # isascii: str.isdigit() also accepts digits of other scripts, which int() reads.
    if text.isascii() and text.isdigit() and len(text) <= 18 and int(text) >= 1:
        return int(text)
    if LABEL.match(text):
        return text
    raise InvalidRequest(f"{field}: a positive version number or {LABEL_RULE}",
                         details=[{"field": field}])
