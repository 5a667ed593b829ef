import gymnasium as gym
import pytest

from trainer.lake import LakeError, LakeSpec


def test_named_maps_get_the_registered_step_limits_and_descriptive_names():
    small, large = LakeSpec.create("4x4"), LakeSpec.create("8x8", is_slippery=True)
    assert small.max_episode_steps == 100 and large.max_episode_steps == 200
    assert small.default_policy_name == "frozenlake-4x4"
    assert large.default_policy_name == "frozenlake-8x8-slippery"
    env = gym.make("FrozenLake-v1", **large.make_kwargs)
    assert env.spec.max_episode_steps == 200


def test_custom_rows_are_passed_as_desc():
    spec = LakeSpec.create(desc="SFF,FHF,FFG")
    assert spec.make_kwargs["desc"] == ["SFF", "FHF", "FFG"]
    assert spec.default_policy_name == "frozenlake-3x3-custom"
    assert spec.table.n_states == 9


def test_random_maps_are_repeatable_by_map_seed():
    first = LakeSpec.create(random_map=6, map_seed=3)
    again = LakeSpec.create(random_map=6, map_seed=3)
    assert first.desc == again.desc and len(first.desc) == 6


@pytest.mark.parametrize(
    "desc, message",
    [("SFF,FG", "same length"), ("SXF,FFG,FFF", "unknown tiles"), ("FFF,FFG,FFF", "exactly one start"),
     ("SFF,FFF,FFF", "goal")],
)
def test_impossible_maps_are_refused_with_a_reason(desc, message):
    with pytest.raises(LakeError, match=message):
        LakeSpec.create(desc=desc)


def test_unknown_map_name_is_refused():
    with pytest.raises(LakeError, match="unknown map"):
        LakeSpec.create(map_name="5x5")
