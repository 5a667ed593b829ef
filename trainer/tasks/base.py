"""The `Task` protocol: everything the A2C loop, the CLI, evaluation and publishing need to
know about an environment, and the error a task raises when it cannot be what was asked.

A leaf: it imports only the hyperparameter and evaluation types, so every task module and
every caller can import it without importing each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from trainer.config import Hyperparameters
from trainer.evaluation import Evaluation

if TYPE_CHECKING:  # TensorFlow loads only once training starts, so the CLI's checks answer at once
    import keras

    from trainer.distributions import ActionDistribution
    from trainer.normalization import RunningNormalizer


class TaskError(ValueError):
    """The requested environment cannot be trained here, or its options are impossible."""


class Task(Protocol):
    env_id: str  # as gymnasium.make takes it, `module:id` for an env its module registers
    env_kwargs: dict  # for gymnasium.make, without the step limit
    max_episode_steps: int
    default_policy_name: str
    action_names: tuple[str, ...]
    layout: dict | None  # the manifest's grid layout, for grid worlds
    hyperparameters: Hyperparameters  # this task's defaults; flags override them

    @property
    def n_actions(self) -> int: ...

    @property
    def distribution(self) -> ActionDistribution:
        """Returns how the actor's outputs become actions, and the loss that trains it."""

    def action_space_fields(self) -> dict:
        """Returns the manifest's `action_space`."""

    def observation_normalizer(self, hp: Hyperparameters) -> RunningNormalizer | None:
        """Returns running observation statistics to train with (None: raw observations), or
        raises TaskError if `hp` asks for them where they make no sense."""

    def observation_space_fields(self) -> dict:
        """Returns the manifest's `observation_space`."""

    def check_solvable(self) -> None:
        """Raises TaskError if no policy can reach the goal (before any training time is spent)."""

    def build_models(self, hp: Hyperparameters) -> tuple[keras.Model, keras.Model]:
        """Returns an uncompiled (actor, critic) pair for this task's observations."""

    def vector_env(self, n_envs: int, seed: int | None):
        """Returns environments stepped together (`trainer.vector_env`'s interface)."""

    def model_inputs(self, observations: np.ndarray) -> np.ndarray:
        """Returns a batch of observations as the models take them."""

    def batched(self, model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
        """Returns observations -> the model's outputs, for the model's current weights."""

    def evaluate(self, actor: keras.Model, hp: Hyperparameters) -> Evaluation:
        """Returns the evaluation made during training (may be cheaper than the final one)."""

    def target_reached(self, evaluation: Evaluation, hp: Hyperparameters) -> bool:
        """Returns whether training can stop."""

    def final_evaluation(self, actor: keras.Model, hp: Hyperparameters, latest: Evaluation | None) -> Evaluation:
        """Returns the evaluation to publish; `latest` is one already made of the same weights, if any."""
