"""A2C on FrozenLake with Keras computing every gradient from loss functions.

One update reads top to bottom: look up the policy for the rollout, collect the rollout
from all environments at once, compute advantages and returns, fit the critic (MSE on
returns) and the actor (`ActorLoss` on [action, advantage]) with `train_on_batch`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import keras
import numpy as np

from trainer.advantages import generalized_advantages
from trainer.config import Hyperparameters
from trainer.evaluation import best_success_probability, sampled_success_probability, success_probability
from trainer.lake import LakeSpec
from trainer.losses import ActorLoss, pack_targets
from trainer.models import build_actor, build_critic
from trainer.vector_env import VectorLake


@dataclass
class Progress:
    env_steps: int
    episodes: int
    updates: int
    greedy_success: float
    optimal_success: float


@dataclass
class TrainingResult:
    actor: keras.Model
    critic: keras.Model
    success_rate: float
    sampled_success_rate: float
    optimal_success_rate: float
    env_steps: int
    updates: int
    seconds: float
    stopped_because: str
    curve: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class Rollout:
    states: np.ndarray  # (n_steps, n_envs) states acted in
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_states: np.ndarray  # the state each step reached, before any reset


def linear_schedule(start: float, final: float, progress: float) -> float:
    """Returns start moved linearly towards final; progress 0 -> start, >= 1 -> final."""
    return start + (final - start) * min(max(progress, 0.0), 1.0)


def sample_actions(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Returns one action per row of `probabilities` (rows sum to 1), by inverse CDF."""
    cumulative = np.cumsum(probabilities, axis=1)
    draws = rng.random(len(probabilities))[:, None]
    return np.minimum((draws >= cumulative).sum(axis=1), probabilities.shape[1] - 1)


def collect_rollout(
    env: VectorLake, policy_table: np.ndarray, n_steps: int, rng: np.random.Generator
) -> Rollout:
    """Returns n_steps of experience from every environment, acting by `policy_table[state]`.

    The policy does not change during a rollout, so it is looked up from a table of every
    state's probabilities made by one batched actor call, not by a model call per step.
    """
    shape = (n_steps, env.n_envs)
    rollout = Rollout(
        states=np.zeros(shape, np.int64), actions=np.zeros(shape, np.int64),
        rewards=np.zeros(shape), terminated=np.zeros(shape, bool),
        truncated=np.zeros(shape, bool), final_states=np.zeros(shape, np.int64),
    )
    for t in range(n_steps):
        rollout.states[t] = env.states
        rollout.actions[t] = sample_actions(policy_table[env.states], rng)
        step = env.step(rollout.actions[t])
        rollout.rewards[t], rollout.final_states[t] = step.rewards, step.final_states
        rollout.terminated[t], rollout.truncated[t] = step.terminated, step.truncated
    return rollout


def build_models(n_states: int, n_actions: int, hp: Hyperparameters) -> tuple[keras.Model, keras.Model, ActorLoss]:
    """Returns the compiled actor and critic, and the actor's loss (its entropy weight is scheduled)."""
    actor = build_actor(n_states, n_actions, hp.hidden_units)
    critic = build_critic(n_states, hp.hidden_units)
    actor_loss = ActorLoss(entropy_coef=hp.entropy_coef)
    actor.compile(optimizer=keras.optimizers.Adam(hp.actor_learning_rate), loss=actor_loss)
    critic.compile(optimizer=keras.optimizers.Adam(hp.critic_learning_rate), loss="mse")
    return actor, critic, actor_loss


def train(
    spec: LakeSpec,
    hp: Hyperparameters,
    seed: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> TrainingResult:
    """Returns trained models once the greedy policy reaches the target or the budget is spent."""
    started = time.perf_counter()
    if seed is not None:
        keras.utils.set_random_seed(seed)
    table = spec.table
    optimal, _ = best_success_probability(table, spec.max_episode_steps)
    target = hp.target * optimal
    actor, critic, actor_loss = build_models(table.n_states, table.n_actions, hp)
    env = VectorLake(table, hp.n_envs, spec.max_episode_steps, seed)
    rng = np.random.default_rng(None if seed is None else seed + 1)
    every_state = np.arange(table.n_states, dtype=np.int32).reshape(-1, 1)

    env_steps = updates = 0
    success, curve, stopped_because = 0.0, [], "budget"
    while env_steps < hp.budget:
        progress = env_steps / max(hp.decay_env_steps, 1)
        policy = np.asarray(actor.predict_on_batch(every_state), dtype=np.float64)
        policy /= policy.sum(axis=1, keepdims=True)
        if updates % hp.eval_every == 0:
            success = success_probability(table, policy.argmax(axis=1), spec.max_episode_steps)
            curve.append((env_steps, round(success, 6)))
            if on_progress:
                on_progress(Progress(env_steps, env.episodes_finished, updates, success, optimal))
            # A policy whose argmax is right but whose probabilities are still nearly uniform
            # would serve mostly random samples: both must be good before training stops.
            if success >= target and (
                hp.sampled_target == 0.0
                or sampled_success_probability(table, policy, spec.max_episode_steps) >= hp.sampled_target * optimal
            ):
                stopped_because = "target"
                break
        # Epsilon-greedy exploration, the seed's idea, decays to epsilon_final.
        epsilon = linear_schedule(hp.epsilon_start, hp.epsilon_final, progress)
        behaviour = (1.0 - epsilon) * policy + epsilon / table.n_actions
        rollout = collect_rollout(env, behaviour, hp.n_steps, rng)

        values = np.asarray(critic.predict_on_batch(every_state), dtype=np.float64).reshape(-1)
        advantages, returns = generalized_advantages(
            rollout.rewards, values[rollout.states], values[rollout.final_states],
            rollout.terminated, rollout.truncated, hp.gamma, hp.gae_lambda,
        )
        if hp.normalize_advantages:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

        states = rollout.states.reshape(-1, 1).astype(np.int32)
        critic.train_on_batch(states, returns.reshape(-1, 1).astype(np.float32))
        actor_loss.entropy_coef.assign(linear_schedule(hp.entropy_coef, hp.entropy_coef_final, progress))
        actor.train_on_batch(states, pack_targets(rollout.actions.ravel(), advantages.ravel()))
        env_steps += hp.n_steps * hp.n_envs
        updates += 1
    else:
        policy = np.asarray(actor.predict_on_batch(every_state), dtype=np.float64)
        success = success_probability(table, policy.argmax(axis=1), spec.max_episode_steps)
        curve.append((env_steps, round(success, 6)))
        if on_progress:
            on_progress(Progress(env_steps, env.episodes_finished, updates, success, optimal))

    sampled = sampled_success_probability(table, policy, spec.max_episode_steps)
    return TrainingResult(
        actor=actor, critic=critic, success_rate=success, sampled_success_rate=sampled,
        optimal_success_rate=optimal,
        env_steps=env_steps, updates=updates, seconds=time.perf_counter() - started,
        stopped_because=stopped_because, curve=curve,
    )
