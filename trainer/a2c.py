"""A2C with Keras computing every gradient from loss functions, on any `Task`.

One update reads top to bottom: get the policy for the rollout from the task, collect the
rollout from all environments at once, compute advantages and returns, fit the critic
(MSE on returns) and the actor (`ActorLoss` on [action, advantage]) with `train_on_batch`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import keras
import numpy as np

from trainer.advantages import generalized_advantages
from trainer.config import Hyperparameters
from trainer.distributions import ActionDistribution
from trainer.evaluation import Evaluation
from trainer.normalization import RewardNormalizer, RunningNormalizer
from trainer.tasks.base import Task


@dataclass
class Progress:
    env_steps: int
    episodes: int
    updates: int
    evaluation: Evaluation

@dataclass
class TrainingResult:
    actor: keras.Model
    critic: keras.Model
    evaluation: Evaluation  # of the published policy: greedy and sampled
    env_steps: int
    updates: int
    seconds: float
    stopped_because: str
    curve: list[tuple[int, float]] = field(default_factory=list)  # (env steps, greedy metric)

@dataclass
class Rollout:
    observations: np.ndarray  # (n_steps, n_envs, *observation shape) acted on
    actions: np.ndarray  # (n_steps, n_envs) discrete, (n_steps, n_envs, size) Box
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_observations: np.ndarray  # what each step reached, before any reset
    acted: np.ndarray  # False for steps that only reset their environment

def linear_schedule(start: float, final: float, progress: float) -> float:
    """Returns start moved linearly towards final; progress 0 -> start, >= 1 -> final."""
    return start + (final - start) * min(max(progress, 0.0), 1.0)

def collect_rollout(
    env, policy: Callable[[np.ndarray], np.ndarray], distribution: ActionDistribution, epsilon: float,
    n_steps: int, rng: np.random.Generator, normalizer: RunningNormalizer | None = None,
) -> Rollout:
    """Returns n_steps of experience from every environment, acting by samples from
    `policy(observations)`; the rollout keeps each action as drawn, the environment gets
    `distribution.to_env` of it (Box actions clipped to their bounds).

    With probability epsilon a discrete action is uniformly random instead (the seed's
    exploration). With a normalizer, every observation updates its statistics, and the
    policy and the rollout see them normalised.
    """
    def seen(observations: np.ndarray) -> np.ndarray:
        return normalizer(observations) if normalizer else observations

    steps = []
    for _ in range(n_steps):
        if normalizer:
            normalizer.update(env.observations)
        observations = seen(env.observations)
        actions = distribution.sample(policy(observations), rng, epsilon)
        result = env.step(distribution.to_env(actions))
        steps.append((observations, actions, result, seen(result.final_observations)))
    return Rollout(
        observations=np.stack([o for o, *_ in steps]), actions=np.stack([a for _, a, *_ in steps]),
        rewards=np.stack([s.rewards for _, _, s, _ in steps]),
        terminated=np.stack([s.terminated for _, _, s, _ in steps]),
        truncated=np.stack([s.truncated for _, _, s, _ in steps]),
        final_observations=np.stack([f for *_, f in steps]),
        acted=np.stack([s.acted for _, _, s, _ in steps]),
    )

def build_models(task: Task, hp: Hyperparameters) -> tuple[keras.Model, keras.Model, keras.losses.Loss]:
    """Returns the compiled actor and critic, and the actor's loss (its entropy weight is scheduled)."""
    actor, critic = task.build_models(hp)
    actor_loss = task.distribution.loss(hp.entropy_coef)
    clipnorm = hp.max_grad_norm or None
    actor.compile(optimizer=keras.optimizers.Adam(hp.actor_learning_rate, clipnorm=clipnorm), loss=actor_loss)
    critic.compile(optimizer=keras.optimizers.Adam(hp.critic_learning_rate, clipnorm=clipnorm), loss="mse")
    return actor, critic, actor_loss

