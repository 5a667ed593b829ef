"""A served policy version: the API's verbs, answered without Keras.

Discrete observations: the loader tabulated the actor and critic over every state, so
answering is numpy indexing. Box observations: the loader converted the verified models
to ONNX, and ONNX Runtime runs them here (one call for a whole batch). Every policy answers
the same verbs, `act`, `value` and `distribution`, on observations the data plane already
checked against the policy's space, and lists its `outputs` (name, datatype, shape), which
every protocol reads instead of asking what kind of actions a policy has: discrete actions
give `action` (an index) and `probabilities`; Box actions (a diagonal Gaussian actor,
`GaussianPolicy`) give `action` (a float vector), `mean` and `std`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from policy_artifacts.loading import NetworkServable, TabularServable
from policy_artifacts.manifest import Manifest
from policy_artifacts.spaces import BoxActionSpace, BoxSpace, DiscreteSpace, sample_from_cumulative

_generator: dict[int, np.random.Generator] = {}


def unseeded_generator() -> np.random.Generator:
    """Returns this process's generator for unseeded samples, seeded from the OS once.

    Creating one per request (seeding from the OS each time) cost more than the whole
    table lookup. Keyed by process id, so forked workers never share a stream; numpy's
    generators lock around each draw, so threads and greenlets may share one.
    """
    pid = os.getpid()
    generator = _generator.get(pid)
    if generator is None:
        generator = _generator[pid] = np.random.default_rng()
    return generator


def masked(probabilities: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Returns the probabilities restricted to allowed actions and renormalised.

    A row whose allowed actions all have probability zero (underflow) becomes uniform
    over the allowed ones, so the answer is always an allowed action.
    """
    restricted = probabilities * mask
    totals = restricted.sum(axis=1, keepdims=True)
    uniform = np.broadcast_to(mask / mask.sum(), restricted.shape)
    return np.where(totals > 0, restricted / np.where(totals > 0, totals, 1.0), uniform)


@dataclass(frozen=True)
class OutputSpec:
    """One output a policy answers: its name, the datatype it travels in and its shape per
    observation (after the batch dimension)."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]


FLOAT64 = np.dtype(np.float64)


@dataclass(frozen=True, eq=False)
class ServedPolicy:
    """What every served version has: its identity and manifest; subclasses add the model.
    This class answers for discrete actions; `GaussianPolicy` for Box ones."""

    name: str
    version: int
    manifest: Manifest

    @property
    def action_names(self) -> list[str]:
        return self.manifest.action_names

    @property
    def observation_space(self) -> DiscreteSpace | BoxSpace:
        return self.manifest.observation_space

    @property
    def action_space(self) -> DiscreteSpace | BoxActionSpace:
        return self.manifest.action_space

    @property
    def is_tabular(self) -> bool:
        return False

    @property
    def takes_action_mask(self) -> bool:
        """Returns True if an action mask means something to this policy (discrete actions)."""
        return True

    @cached_property
    def outputs(self) -> tuple[OutputSpec, ...]:
        """Returns every output the policy answers, in the order protocols list them."""
        return (OutputSpec("action", self.action_space.wire_dtype, ()),
                OutputSpec("probabilities", FLOAT64, (len(self.action_names),)),
                OutputSpec("value", FLOAT64, ()))

    @cached_property
    def distribution_outputs(self) -> tuple[OutputSpec, ...]:
        """Returns the outputs that describe the action distribution (what `distribution` gives)."""
        return tuple(spec for spec in self.outputs if spec.name not in ("action", "value"))

    @property
    def action_elements(self) -> int:
        """Returns how many numbers one action is: 1 for a discrete action."""
        return 1

    def action_labels(self, actions: list) -> list[str] | None:
        """Returns the name of each action, or None where actions have no names (Box actions)."""
        names = self.action_names
        return [names[a] for a in actions]

    def distribution(self, observations: np.ndarray) -> dict[str, np.ndarray]:
        """Returns the action distribution per observation: {"probabilities": (batch, n_actions)}."""
        return {"probabilities": self.probabilities(observations)}

    def probabilities(self, observations: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def value(self, observations: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def act(self, observations: np.ndarray, greedy: bool, rng: np.random.Generator,
            mask: np.ndarray | None = None) -> np.ndarray:
        """Returns one action per observation: the argmax if greedy, else a sample; only
        actions the mask allows (one 0/1 per action) when a mask is given."""
        probabilities = self.probabilities(observations)
        if mask is not None:
            probabilities = masked(probabilities, mask)
        if greedy:
            return probabilities.argmax(axis=1)
        return sample_from_cumulative(np.cumsum(probabilities, axis=1), rng)


@dataclass(frozen=True, eq=False)
class TabularPolicy(ServedPolicy):
    probabilities_table: np.ndarray = field(repr=False)  # (n_states, n_actions), rows sum to 1
    values_table: np.ndarray = field(repr=False)  # (n_states,)

    @property
    def is_tabular(self) -> bool:
        return True

    @property
    def n_states(self) -> int:
        return self.probabilities_table.shape[0]

    # Derived once per version, so a request does only indexing.
    @cached_property
    def cumulative_table(self) -> np.ndarray:
        return np.cumsum(self.probabilities_table, axis=1)

    @cached_property
    def greedy_table(self) -> np.ndarray:
        return self.probabilities_table.argmax(axis=1)

    def act(self, observations, greedy, rng, mask=None):
        if mask is not None:
            return super().act(observations, greedy, rng, mask)
        if greedy:
            return self.greedy_table[observations]
        return sample_from_cumulative(self.cumulative_table[observations], rng)

    def value(self, observations: np.ndarray) -> np.ndarray:
        """Returns the critic's V(s) per state."""
        return self.values_table[observations]

    def probabilities(self, observations: np.ndarray) -> np.ndarray:
        """Returns the action probabilities per state, (len(states), n_actions)."""
        return self.probabilities_table[observations]


