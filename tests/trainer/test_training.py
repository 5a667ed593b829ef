"""Real training runs on small tasks: they must learn, repeatably."""

import dataclasses

import numpy as np

from trainer.a2c import train
from trainer.config import Hyperparameters
from trainer.evaluation import success_probability
from trainer.tasks.frozenlake import LakeSpec
from trainer.tasks.registry import create_task


def test_deterministic_4x4_is_solved_to_success_one():
    task = LakeSpec.create("4x4").task()
    result = train(task, Hyperparameters(budget=200_000), seed=0)
    assert result.stopped_because == "target"
    assert result.evaluation.value == 1.0 and result.evaluation.success_rate == 1.0
    assert result.evaluation.sampled_value >= 0.9  # sampling from it, as /act does, works too
    every_state = np.arange(16).reshape(-1, 1)
    greedy = np.asarray(result.actor(every_state)).argmax(axis=1)
    assert success_probability(task.table, greedy, task.max_episode_steps) == 1.0


def test_same_seed_gives_the_same_run():
    task = LakeSpec.create("4x4", is_slippery=True).task()
    hp = Hyperparameters(budget=20_000)
    first, second = train(task, hp, seed=3), train(task, hp, seed=3)
    assert first.curve == second.curve
    np.testing.assert_allclose(first.actor.get_weights()[-1], second.actor.get_weights()[-1])


def test_budget_stops_training_and_is_reported():
    task = LakeSpec.create("8x8", is_slippery=True).task()
    hp = dataclasses.replace(Hyperparameters(), budget=5_000)
    result = train(task, hp, seed=0)
    assert result.stopped_because == "budget"
    assert result.env_steps >= 5_000 and result.env_steps < 5_000 + hp.n_envs * hp.n_steps
    assert result.curve[-1][0] == result.env_steps


def test_cliff_greedy_policy_finds_the_13_step_path_along_the_edge():
    task = create_task("CliffWalking-v1")
    hp = dataclasses.replace(task.hyperparameters, target=1.0, sampled_target=0.0, budget=1_000_000)
    result = train(task, hp, seed=0)
    # The safe detours (-15, -17) are what a policy that still explores prefers.
    assert result.stopped_because == "target" and result.evaluation.value == result.evaluation.best == -13.0
    assert result.evaluation.success_rate == 1.0


def test_cartpole_learns_in_a_small_budget_and_is_evaluated_by_monte_carlo():
    task = create_task("CartPole-v1")
    hp = dataclasses.replace(task.hyperparameters, budget=12_000, eval_episodes=10, eval_every=1000)
    untrained = task.evaluate(task.build_models(hp)[0], hp).value
    result = train(task, hp, seed=0)
    trained = result.evaluation.value
    assert result.stopped_because == "budget"
    assert trained > 2 * untrained  # balancing longer than the untrained policy's ~10-20 steps
    assert result.evaluation.metric == "mean_return" and result.evaluation.episodes == 10
    assert result.evaluation.best == 475.0 and result.evaluation.stderr >= 0
    assert result.evaluation.sampled_value is not None