def update(task: Task, actor: keras.Model, critic: keras.Model, rollout: Rollout, hp: Hyperparameters) -> None:
    """Fits the critic to the rollout's returns and the actor to its advantages, one step each."""
    n_steps, n_envs = rollout.actions.shape[:2]
    flat = n_steps * n_envs
    values = task.batched(critic)(np.concatenate([rollout.observations, rollout.final_observations]).reshape(
        2 * flat, *rollout.observations.shape[2:])).reshape(2, n_steps, n_envs)
    advantages, returns = generalized_advantages(
        rollout.rewards * hp.reward_scale, values[0], values[1],
        rollout.terminated, rollout.truncated, hp.gamma, hp.gae_lambda,
    )
    # Steps that only reset an environment weigh nothing; keeping them in the batch keeps
    # its shape fixed, so the compiled train step is traced once.
    weights = rollout.acted.reshape(-1).astype(np.float32)
    advantages = advantages.reshape(-1)
    if hp.normalize_advantages:
        acted = advantages[weights > 0]
        advantages = (advantages - acted.mean()) / (acted.std() + 1e-8)
    inputs = task.model_inputs(rollout.observations.reshape(flat, *rollout.observations.shape[2:]))
    critic.train_on_batch(inputs, returns.reshape(-1, 1).astype(np.float32), sample_weight=weights)
    actor.train_on_batch(inputs, task.distribution.targets(rollout.actions, advantages), sample_weight=weights)

def train(
    task: Task,
    hp: Hyperparameters,
    seed: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> TrainingResult:
    """Returns trained models once the greedy policy reaches the task's target or the budget is spent."""
    started = time.perf_counter()
    if seed is not None:
        keras.utils.set_random_seed(seed)
    actor, critic, actor_loss = build_models(task, hp)
    env = task.vector_env(hp.n_envs, seed)
    normalizer = task.observation_normalizer(hp)
    reward_normalizer = RewardNormalizer(hp.n_envs, hp.gamma) if hp.normalize_rewards else None

    def as_published(model: keras.Model) -> keras.Model:
        """Returns the model as it would be published: taking raw observations."""
        return normalizer.fold_into(model) if normalizer else model
    rng = np.random.default_rng(None if seed is None else seed + 1)

    env_steps = updates = 0
    curve, stopped_because = [], "budget"
    while True:
        # Not before the first update: an untrained policy never reaches a target, and
        # playing its episodes to the step limit is what a Monte Carlo evaluation costs most.
        if (updates and updates % hp.eval_every == 0) or env_steps >= hp.budget:
            evaluation, evaluated_at = task.evaluate(as_published(actor), hp), updates
            curve.append((env_steps, round(evaluation.value, 6)))
            if on_progress:
                on_progress(Progress(env_steps, env.episodes_finished, updates, evaluation))
            if task.target_reached(evaluation, hp):
                stopped_because = "target"
                break
        if env_steps >= hp.budget:
            break
        progress = env_steps / max(hp.decay_env_steps, 1)
        epsilon = linear_schedule(hp.epsilon_start, hp.epsilon_final, progress)
        rollout = collect_rollout(env, task.batched(actor), task.distribution, epsilon, hp.n_steps, rng, normalizer)
        if reward_normalizer:
            rollout.rewards = reward_normalizer(rollout.rewards, rollout.terminated | rollout.truncated, rollout.acted)
        actor_loss.entropy_coef.assign(linear_schedule(hp.entropy_coef, hp.entropy_coef_final, progress))
        update(task, actor, critic, rollout, hp)
        env_steps += hp.n_steps * hp.n_envs
        updates += 1

    actor, critic = as_published(actor), as_published(critic)
    final = task.final_evaluation(actor, hp, evaluation if evaluated_at == updates else None)
    return TrainingResult(
        actor=actor, critic=critic, evaluation=final, env_steps=env_steps, updates=updates,
        seconds=time.perf_counter() - started, stopped_because=stopped_because, curve=curve,
    )