def _session(model_bytes: bytes):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # One thread per call: the workers already run in parallel, and extra threads per
    # worker only fight over the same cores.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True, eq=False)
class NetworkPolicy(ServedPolicy):
    actor_onnx: bytes = field(repr=False)
    critic_onnx: bytes = field(repr=False)

    @cached_property
    def _actor(self):
        session = _session(self.actor_onnx)
        return session, session.get_inputs()[0].name

    @cached_property
    def _critic(self):
        session = _session(self.critic_onnx)
        return session, session.get_inputs()[0].name

    def warm_up(self) -> None:
        """Builds both sessions now, so the first request does not pay for it."""
        space = self.observation_space
        zeros = np.zeros((1, *space.wire_shape), dtype=space.wire_dtype)
        self._run(self._actor, zeros)
        self.value(zeros)

    def _run(self, model, observations: np.ndarray) -> np.ndarray:
        session, input_name = model
        return session.run(None, {input_name: observations.astype(BoxSpace.wire_dtype, copy=False)})[0]

    def probabilities(self, observations: np.ndarray) -> np.ndarray:
        probabilities = np.asarray(self._run(self._actor, observations), dtype=np.float64)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def act(self, observations, greedy, rng, mask=None):
        if mask is not None:
            return super().act(observations, greedy, rng, mask)
        # The softmax's own output: argmax and inverse-CDF sampling need no renormalising.
        probabilities = self._run(self._actor, observations)
        if greedy:
            return probabilities.argmax(axis=1)
        return sample_from_cumulative(np.cumsum(probabilities, axis=1, dtype=np.float64), rng)

    def value(self, observations: np.ndarray) -> np.ndarray:
        return np.asarray(self._run(self._critic, observations), dtype=np.float64).reshape(-1)


@dataclass(frozen=True, eq=False)
class GaussianPolicy(NetworkPolicy):
    """Box actions from a diagonal Gaussian actor (`[mean | log_std]`, read by the format's
    `BoxActionSpace`): greedy is the mean, a sample is mean + std x N(0, 1) from the
    request's generator, and both are clipped to the action bounds."""

    @property
    def takes_action_mask(self) -> bool:
        return False

    @cached_property
    def outputs(self) -> tuple[OutputSpec, ...]:
        space = self.action_space
        shape = tuple(space.shape)
        return (OutputSpec("action", space.wire_dtype, shape), OutputSpec("mean", FLOAT64, shape),
                OutputSpec("std", FLOAT64, shape), OutputSpec("value", FLOAT64, ()))

    @property
    def action_elements(self) -> int:
        return self.action_space.size

    def action_labels(self, actions: list) -> None:
        return None

    def distribution(self, observations: np.ndarray) -> dict[str, np.ndarray]:
        """Returns {"mean", "std"}, each (batch, *action shape): the Gaussian before clipping."""
        mean, std = self.action_space.mean_and_std(self._run(self._actor, observations))
        return {"mean": mean, "std": std}

    def probabilities(self, observations: np.ndarray) -> np.ndarray:
        raise TypeError(f"{self.name} has Box actions: a density, not probabilities")

    def act(self, observations, greedy, rng, mask=None):
        if mask is not None:
            raise TypeError(f"{self.name} has Box actions: an action mask does not apply")
        return self.action_space.actions(self._run(self._actor, observations), greedy, rng)


def served_policy(name: str, version: int, servable: TabularServable | NetworkServable) -> ServedPolicy:
    """Returns the policy that answers from a servable (a Box policy's ONNX sessions built
    now, so the first request does not pay for them)."""
    if isinstance(servable, NetworkServable):
        kind = GaussianPolicy if isinstance(servable.manifest.action_space, BoxActionSpace) else NetworkPolicy
        policy = kind(name, version, servable.manifest,
                      actor_onnx=servable.actor_onnx, critic_onnx=servable.critic_onnx)
        policy.warm_up()
        return policy
    return TabularPolicy(name, version, servable.manifest,
                         probabilities_table=servable.probabilities, values_table=servable.values)
