import gymnasium as gym
import pytest

from trainer.tasks.frozenlake import LakeError, LakeSpec


def test_named_maps_get_the_registered_step_limits_and_descriptive_names():
    small, large = LakeSpec.create("4x4"), LakeSpec.create("8x8", is_slippery=True)
    assert small.max_episode_steps == 100 and large.max_episode_steps == 200
    assert small.default_policy_name == "frozenlake-4x4"
    assert large.default_policy_name == "frozenlake-8x8-slippery"
    env = gym.make("FrozenLake-v1", max_episode_steps=large.max_episode_steps, **large.make_kwargs)
    assert env.spec.max_episode_steps == 200


def test_no_map_option_means_the_4x4_map():
    assert LakeSpec.create().map_name == "4x4"


def test_custom_rows_are_passed_as_desc():
    spec = LakeSpec.create(desc="SFF,FHF,FFG")
    assert spec.make_kwargs["desc"] == ["SFF", "FHF", "FFG"]
    assert spec.default_policy_name == "frozenlake-3x3-custom"
    task = spec.task()
    assert task.table.n_states == 9
    assert task.layout["rows"] == ["SFF", "FHF", "FFG"] and task.layout["terminal"] == "HG"


def test_random_maps_are_repeatable_by_map_seed():
    first = LakeSpec.create(random_map=6, map_seed=3)
    again = LakeSpec.create(random_map=6, map_seed=3)
    assert first.desc == again.desc and len(first.desc) == 6


@pytest.mark.parametrize(
    "desc, message",
    [("SFF,FG", "same length"), ("SXF,FFG,FFF", "unknown tiles"), ("FFF,FFG,FFF", "exactly one start"),
     ("SFF,FFF,FFF", "goal"), ("", "empty")],
)
def test_impossible_maps_are_refused_with_a_reason(desc, message):
    with pytest.raises(LakeError, match=message):
        LakeSpec.create(desc=desc)


@pytest.mark.parametrize(
    "options, message",
    [(dict(map_name="5x5"), "unknown map"), (dict(random_map=0), "between 2 and 64"),
     (dict(random_map=4, map_seed=-1), "--map-seed"), (dict(map_seed=3), "needs --random-map"),
     (dict(map_name="4x4", desc="SG"), "choose one of")],
)
def test_impossible_options_are_refused(options, message):
    with pytest.raises(LakeError, match=message):
        LakeSpec.create(**options)
