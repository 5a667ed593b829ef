"""Real training runs on small lakes: they must solve them, repeatably."""

import dataclasses

import numpy as np

from trainer.a2c import train
from trainer.config import Hyperparameters
from trainer.evaluation import success_probability
from trainer.lake import LakeSpec


def test_deterministic_4x4_is_solved_to_success_one():
    spec = LakeSpec.create("4x4")
    result = train(spec, Hyperparameters(budget=200_000), seed=0)
    assert result.stopped_because == "target"
    assert result.success_rate == 1.0
    assert result.sampled_success_rate >= 0.9  # sampling from it, as /act does, works too
    every_state = np.arange(16).reshape(-1, 1)
    greedy = np.asarray(result.actor(every_state)).argmax(axis=1)
    assert success_probability(spec.table, greedy, spec.max_episode_steps) == 1.0


def test_same_seed_gives_the_same_run():
    spec = LakeSpec.create("4x4", is_slippery=True)
    hp = Hyperparameters(budget=20_000)
    first, second = train(spec, hp, seed=3), train(spec, hp, seed=3)
    assert first.curve == second.curve
    np.testing.assert_allclose(first.actor.get_weights()[-1], second.actor.get_weights()[-1])


def test_budget_stops_training_and_is_reported():
    spec = LakeSpec.create("8x8", is_slippery=True)
    hp = dataclasses.replace(Hyperparameters(), budget=5_000)
    result = train(spec, hp, seed=0)
    assert result.stopped_because == "budget"
    assert result.env_steps >= 5_000 and result.env_steps < 5_000 + hp.n_envs * hp.n_steps
    assert result.curve[-1][0] == result.env_steps
