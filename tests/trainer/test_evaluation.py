import gymnasium as gym
import numpy as np
import pytest

from trainer.evaluation import best_success_probability, sampled_success_probability, success_probability
from trainer.lake import LakeSpec

DOWN, RIGHT, LEFT = 1, 2, 0


@pytest.mark.parametrize(
    "map_name, slippery, expected",
    [("4x4", False, 1.0), ("8x8", False, 1.0), ("4x4", True, 0.7402)],
)
def test_best_possible_success_matches_known_values(map_name, slippery, expected):
    spec = LakeSpec.create(map_name, is_slippery=slippery)
    best, _ = best_success_probability(spec.table, spec.max_episode_steps)
    assert best == pytest.approx(expected, abs=5e-4)


def test_a_policy_that_walks_into_a_wall_never_succeeds():
    spec = LakeSpec.create("4x4")
    assert success_probability(spec.table, np.full(16, LEFT), 100) == 0.0


def test_the_step_limit_cuts_off_a_path_that_is_too_long():
    spec = LakeSpec.create("4x4")
    # DOWN, DOWN, RIGHT, RIGHT, DOWN, RIGHT: the seed's path, six steps long.
    actions = np.full(16, DOWN)
    actions[[8, 9, 14]] = RIGHT
    assert success_probability(spec.table, actions, 6) == 1.0
    assert success_probability(spec.table, actions, 5) == 0.0


def test_exact_success_agrees_with_playing_gymnasium_itself():
    spec = LakeSpec.create("4x4", is_slippery=True)
    _, actions = best_success_probability(spec.table, spec.max_episode_steps)
    exact = success_probability(spec.table, actions, spec.max_episode_steps)
    env = gym.make("FrozenLake-v1", **spec.make_kwargs)
    episodes, wins = 3000, 0
    for episode in range(episodes):
        state, _ = env.reset(seed=episode)
        done = False
        while not done:
            state, reward, terminated, truncated, _ = env.step(int(actions[state]))
            done = terminated or truncated
        wins += reward > 0
    standard_error = np.sqrt(exact * (1 - exact) / episodes)
    assert abs(wins / episodes - exact) < 4 * standard_error


def test_sampled_success_of_a_sure_policy_equals_its_greedy_success():
    spec = LakeSpec.create("4x4", is_slippery=True)
    _, actions = best_success_probability(spec.table, spec.max_episode_steps)
    sure = np.eye(4)[actions]
    assert sampled_success_probability(spec.table, sure, 100) == pytest.approx(
        success_probability(spec.table, actions, 100))


def test_sampled_success_mixes_the_outcomes_of_its_actions():
    # On the one-row lake "SG", RIGHT reaches the goal and LEFT bumps into the wall.
    spec = LakeSpec.create(desc="SG")
    half = np.tile([0.5, 0.0, 0.5, 0.0], (2, 1))  # LEFT or RIGHT, evenly
    # Success within 1 step is 0.5; within 2 steps 0.5 + 0.25.
    assert sampled_success_probability(spec.table, half, 1) == pytest.approx(0.5)
    assert sampled_success_probability(spec.table, half, 2) == pytest.approx(0.75)
