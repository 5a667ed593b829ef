"""`gymnasium.make` keyword arguments: they make the environment that is trained, evaluated
and recorded, and gymnasium's refusal of one is a clear error before any training."""

import dataclasses

import pytest

from trainer.tasks.base import TaskError
from trainer.tasks.registry import create_task


def _outcomes_per_move(task) -> int:
    return int((task.table.probs > 0).sum(axis=2).max())


def test_tabular_env_kwargs_make_the_table_that_is_trained_and_evaluated_exactly():
    plain, rainy = create_task("Taxi-v4"), create_task("Taxi-v4", {"is_rainy": True})
    assert plain.env_kwargs == {} and rainy.env_kwargs == {"is_rainy": True}
    # Rain sends some moves sideways: more than one outcome per move, and a lower optimum.
    assert _outcomes_per_move(plain) == 1 and _outcomes_per_move(rainy) > 1
    assert rainy.optimum[0] < plain.optimum[0]
    assert rainy.default_policy_name == "taxi" and rainy.hyperparameters == plain.hyperparameters


def test_box_env_kwargs_reach_the_monte_carlo_evaluation():
    task = create_task("CartPole-v1", {"sutton_barto_reward": True})
    hp = dataclasses.replace(task.hyperparameters, eval_episodes=5)
    evaluation = task.evaluate(task.build_models(hp)[0], hp)
    # Sutton and Barto's reward: 0 a step, -1 for falling, which an untrained policy does
    # long before the step limit (gymnasium's own reward would be +1 a step).
    assert evaluation.value == -1.0 and evaluation.episodes == 5


@pytest.mark.parametrize(
    "env_id, kwargs, message",
    [
        ("CartPole-v1", {"bogus": 1}, "could not make CartPole-v1 with {'bogus': 1}: TypeError"),
        ("Taxi-v4", {"is_rainy": True, "max_episode_steps": 5}, "use --max-episode-steps"),
        ("Taxi-v4", {"render_mode": "human"}, "training renders nothing"),
        ("FrozenLake-v1", {"map_name": "4x4", "desc": ["SG"]}, "choose one of map_name, desc"),
        ("FrozenLake-v1", {"desc": "SFFG"}, "desc must be a list of rows"),
        ("FrozenLake-v1", {"is_slippery": "yes"}, "is_slippery must be true or false"),
        ("FrozenLake-v1", {"desc": ["SFH", "FFG"], "bogus": 1}, "could not make FrozenLake-v1 with"),
    ],
)
def test_env_kwargs_gymnasium_or_the_task_refuses_are_one_clear_error(env_id, kwargs, message):
    with pytest.raises(TaskError, match=message.replace("{", r"\{").replace("}", r"\}")) as refused:
        create_task(env_id, kwargs)
    assert "\n" not in str(refused.value)


def test_kwargs_are_copied_so_the_callers_dict_is_not_the_tasks():
    given = {"is_rainy": True}
    task = create_task("Taxi-v4", given)
    given["is_rainy"] = False
    assert task.env_kwargs == {"is_rainy": True}
