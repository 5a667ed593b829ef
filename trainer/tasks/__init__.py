"""The environment seam: everything the A2C loop, the CLI, evaluation and publishing need
to know about an environment, behind one `Task` protocol.

Two families implement it. `TabularTask` (discrete states with gymnasium's transition
table `env.unwrapped.P`: FrozenLake, Taxi, CliffWalking) steps its environments with
numpy and evaluates exactly. `BoxTask` (Box observations, discrete actions: CartPole,
Acrobot, any such env id) steps `gymnasium.make_vec` and evaluates by Monte Carlo.
`create_task` picks the family from the environment's spaces.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from trainer.config import Hyperparameters
from trainer.evaluation import Evaluation

if TYPE_CHECKING:  # TensorFlow loads only once training starts, so the CLI's checks answer at once
    import keras


class TaskError(ValueError):
    """The requested environment cannot be trained here, or its options are impossible."""


class Task(Protocol):
    env_id: str
    env_kwargs: dict  # for gymnasium.make, without the step limit
    max_episode_steps: int
    default_policy_name: str
    action_names: tuple[str, ...]
    layout: dict | None  # the manifest's grid layout, for grid worlds
    hyperparameters: Hyperparameters  # this task's defaults; flags override them

    @property
    def n_actions(self) -> int: ...

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


def within_target(value: float, optimum: float, fraction: float) -> bool:
    """Returns whether value is within (1 - fraction) x |optimum| of the optimum.

    For a positive optimum this is value >= fraction x optimum (FrozenLake's success,
    Taxi's return); for a negative one (CliffWalking's -13) it stays below the optimum by
    the same share of its size, so fraction 0.98 on a deterministic cliff means optimal.
    """
    return value >= optimum - (1.0 - fraction) * abs(optimum) - 1e-9


def policy_name_of(env_id: str) -> str:
    """Returns a policy name made from an env id, e.g. 'MountainCar-v0' -> 'mountaincar-v0'."""
    name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-" for c in env_id.lower())
    return name.strip("-._")[:64] or "policy"


def create_task(env_id: str, max_episode_steps: int | None = None, target_return: float | None = None,
                **lake_options) -> Task:
    """Returns the task for a gymnasium env id; FrozenLake takes `lake_options` (see trainer.lake)."""
    from trainer.tasks.registry import create

    return create(env_id, max_episode_steps, target_return, **lake_options)
