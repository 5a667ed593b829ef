import gymnasium as gym
import numpy as np

from trainer.lake import LakeSpec
from trainer.vector_env import VectorLake


def test_deterministic_lake_steps_exactly_like_gymnasium():
    spec = LakeSpec.create("8x8")
    env = gym.make("FrozenLake-v1", **spec.make_kwargs)
    lake = VectorLake(spec.table, n_envs=1, max_episode_steps=spec.max_episode_steps, seed=0)
    rng = np.random.default_rng(1)
    state, _ = env.reset(seed=0)
    lake.reset()
    for _ in range(2000):
        action = int(rng.integers(4))
        state, reward, terminated, truncated, _ = env.step(action)
        result = lake.step(np.array([action]))
        assert (result.final_states[0], result.rewards[0], result.terminated[0], result.truncated[0]) == (
            state, reward, terminated, truncated)
        if terminated or truncated:
            state, _ = env.reset()
        assert result.states[0] == state


def test_slippery_transitions_have_gymnasiums_distribution():
    spec = LakeSpec.create("4x4", is_slippery=True)
    env = gym.make("FrozenLake-v1", **spec.make_kwargs)
    n = 6000
    lake = VectorLake(spec.table, n_envs=n, max_episode_steps=100, seed=0)
    lake.states[:] = 4  # RIGHT from cell 4 slides up to 0, right into hole 5, or down to 8
    ours = np.bincount(lake.step(np.full(n, 2)).final_states, minlength=16) / n
    theirs = np.zeros(16)
    for i in range(n):
        env.reset(seed=i)
        env.unwrapped.s = 4
        next_state, *_ = env.step(2)
        theirs[next_state] += 1 / n
    np.testing.assert_allclose(ours, theirs, atol=0.03)
    assert set(np.flatnonzero(ours)) == set(np.flatnonzero(theirs)) == {0, 5, 8}


def test_episodes_truncate_at_the_step_limit_and_reset_to_start():
    spec = LakeSpec.create("4x4")
    lake = VectorLake(spec.table, n_envs=3, max_episode_steps=5, seed=0)
    lake.reset()
    for step in range(5):
        result = lake.step(np.zeros(3, np.int64))  # LEFT into the wall: never ends by itself
    assert result.truncated.all() and not result.terminated.any()
    assert (result.states == spec.table.start_state).all()
    assert (lake.elapsed == 0).all()
