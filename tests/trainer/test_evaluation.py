"""Exact evaluation against hand-computed cases and against playing gymnasium itself."""

import gymnasium as gym
import numpy as np
import pytest

from trainer.evaluation import (
    EVALUATION_SEED, exact_return_and_success, monte_carlo_returns, one_hot,
    success_probability,
)
from trainer.tasks.frozenlake import LakeSpec
from trainer.tasks.registry import create_task
from trainer.tasks.tabular import within_target

DOWN, RIGHT, LEFT = 1, 2, 0


def play(task, choose_action, episodes, seed=0):
    """Returns the returns of `episodes` episodes of gymnasium's own env, actions from choose_action(state, rng)."""
    env, rng = task.make_env(), np.random.default_rng(seed)
    returns = []
    for episode in range(episodes):
        state, _ = env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            state, reward, terminated, truncated, _ = env.step(int(choose_action(state, rng)))
            total += reward
            done = terminated or truncated
        returns.append(total)
    return np.array(returns)


@pytest.mark.parametrize(
    "map_name, slippery, expected",
    [("4x4", False, 1.0), ("8x8", False, 1.0), ("4x4", True, 0.7402)],
)
def test_best_possible_success_matches_known_values(map_name, slippery, expected):
    task = LakeSpec.create(map_name, is_slippery=slippery).task()
    assert task.optimum[0] == pytest.approx(expected, abs=5e-4)


def test_a_policy_that_walks_into_a_wall_never_succeeds():
    task = LakeSpec.create("4x4").task()
    assert success_probability(task.table, np.full(16, LEFT), 100) == 0.0


def test_the_step_limit_cuts_off_a_path_that_is_too_long():
    task = LakeSpec.create("4x4").task()
    # DOWN, DOWN, RIGHT, RIGHT, DOWN, RIGHT: the seed's path, six steps long.
    actions = np.full(16, DOWN)
    actions[[8, 9, 14]] = RIGHT
    assert success_probability(task.table, actions, 6) == 1.0
    assert success_probability(task.table, actions, 5) == 0.0


def test_exact_success_agrees_with_playing_gymnasium_itself():
    task = LakeSpec.create("4x4", is_slippery=True).task()
    actions = task.optimum[1]
    exact = success_probability(task.table, actions, task.max_episode_steps)
    wins = play(task, lambda s, rng: actions[s], 3000) > 0
    standard_error = np.sqrt(exact * (1 - exact) / len(wins))
    assert abs(wins.mean() - exact) < 4 * standard_error


def test_exact_sampled_success_agrees_with_sampling_actions_in_gymnasium():
    # A policy that mixes its actions, evaluated exactly, against the same policy played.
    task = LakeSpec.create("4x4", is_slippery=True).task()
    mixed = 0.6 * one_hot(task.optimum[1], 4) + 0.1
    _, exact = exact_return_and_success(task.table, mixed, task.max_episode_steps)
    wins = play(task, lambda s, rng: rng.choice(4, p=mixed[s]), 3000) > 0
    assert abs(wins.mean() - exact) < 4 * np.sqrt(exact * (1 - exact) / len(wins))
    assert 0.05 < exact < task.optimum[0] - 0.05  # a real mixture, not a sure policy in disguise


def test_sampled_success_mixes_the_outcomes_of_its_actions():
    # On the one-row lake "SG", RIGHT reaches the goal and LEFT bumps into the wall.
    task = LakeSpec.create(desc="SG").task()
    half = np.tile([0.5, 0.0, 0.5, 0.0], (2, 1))  # LEFT or RIGHT, evenly
    # Success within 1 step is 0.5; within 2 steps 0.5 + 0.25.
    assert exact_return_and_success(task.table, half, 1)[1] == pytest.approx(0.5)
    assert exact_return_and_success(task.table, half, 2)[1] == pytest.approx(0.75)


def test_cliff_optimum_is_the_13_step_path_along_the_edge():
    # Up, eleven steps right, down: 13 steps at -1, the hand-counted shortest safe path.
    task = create_task("CliffWalking-v1")
    best, actions = task.optimum
    assert best == -13.0
    assert exact_return_and_success(task.table, one_hot(actions, 4), task.max_episode_steps) == (-13.0, 1.0)


def test_cliff_optimum_within_a_step_limit_too_short_to_reach_the_goal_is_to_stay_safe():
    # 12 steps cannot reach the goal (13 needed): the best is 12 steps at -1, no cliff.
    task = create_task("CliffWalking-v1", max_episode_steps=12)
    assert task.optimum[0] == -12.0
    expected_return, success = exact_return_and_success(task.table, one_hot(task.optimum[1], 4), 12)
    assert (expected_return, success) == (-12.0, 0.0)


def test_a_cliff_walk_straight_right_costs_100_per_step():
    task = create_task("CliffWalking-v1")
    assert exact_return_and_success(task.table, one_hot(np.full(48, RIGHT - 1), 4), 10) == (-1000.0, 0.0)


@pytest.mark.parametrize("env_id", ["Taxi-v4", "CliffWalkingSlippery-v1"])
def test_exact_expected_return_agrees_with_playing_gymnasium_from_its_random_starts(env_id):
    task = create_task(env_id)
    actions = task.optimum[1]
    exact, _ = exact_return_and_success(task.table, one_hot(actions, task.n_actions), task.max_episode_steps)
    played = play(task, lambda s, rng: actions[s], 1500)
    assert abs(played.mean() - exact) < 4 * played.std(ddof=1) / np.sqrt(len(played)) + 1e-9
    assert task.optimum[0] == pytest.approx(exact)


def test_taxi_optimum_is_positive_and_any_policy_is_within_its_bound():
    task = create_task("Taxi-v4")
    best, _ = task.optimum
    assert 7.0 < best < 9.0  # ~8 on average: 20 for the drop-off minus about a dozen moves
    uniform = np.full((500, 6), 1 / 6)
    assert exact_return_and_success(task.table, uniform, 200)[0] < best


@pytest.mark.parametrize(
    "value, optimum, fraction, reached",
    [(0.98, 1.0, 0.98, True), (0.97, 1.0, 0.98, False), (-13.0, -13.0, 0.98, True), (-14.0, -13.0, 0.98, False),
     (-13.2, -13.0, 0.98, True), (7.8, 7.93, 0.98, True)],
)
def test_target_is_relative_to_the_size_of_the_optimum_whatever_its_sign(value, optimum, fraction, reached):
    assert within_target(value, optimum, fraction) is reached


def test_monte_carlo_returns_are_the_returns_of_gymnasiums_seeded_episodes():
    task = create_task("CartPole-v1")
    always_left = lambda observations: np.tile([1.0, 0.0], (len(observations), 1))  # noqa: E731
    ours = monte_carlo_returns(task.make_vec(5, "sync"), always_left, task.distribution, greedy=True,
                               rng=np.random.default_rng(0))
    theirs = []
    for i in range(5):
        env = gym.make("CartPole-v1")
        env.reset(seed=EVALUATION_SEED + i)
        steps, done = 0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(0)
            steps += reward
            done = terminated or truncated
        theirs.append(steps)
    np.testing.assert_array_equal(ours, theirs)
    assert 5 <= ours.min() and ours.max() < 20  # pushing left topples the pole within a few steps
