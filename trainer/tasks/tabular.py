"""Tabular tasks: discrete states with gymnasium's transition table, evaluated exactly.

The models see only the state index (one-hot inside the model), the environments are
stepped with numpy from the table, and every evaluation propagates the policy through the
table from the initial-state distribution over the step limit, next to the best a
state-only policy can do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Callable

import gymnasium as gym
import numpy as np

from trainer.config import Hyperparameters
from trainer.distributions import Categorical
from trainer.evaluation import EXACT_METHOD, Evaluation, Metric, best_stationary_policy, exact_return_and_success, one_hot
from trainer.tasks.base import TaskError
from trainer.transitions import Goal, TransitionTable
from trainer.vector_env import VectorTable

if TYPE_CHECKING:
    import keras


def within_target(value: float, optimum: float, fraction: float) -> bool:
    """Returns whether value is within (1 - fraction) x |optimum| of the optimum.

    For a positive optimum this is value >= fraction x optimum (a success rate, Taxi's
    return); for a negative one (CliffWalking's -13) it stays below the optimum by the same
    share of its size, so fraction 0.98 on a deterministic cliff means optimal.
    """
    return value >= optimum - (1.0 - fraction) * abs(optimum) - 1e-9


@dataclass(frozen=True, eq=False)
class TabularTask:
    env_id: str
    env_kwargs: dict
    max_episode_steps: int
    default_policy_name: str
    action_names: tuple[str, ...]
    metric: Metric  # 'success_rate' where reaching the goal is all that pays, else 'expected_return'
    goal: Goal
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    layout: dict | None = None

    def make_env(self) -> gym.Env:
        return gym.make(self.env_id, max_episode_steps=self.max_episode_steps, **self.env_kwargs)

    @cached_property
    def table(self) -> TransitionTable:
        return TransitionTable.from_env(self.make_env(), self.goal)

    @cached_property
    def optimum(self) -> tuple[float, np.ndarray]:
        """Returns the best metric a state-only policy reaches within the step limit, and its actions."""
        return best_stationary_policy(self.table, self.max_episode_steps, self.metric)

    @property
    def n_actions(self) -> int:
        return self.table.n_actions

    @property
    def distribution(self) -> Categorical:
        return Categorical(self.n_actions)

    def action_space_fields(self) -> dict:
        return {"kind": "discrete", "n": self.n_actions}

    def observation_normalizer(self, hp: Hyperparameters) -> None:
        if hp.normalize_observations:  # a state index is a name, not a measurement
            raise TaskError("--normalize-observations is for Box observations; tabular states are one-hot encoded")
        return None

    @cached_property
    def _every_state(self) -> np.ndarray:
        return np.arange(self.table.n_states, dtype=np.int32).reshape(-1, 1)

    def observation_space_fields(self) -> dict:
        return {"kind": "discrete", "n": self.table.n_states}

    def check_solvable(self) -> None:
        if self.metric == "success_rate" and self.optimum[0] == 0.0:
            raise TaskError(f"the goal cannot be reached within {self.max_episode_steps} steps on this map")

    def build_models(self, hp: Hyperparameters) -> tuple[keras.Model, keras.Model]:
        # Here, not at the top: trainer.models imports Keras, and so TensorFlow, which the CLI's
        # checks and `--help` answer without.
        from trainer.models import build_actor, build_critic

        n_states = self.table.n_states
        return build_actor(n_states, self.n_actions, hp.hidden_units), build_critic(n_states, hp.hidden_units)

    def vector_env(self, n_envs: int, seed: int | None) -> VectorTable:
        return VectorTable(self.table, n_envs, self.max_episode_steps, seed)

    def model_inputs(self, observations: np.ndarray) -> np.ndarray:
        return np.asarray(observations, dtype=np.int32).reshape(-1, 1)

    def batched(self, model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
        # The weights do not change while the result is used (one rollout, one update), so
        # one model call over every state makes a table, instead of a call per env step.
        outputs = np.asarray(model.predict_on_batch(self._every_state), dtype=np.float64)
        if outputs.shape[1] > 1:  # probabilities: exact row sums for sampling and evaluation
            outputs /= outputs.sum(axis=1, keepdims=True)
        return lambda states: outputs[states]

    def _metric(self, policy: np.ndarray) -> tuple[float, float | None]:
        expected_return, success = exact_return_and_success(self.table, policy, self.max_episode_steps)
        value = success if self.metric == "success_rate" else expected_return
        return value, (success if self.table.has_goal else None)

    def evaluate(self, actor: keras.Model, hp: Hyperparameters, final: bool = False) -> Evaluation:
        policy = self.batched(actor)(np.arange(self.table.n_states))
        value, success = self._metric(one_hot(policy.argmax(axis=1), self.n_actions))
        optimum = self.optimum[0]
        sampled = None
        # Sampling is exact too, but only needed once the greedy policy is good enough.
        if final or within_target(value, optimum, hp.target):
            sampled = self._metric(policy)[0]
        return Evaluation(metric=self.metric, value=value, best=optimum, method=EXACT_METHOD,
                          sampled_value=sampled, success_rate=success)

    def target_reached(self, evaluation: Evaluation, hp: Hyperparameters) -> bool:
        # A policy whose argmax is right but whose probabilities are still nearly uniform
        # would serve mostly random samples: both must be good before training stops.
        optimum = evaluation.best
        return within_target(evaluation.value, optimum, hp.target) and (
            hp.sampled_target == 0.0 or within_target(evaluation.sampled_value, optimum, hp.sampled_target)
        )

    def final_evaluation(self, actor: keras.Model, hp: Hyperparameters, latest: Evaluation | None) -> Evaluation:
        if latest is not None and latest.sampled_value is not None:
            return latest
        return self.evaluate(actor, hp, final=True)
