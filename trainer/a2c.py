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
class UpdateRecord:
    """What one update did, for whoever watches training (TensorBoard): SB3's scalars."""

    env_steps: int
    updates: int
    actor_loss: float
    critic_loss: float
    entropy: float  # mean entropy of the rollout's action distributions
    explained_variance: float  # of the returns by the critic's values, before the update
    entropy_coef: float
    actor_learning_rate: float
    critic_learning_rate: float
    episode_returns: list[float]  # episodes that ended in this rollout, in the env's own rewards
    episode_lengths: list[int]


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
    setup_seconds: float = 0.0  # of `seconds`, spent making the environments and models before learning

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
    distribution.new_rollout()
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

class EpisodeTracker:
    """Returns and lengths of the episodes the training environments finish (raw rewards)."""

    def __init__(self, n_envs: int):
        self.returns = np.zeros(n_envs)
        self.lengths = np.zeros(n_envs, dtype=np.int64)

    def record(self, rewards: np.ndarray, ended: np.ndarray, acted: np.ndarray) -> tuple[list[float], list[int]]:
        """Returns (returns, lengths) of the episodes that ended in this rollout."""
        returns, lengths = [], []
        for t in range(len(rewards)):
            self.returns += np.where(acted[t], rewards[t], 0.0)
            self.lengths += acted[t]
            returns += self.returns[ended[t]].tolist()
            lengths += self.lengths[ended[t]].tolist()
            self.returns[ended[t]], self.lengths[ended[t]] = 0.0, 0
        return returns, lengths


def rollout_outputs(task: Task, actor: keras.Model, rollout: Rollout) -> np.ndarray:
    """Returns the actor's outputs for the rollout's observations (after the update)."""
    return task.batched(actor)(rollout.observations.reshape(-1, *rollout.observations.shape[2:]))


def optimizer(hp: Hyperparameters, learning_rate: float) -> keras.optimizers.Optimizer:
    # One norm over all of a model's gradients, as SB3's clip_grad_norm_ (Keras' clipnorm
    # would clip each variable's gradient on its own).
    clip = {"global_clipnorm": hp.max_grad_norm or None}
    if hp.optimizer == "rmsprop":
        # PyTorch (SB3) divides by sqrt(v) + 1e-5, Keras by sqrt(v + epsilon): epsilon 1e-10 is
        # the same floor. Keras' own 1e-7 would floor at 3e-4 and all but freeze parameters
        # with small gradients (gSDE's log std barely moved with it).
        return keras.optimizers.RMSprop(learning_rate, rho=0.99, epsilon=1e-10, **clip)
    return keras.optimizers.Adam(learning_rate, **clip)

def build_models(task: Task, hp: Hyperparameters, distribution: ActionDistribution
                 ) -> tuple[keras.Model, keras.Model, keras.losses.Loss]:
    """Returns the compiled actor and critic, and the actor's loss (its entropy weight is scheduled)."""
    actor, critic = task.build_models(hp)
    actor_loss = distribution.loss(hp.entropy_coef)
    actor.compile(optimizer=optimizer(hp, hp.actor_learning_rate), loss=actor_loss)
    critic.compile(optimizer=optimizer(hp, hp.critic_learning_rate), loss="mse")
    for model in (actor, critic):
        # The optimizer's slots made now, not inside the first train step: a step that creates
        # variables is traced twice, and that second trace was half of the first update's 0.66 s.
        model.optimizer.build(model.trainable_variables)
    return actor, critic, actor_loss

