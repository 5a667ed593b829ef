"""Box-observation tasks with discrete actions, stepped by gymnasium's own vector envs.

CartPole has a native vectorised implementation; any other env id is vectorised by
gymnasium's synchronous wrapper (`gymnasium.make_vec` picks). The actor is called once per
vector step on the whole batch of observations. Evaluation is Monte Carlo: the mean
return of seeded episodes, with its standard error, next to the env's reward threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable

import gymnasium as gym
import numpy as np

from trainer.config import Hyperparameters
from trainer.distributions import GAUSSIAN_FIELDS, ActionDistribution, Categorical, DiagonalGaussian
from trainer.evaluation import EVALUATION_SEED, Evaluation, monte_carlo_returns
from trainer.inference import numpy_forward
from trainer.normalization import RunningNormalizer
from trainer.vector_env import VectorGym

# During training a few episodes screen the policy; only a policy that passes them is
# played for the full `eval_episodes`, which alone can stop training.
SCREEN_EPISODES = 20

if TYPE_CHECKING:
    import keras


@dataclass(frozen=True, eq=False)
class BoxTask:
    env_id: str
    env_kwargs: dict
    max_episode_steps: int
    default_policy_name: str
    action_names: tuple[str, ...]
    observation_space: gym.spaces.Box
    action_space: gym.spaces.Discrete | gym.spaces.Box
    target_return: float | None  # stop once the mean greedy return reaches it (None: train the budget)
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    layout: dict | None = None
    _evaluation_envs: dict = field(default_factory=dict, repr=False)

    @property
    def n_actions(self) -> int:
        return len(self.action_names)

    @property
    def continuous(self) -> bool:
        return isinstance(self.action_space, gym.spaces.Box)

    @property
    def distribution(self) -> ActionDistribution:
        if self.continuous:
            return DiagonalGaussian(low=self.action_space.low.ravel().astype(np.float64),
                                    high=self.action_space.high.ravel().astype(np.float64))
        return Categorical(self.n_actions)

    def action_space_fields(self) -> dict:
        if not self.continuous:
            return {"kind": "discrete", "n": self.n_actions}
        return {**_box_fields(self.action_space), "distribution": GAUSSIAN_FIELDS}

    def observation_normalizer(self, hp: Hyperparameters) -> RunningNormalizer | None:
        return RunningNormalizer(self.observation_space.shape) if hp.normalize_observations else None

    def make_vec(self, n_envs: int, mode: str | None = None) -> gym.vector.VectorEnv:
        """Returns n_envs environments stepped together (mode None: native where the env has it, else sync)."""
        return gym.make_vec(self.env_id, num_envs=n_envs, vectorization_mode=mode,
                            max_episode_steps=self.max_episode_steps, **self.env_kwargs)

    def observation_space_fields(self) -> dict:
        return _box_fields(self.observation_space)

    def check_solvable(self) -> None:
        return None

    def build_models(self, hp: Hyperparameters) -> tuple[keras.Model, keras.Model]:
        # Here, not at the top: trainer.models imports Keras, and so TensorFlow, which the CLI's
        # checks and `--help` answer without.
        from trainer.models import (build_box_actor, build_box_critic, build_gaussian_actor,
                                    build_state_dependent_noise_actor)

        shape = self.observation_space.shape
        if self.continuous and hp.state_dependent_noise:
            actor = build_state_dependent_noise_actor(shape, self.distribution.size, hp.hidden_units,
                                                      hp.hidden_layers, hp.log_std_init, hp.initializer)
        elif self.continuous:
            actor = build_gaussian_actor(shape, self.distribution.size, hp.hidden_units, hp.hidden_layers,
                                         hp.log_std_init, hp.initializer)
        else:
            actor = build_box_actor(shape, self.n_actions, hp.hidden_units, hp.hidden_layers, hp.initializer)
        return actor, build_box_critic(shape, hp.hidden_units, hp.hidden_layers, hp.initializer)

    def vector_env(self, n_envs: int, seed: int | None) -> VectorGym:
        return VectorGym(self.make_vec(n_envs), seed)

    def model_inputs(self, observations: np.ndarray) -> np.ndarray:
        return np.asarray(observations, dtype=np.float32).reshape(-1, *self.observation_space.shape)

    def batched(self, model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
        # Called once per rollout or evaluation: the snapshot serves every step of it.
        forward = numpy_forward(model)
        if forward is None:
            return lambda observations: np.asarray(model.predict_on_batch(self.model_inputs(observations)), np.float64)
        return lambda observations: forward(self.model_inputs(observations))

    def _returns(self, actor: keras.Model, episodes: int, greedy: bool) -> np.ndarray:
        if episodes not in self._evaluation_envs:  # made once: sync vectors of many envs take a while
            # Native where the env has one (CartPole's steps 100 episodes ~30x faster than sync).
            self._evaluation_envs[episodes] = self.make_vec(episodes)
        # The sampled policy's draws are seeded too, so an evaluation is repeatable.
        rng = np.random.default_rng(EVALUATION_SEED)
        return monte_carlo_returns(self._evaluation_envs[episodes], self.batched(actor), self.distribution, greedy, rng)

    def _evaluation(self, returns: np.ndarray) -> Evaluation:
        stderr = float(returns.std(ddof=1) / np.sqrt(len(returns))) if len(returns) > 1 else 0.0
        return Evaluation(
            metric="mean_return", value=float(returns.mean()), best=self.target_return,
            method=f"Monte Carlo: the first episode of each of gymnasium.make_vec({self.env_id!r}, "
                   f"num_envs={len(returns)}) reset with seed {EVALUATION_SEED}",
            stderr=stderr, episodes=len(returns),
        )

    def evaluate(self, actor: keras.Model, hp: Hyperparameters) -> Evaluation:
        evaluation = self._evaluation(self._returns(actor, min(SCREEN_EPISODES, hp.eval_episodes), greedy=True))
        if evaluation.episodes < hp.eval_episodes and self._passes(evaluation):
            evaluation = self._evaluation(self._returns(actor, hp.eval_episodes, greedy=True))
        return evaluation

    def _passes(self, evaluation: Evaluation) -> bool:
        return self.target_return is not None and evaluation.value >= self.target_return

    def target_reached(self, evaluation: Evaluation, hp: Hyperparameters) -> bool:
        return evaluation.episodes == hp.eval_episodes and self._passes(evaluation)

    def final_evaluation(self, actor: keras.Model, hp: Hyperparameters, latest: Evaluation | None) -> Evaluation:
        if latest is None or latest.episodes != hp.eval_episodes:
            latest = self._evaluation(self._returns(actor, hp.eval_episodes, greedy=True))
        sampled = self._returns(actor, hp.eval_episodes, greedy=False)
        return replace(latest, sampled_value=float(sampled.mean()))


def _box_fields(space: gym.spaces.Box) -> dict:
    """Returns the manifest's description of a Box space (infinite bounds as null)."""
    def bounds(values: np.ndarray) -> list[float | None]:
        return [float(v) if np.isfinite(v) else None for v in np.asarray(values, np.float64).ravel()]

    return {"kind": "box", "shape": list(space.shape), "dtype": str(np.dtype(space.dtype)),
            "low": bounds(space.low), "high": bounds(space.high)}
