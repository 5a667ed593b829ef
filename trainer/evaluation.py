"""Exact success probabilities, computed from the transition table instead of sampled.

`success_probability` gives the chance that a fixed policy (one action per cell) reaches
the goal within the step limit; `sampled_success_probability` the same for a policy that
samples its actions, as `/act` does by default. `best_success_probability` gives the best such chance
over policies that see only their cell, which is what "solved" is measured against.
"""

from __future__ import annotations

import numpy as np

from trainer.lake import TransitionTable

METHOD = "exact: transition-table propagation over the step limit (no sampling)"


def _policy_matrices(table: TransitionTable, policy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns (moves, goal_reach) for a policy given as action probabilities per cell (n, A).

    moves[s, s'] is the probability of stepping from non-terminal s to non-terminal s';
    goal_reach[s] is the probability that the step from s pays the reward.
    """
    n = table.n_states
    weight = policy[:, :, None] * table.probs  # P(action, outcome | s)
    moves = np.zeros((n, n))
    rows = np.broadcast_to(np.arange(n)[:, None, None], weight.shape)
    np.add.at(moves, (rows.ravel(), table.next_states.ravel()), (weight * ~table.terminates).ravel())
    goal_reach = (weight * (table.rewards > 0)).sum(axis=(1, 2))
    # Terminal cells are never acted in: an episode that reached one has already ended.
    moves[table.terminal_states] = 0.0
    goal_reach[table.terminal_states] = 0.0
    return moves, goal_reach


def _success(table: TransitionTable, policy: np.ndarray, max_steps: int) -> float:
    moves, goal_reach = _policy_matrices(table, policy)
    occupancy = np.zeros(table.n_states)
    occupancy[table.start_state] = 1.0
    success = 0.0
    for _ in range(max_steps):
        success += occupancy @ goal_reach
        occupancy = occupancy @ moves
    return float(success)


def success_probability(table: TransitionTable, actions: np.ndarray, max_steps: int) -> float:
    """Returns P(reach the goal within max_steps from the start) under `actions[s]` per cell."""
    one_hot = np.eye(table.n_actions)[np.asarray(actions, dtype=np.int64)]
    return _success(table, one_hot, max_steps)


def sampled_success_probability(table: TransitionTable, probabilities: np.ndarray, max_steps: int) -> float:
    """Returns P(reach the goal within max_steps) when each action is sampled from `probabilities[s]`."""
    return _success(table, np.asarray(probabilities, dtype=np.float64), max_steps)


def _finite_horizon_greedy_policies(
    table: TransitionTable, max_steps: int, discount: float
) -> list[np.ndarray]:
    """Returns the greedy action per cell for each number of steps left, 1..max_steps."""
    value = np.zeros(table.n_states)
    pays = table.rewards > 0
    continues = ~table.terminates
    policies = []
    for _ in range(max_steps):
        q = (table.probs * (pays + discount * continues * value[table.next_states])).sum(axis=-1)
        q[table.terminal_states] = 0.0
        policies.append(np.argmax(q, axis=1))
        value = q.max(axis=1)
    return policies


def best_success_probability(table: TransitionTable, max_steps: int) -> tuple[float, np.ndarray]:
    """Returns the best success probability of a cell-only policy within max_steps, and that policy.

    The best policy that also knew the time left is the finite-horizon value iteration's;
    a cell-only policy cannot switch with the clock, so each of its per-step greedy
    policies is evaluated as a fixed policy and the best is kept. Undiscounted values tie
    wherever the goal is reachable in time (walking into a wall costs nothing), so the
    candidates from a slightly discounted iteration, which prefer shorter paths, join them.
    """
    best, best_actions = -1.0, None
    seen = set()
    candidates = [
        actions
        for discount in (1.0, 0.999)
        for actions in reversed(_finite_horizon_greedy_policies(table, max_steps, discount))
    ]
    for actions in candidates:
        key = actions.tobytes()
        if key in seen:
            continue
        seen.add(key)
        success = success_probability(table, actions, max_steps)
        if success > best:
            best, best_actions = success, actions
    return best, best_actions
