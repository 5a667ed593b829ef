"""How good a policy is: exactly through a transition table, or by Monte Carlo episodes.

Exact (tabular tasks): the distribution over states is propagated step by step from the
initial-state distribution through the table, so the expected return and the chance of
reaching the goal within the step limit are computed, not sampled. The optimum they are
set against is the best policy that sees only its state, found by finite-horizon value
iteration. Monte Carlo (everything else): the mean return of episodes with fixed seeds,
with its standard error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Callable, Literal

import numpy as np
from gymnasium.vector import SyncVectorEnv

from trainer.transitions import TransitionTable

if TYPE_CHECKING:
    from trainer.distributions import ActionDistribution

Metric = Literal["success_rate", "expected_return", "mean_return"]
EXACT_METHOD = "exact: propagated through the transition table over the step limit and initial-state distribution"
# Evaluation episodes use seeds no training environment is given.
EVALUATION_SEED = 1_000_000


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of a policy, in the manifest's terms (schema 2 `evaluation`)."""

    metric: Metric
    value: float  # the greedy policy's figure
    best: float | None  # the optimum (exact) or the env's reward threshold (Monte Carlo)
    method: str
    sampled_value: float | None = None  # the same for actions sampled from the policy
    stderr: float | None = None
    episodes: int | None = None
    success_rate: float | None = None  # the greedy policy's chance of reaching the goal

    def to_manifest(self) -> dict:
        return asdict(self)


def one_hot(actions: np.ndarray, n_actions: int) -> np.ndarray:
    """Returns the (n, n_actions) probabilities of a policy that always takes `actions[s]`."""
    return np.eye(n_actions)[np.asarray(actions, dtype=np.int64)]


def exact_return_and_success(table: TransitionTable, policy: np.ndarray, max_steps: int) -> tuple[float, float]:
    """Returns (expected return, P(reach the goal)) within max_steps for action probabilities `policy[s]`."""
    weight = np.asarray(policy, dtype=np.float64)[:, :, None] * table.probs  # P(action, outcome | s)
    step_reward = (weight * table.rewards).sum(axis=(1, 2))
    step_success = (weight * table.reaches_goal).sum(axis=(1, 2))
    # Only outcomes that do not end the episode carry probability on to the next step.
    flow = weight * ~table.terminates
    source, action, outcome = np.nonzero(flow)
    target, flow = table.next_states[source, action, outcome], flow[source, action, outcome]
    occupancy = table.initial.copy()
    expected_return = success = 0.0
    for _ in range(max_steps):
        expected_return += occupancy @ step_reward
        success += occupancy @ step_success
        occupancy = np.bincount(target, weights=occupancy[source] * flow, minlength=table.n_states)
        if not occupancy.any():
            break
    return float(expected_return), float(success)


def success_probability(table: TransitionTable, actions: np.ndarray, max_steps: int) -> float:
    """Returns P(reach the goal within max_steps) under the fixed policy `actions[s]`."""
    return exact_return_and_success(table, one_hot(actions, table.n_actions), max_steps)[1]


def metric_of(table: TransitionTable, policy: np.ndarray, max_steps: int, metric: Metric) -> float:
    """Returns the exact `metric` ('success_rate' or 'expected_return') of action probabilities `policy[s]`."""
    expected_return, success = exact_return_and_success(table, policy, max_steps)
    return success if metric == "success_rate" else expected_return


def _finite_horizon_greedy_policies(
    table: TransitionTable, rewards: np.ndarray, max_steps: int, discount: float
) -> tuple[list[np.ndarray], np.ndarray]:
    """Returns the greedy action per state for 1..max_steps steps left, and the values with max_steps left."""
    value = np.zeros(table.n_states)
    continues = ~table.terminates
    policies = []
    for _ in range(max_steps):
        q = (table.probs * (rewards + discount * continues * value[table.next_states])).sum(axis=-1)
        policies.append(np.argmax(q, axis=1))
        value = q.max(axis=1)
    return policies, value


def best_stationary_policy(table: TransitionTable, max_steps: int, metric: Metric) -> tuple[float, np.ndarray]:
    """Returns the best `metric` of a policy that sees only its state, within max_steps, and that policy.

    The best policy that also knew the time left is the finite-horizon value iteration's,
    and its value bounds every other. A state-only policy cannot switch with the clock, so
    each per-step greedy policy is evaluated as a fixed policy and the best is kept, longest
    horizon first, stopping once one reaches the bound. Undiscounted values tie wherever
    time is free (where bumping into a wall costs nothing), so the candidates of a slightly
    discounted iteration, which prefer shorter paths, join them.
    """
    rewards = table.reaches_goal.astype(np.float64) if metric == "success_rate" else table.rewards
    policies, values = _finite_horizon_greedy_policies(table, rewards, max_steps, 1.0)
    bound = float(table.initial @ values)
    discounted, _ = _finite_horizon_greedy_policies(table, rewards, max_steps, 0.999)
    best, best_actions, seen = -np.inf, None, set()
    for actions in [*reversed(policies), *reversed(discounted)]:
        key = actions.tobytes()
        if key in seen:
            continue
        seen.add(key)
        value = metric_of(table, one_hot(actions, table.n_actions), max_steps, metric)
        if value > best:
            best, best_actions = value, actions
        if best >= bound - 1e-9 * max(1.0, abs(bound)):
            break
    return best, best_actions


def monte_carlo_returns(
    envs, policy: Callable[[np.ndarray], np.ndarray], distribution: ActionDistribution, greedy: bool,
    rng: np.random.Generator,
) -> np.ndarray:
    """Returns the return of the first episode of every environment in the vector `envs`.

    The vector is reset with seed EVALUATION_SEED (a sync vector seeds environment i with
    EVALUATION_SEED + i, as `gymnasium.make` reset with that seed; a native one draws every
    start from one generator seeded with it), so every evaluation, and every trainer
    compared on it, plays the same starts. A sync vector's environments are stepped one by
    one anyway, so only those still in their first episode are (Acrobot's evaluations cost
    half the steps); a native vector steps all at once, and finished ones no longer count.
    """
    n = envs.num_envs
    observations, _ = envs.reset(seed=EVALUATION_SEED)
    singles = envs.envs if isinstance(envs, SyncVectorEnv) else None
    returns, running = np.zeros(n), np.ones(n, dtype=bool)
    while running.any():
        playing = np.flatnonzero(running) if singles is not None else np.arange(n)
        outputs = policy(observations[playing])
        actions = distribution.to_env(distribution.greedy(outputs) if greedy else distribution.sample(outputs, rng))
        if singles is None:
            observations, rewards, terminated, truncated, _ = envs.step(actions)
        else:
            rewards, terminated, truncated = np.zeros(n), np.zeros(n, bool), np.zeros(n, bool)
            for i, action in zip(playing, actions):
                observations[i], rewards[i], terminated[i], truncated[i], _ = singles[i].step(action)
        returns += np.where(running, rewards, 0.0)
        running &= ~(terminated | truncated)
    return returns