def update(task: Task, distribution: ActionDistribution, actor: keras.Model, critic: keras.Model,
           rollout: Rollout, hp: Hyperparameters) -> tuple[float, float, float]:
    """Fits the critic to the rollout's returns and the actor to its advantages, one step each;
    returns (actor loss, critic loss, the returns' variance explained by the critic before)."""
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
    critic_loss = critic.train_on_batch(inputs, returns.reshape(-1, 1).astype(np.float32), sample_weight=weights)
    actor_loss = actor.train_on_batch(inputs, distribution.targets(rollout.actions, advantages),
                                      sample_weight=weights)
    acted = weights > 0
    explained = explained_variance(values[0].reshape(-1)[acted], returns.reshape(-1)[acted])
    return float(actor_loss), float(critic_loss), explained


def explained_variance(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Returns 1 - Var(actual - predicted) / Var(actual): 1 is a perfect critic, 0 no better
    than a constant, negative worse (nan if the returns do not vary)."""
    spread = np.var(actual)
    return float("nan") if spread == 0 else float(1.0 - np.var(actual - predicted) / spread)

def train(
    task: Task,
    hp: Hyperparameters,
    seed: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_update: Callable[[UpdateRecord], None] | None = None,
) -> TrainingResult:
    """Returns trained models once the greedy policy reaches the task's target or the budget is spent."""
    started = time.perf_counter()
    if seed is not None:
        keras.utils.set_random_seed(seed)
    distribution = task.distribution.for_training(hp)
    actor, critic, actor_loss = build_models(task, hp, distribution)
    env = task.vector_env(hp.n_envs, seed)
    normalizer = task.observation_normalizer(hp)
    reward_normalizer = RewardNormalizer(hp.n_envs, hp.gamma) if hp.normalize_rewards else None
    episodes = EpisodeTracker(hp.n_envs)

    def as_published(model: keras.Model) -> keras.Model:
        """Returns the model as it would be published: taking raw observations."""
        return normalizer.fold_into(model) if normalizer else model
    rollout = None
    rng = np.random.default_rng(None if seed is None else seed + 1)
    setup_seconds = time.perf_counter() - started

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
        # Over the whole budget, as SB3's linear schedule: a longer run decays more slowly.
        learning_rate_left = linear_schedule(1.0, hp.learning_rate_final, env_steps / hp.budget)
        if hp.learning_rate_final != 1.0:  # a variable assignment per update costs where rates are constant
            actor.optimizer.learning_rate.assign(hp.actor_learning_rate * learning_rate_left)
            critic.optimizer.learning_rate.assign(hp.critic_learning_rate * learning_rate_left)
        rollout = collect_rollout(env, task.batched(actor), distribution, epsilon, hp.n_steps, rng, normalizer)
        ended = rollout.terminated | rollout.truncated
        finished = episodes.record(rollout.rewards, ended, rollout.acted)
        if reward_normalizer:
            rollout.rewards = reward_normalizer(rollout.rewards, ended, rollout.acted)
        entropy_coef = linear_schedule(hp.entropy_coef, hp.entropy_coef_final, progress)
        actor_loss.entropy_coef.assign(entropy_coef)
        losses = update(task, distribution, actor, critic, rollout, hp)
        env_steps += hp.n_steps * hp.n_envs
        updates += 1
        if on_update:
            entropy = distribution.entropy(rollout_outputs(task, actor, rollout))
            on_update(UpdateRecord(env_steps, updates, *losses[:2], entropy, losses[2], entropy_coef,
                                   hp.actor_learning_rate * learning_rate_left,
                                   hp.critic_learning_rate * learning_rate_left, *finished))

    # The last rollout's states show the published form what the actor's noise was like (gSDE).
    recent = rollout_outputs(task, actor, rollout)[rollout.acted.reshape(-1)] if rollout is not None else None
    actor, critic = distribution.publishable(as_published(actor), recent), as_published(critic)
    final = task.final_evaluation(actor, hp, evaluation if evaluated_at == updates else None)
    return TrainingResult(
        actor=actor, critic=critic, evaluation=final, env_steps=env_steps, updates=updates,
        seconds=time.perf_counter() - started, stopped_because=stopped_because, curve=curve,
        setup_seconds=setup_seconds,
    )
