import gymnasium as gym
import numpy as np
import pytest

from trainer.tasks.frozenlake import LakeSpec
from trainer.tasks.registry import create_task
from trainer.vector_env import VectorGym, VectorTable


def step_both_with_random_actions(task, steps, seed=0):
    """Steps gymnasium's env and a one-env VectorTable with the same actions and the same
    outcomes (the table's draws are forced to gymnasium's by re-syncing after each step)."""
    env = task.make_env()
    table = VectorTable(task.table, n_envs=1, max_episode_steps=task.max_episode_steps, seed=seed)
    rng = np.random.default_rng(1)
    state, _ = env.reset(seed=seed)
    table.observations[:] = state
    for _ in range(steps):
        action = int(rng.integers(task.n_actions))
        state, reward, terminated, truncated, _ = env.step(action)
        result = table.step(np.array([action]))
        yield state, reward, terminated, truncated, result
        if terminated or truncated:
            state, _ = env.reset()
            table.observations[:] = state  # a random start (Taxi): follow gymnasium's draw


@pytest.mark.parametrize("env_id", ["Taxi-v4", "CliffWalking-v1"])
def test_deterministic_tables_step_exactly_like_gymnasium(env_id):
    task = create_task(env_id)
    for state, reward, terminated, truncated, result in step_both_with_random_actions(task, 3000):
        assert (result.final_observations[0], result.rewards[0], result.terminated[0], result.truncated[0]) == (
            state, reward, terminated, truncated)


def test_deterministic_lake_steps_exactly_like_gymnasium():
    task = LakeSpec.create("8x8").task()
    for state, reward, terminated, truncated, result in step_both_with_random_actions(task, 2000):
        assert (result.final_observations[0], result.rewards[0], result.terminated[0], result.truncated[0]) == (
            state, reward, terminated, truncated)
        if not (terminated or truncated):
            assert result.observations[0] == state


def test_slippery_transitions_have_gymnasiums_distribution():
    task = LakeSpec.create("4x4", is_slippery=True).task()
    env = task.make_env()
    n = 6000
    lake = VectorTable(task.table, n_envs=n, max_episode_steps=100, seed=0)
    lake.observations[:] = 4  # RIGHT from cell 4 slides up to 0, right into hole 5, or down to 8
    ours = np.bincount(lake.step(np.full(n, 2)).final_observations, minlength=16) / n
    theirs = np.zeros(16)
    for i in range(n):
        env.reset(seed=i)
        env.unwrapped.s = 4
        next_state, *_ = env.step(2)
        theirs[next_state] += 1 / n
    np.testing.assert_allclose(ours, theirs, atol=0.03)
    assert set(np.flatnonzero(ours)) == set(np.flatnonzero(theirs)) == {0, 5, 8}


def test_random_starts_follow_the_initial_state_distribution():
    task = create_task("Taxi-v4")
    starts = VectorTable(task.table, n_envs=30_000, max_episode_steps=200, seed=0).observations
    env = task.make_env()
    theirs = np.array([env.reset(seed=i)[0] for i in range(3000)])
    assert set(np.unique(starts)) == set(np.flatnonzero(task.table.initial)) >= set(theirs)
    assert len(np.unique(starts)) == 300  # Taxi starts anywhere but with the passenger in the cab or delivered


def test_cliff_steps_cost_100_and_return_to_start_without_ending():
    task = create_task("CliffWalking-v1")
    table = VectorTable(task.table, n_envs=1, max_episode_steps=100, seed=0)
    result = table.step(np.array([1]))  # RIGHT from the start (36) is the cliff
    assert (result.rewards[0], result.terminated[0], result.observations[0]) == (-100, False, 36)


def test_episodes_truncate_at_the_step_limit_and_restart():
    task = LakeSpec.create("4x4").task()
    lake = VectorTable(task.table, n_envs=3, max_episode_steps=5, seed=0)
    for step in range(5):
        result = lake.step(np.zeros(3, np.int64))  # LEFT into the wall: never ends by itself
    assert result.truncated.all() and not result.terminated.any()
    assert (result.observations == 0).all() and (lake.elapsed == 0).all()


def test_gymnasium_vectors_mark_the_reset_step_as_not_acted():
    envs = gym.make_vec("CartPole-v1", num_envs=2, max_episode_steps=3)
    vector = VectorGym(envs, seed=0)
    acted = [vector.step(np.zeros(2, np.int64)).acted.copy() for _ in range(5)]
    # Steps 1-3 play the episode (the third is truncated), step 4 only resets, step 5 plays again.
    assert [a.all() for a in acted] == [True, True, True, False, True]
    assert vector.episodes_finished == 2
