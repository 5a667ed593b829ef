import gymnasium as gym
import pytest

from trainer.cli import build_parser
from trainer.tasks.frozenlake import LakeError, LakeSpec
from trainer.tasks.registry import create_task, env_kwargs_with_flags


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


def _env_kwargs(*argv: str) -> dict:
    """Returns the gymnasium.make keyword arguments the CLI's flags ask for."""
    args = build_parser().parse_args(list(argv))
    return env_kwargs_with_flags(args, args.env, args.env_kwargs or {})


def test_flags_become_gymnasium_keyword_arguments():
    assert _env_kwargs() == {}
    assert _env_kwargs("--map", "8x8", "--slippery") == {"map_name": "8x8", "is_slippery": True}
    assert _env_kwargs("--desc", "SFF, FHF ,FFG") == {"desc": ["SFF", "FHF", "FFG"]}
    assert _env_kwargs("--random-map", "6", "--map-seed", "3") == {"desc": list(LakeSpec.create(random_map=6, map_seed=3).desc)}


def test_env_kwargs_make_the_same_lake_as_the_flags():
    by_kwargs = create_task("FrozenLake-v1", {"desc": ["SFF", "FHF", "FFG"], "is_slippery": True})
    by_flags = LakeSpec.create(desc="SFF,FHF,FFG", is_slippery=True).task()
    assert by_kwargs.env_kwargs == by_flags.env_kwargs == {"desc": ["SFF", "FHF", "FFG"], "is_slippery": True}
    assert by_kwargs.default_policy_name == by_flags.default_policy_name == "frozenlake-3x3-custom-slippery"
    assert by_kwargs.layout == by_flags.layout and by_kwargs.max_episode_steps == by_flags.max_episode_steps
    assert create_task("FrozenLake-v1").env_kwargs == {"map_name": "4x4", "is_slippery": False}  # not gymnasium's slippery default


def test_flags_and_env_kwargs_combine_when_they_decide_different_keywords():
    combined = _env_kwargs("--random-map", "5", "--map-seed", "2", "--env-kwargs", '{"success_rate": 0.5}')
    assert combined == {"desc": list(LakeSpec.create(random_map=5, map_seed=2).desc), "success_rate": 0.5}
    task = create_task("FrozenLake-v1", {**combined, "is_slippery": True})
    # gymnasium's success_rate: the chance a slippery move (here, from the start) goes where it was meant to.
    assert task.env_kwargs["success_rate"] == 0.5 and task.table.probs[0].max() == pytest.approx(0.5)


@pytest.mark.parametrize(
    "argv, message",
    [(["--slippery", "--env-kwargs", '{"is_slippery": true}'], "--slippery and 'is_slippery' in --env-kwargs"),
     (["--map", "8x8", "--env-kwargs", '{"desc": ["SG"]}'], "--map and 'desc' in --env-kwargs"),
     (["--random-map", "4", "--env-kwargs", '{"map_name": "4x4"}'], "--random-map and 'map_name' in --env-kwargs"),
     (["--env", "Taxi-v4", "--map", "4x4"], "--map applies only to FrozenLake-v1")],
)
def test_a_flag_and_env_kwargs_deciding_the_same_keyword_are_refused(argv, message):
    with pytest.raises(LakeError, match=message):
        _env_kwargs(*argv)
