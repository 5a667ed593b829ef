"""Which task an env id is: the ones tuned here, and any other with discrete actions.

Tuned tasks carry their action names, grid layout, step limit and hyperparameters. Any
other env id is accepted if its actions are `Discrete` and its observations are either
discrete with a transition table or a float `Box`; anything else is refused with the reason.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np

from trainer.config import Hyperparameters
from trainer.tasks import Task, TaskError, policy_name_of
from trainer.tasks.box import BoxTask
from trainer.tasks.tabular import TabularTask

MAX_EPISODE_STEPS = 100_000
# Where gymnasium registers no step limit (CliffWalking), a tabular env gets 100 steps:
# 7x the 13 of the cliff's shortest path, ample for the slippery cliff's detour, and a bad
# policy's episodes (and their -100s) stay bounded, as the exact evaluation needs.
TABULAR_STEP_LIMIT = 100
# A Box env without a registered limit needs one too, or a Monte Carlo evaluation may never end.
BOX_STEP_LIMIT = 1000
MAX_OBSERVATION_ELEMENTS = 4096  # the artifact format's cap
LAKE_FLAGS = {"map_name": "--map", "desc": "--desc", "random_map": "--random-map", "map_seed": "--map-seed",
              "is_slippery": "--slippery"}

_TABULAR = Hyperparameters()
# Box: 16 environments x 8 steps = 128 samples per update (SB3's A2C takes 8 x 5), with a
# larger learning rate than SB3's 7e-4, since a Keras call costs about half a millisecond
# whatever the batch. Screened every 5k env steps: a policy that balances is found early.
_BOX = dataclasses.replace(
    _TABULAR, n_envs=16, n_steps=8, actor_learning_rate=3e-3, critic_learning_rate=3e-3,
    entropy_coef=0.0, entropy_coef_final=0.0, hidden_units=64, hidden_layers=2,
    normalize_advantages=True, eval_every=40, budget=1_000_000,
)
# Taxi's and CliffWalking's returns run to the hundreds (-10 for a wrong drop-off, -100 for
# the cliff): scaled by 0.1 for learning, with faster learning rates than FrozenLake's.
_TAXI_CLIFF = dict(n_envs=64, reward_scale=0.1, actor_learning_rate=0.03, critic_learning_rate=0.1)
CLIFF_LAYOUT = {
    "rows": ["." * 12, "." * 12, "." * 12, "S" + "C" * 10 + "G"],
    "legend": {"S": "start", ".": "ground", "C": "cliff (-100, back to start)", "G": "goal"},
    "terminal": "G",
}

# env id -> what a task knows beyond gymnasium: policy name, action names, goal, layout, hyperparameters.
TUNED = {
    "Taxi-v4": dict(
        policy="taxi", actions=("SOUTH", "NORTH", "EAST", "WEST", "PICKUP", "DROPOFF"),
        goal="termination", hp=dataclasses.replace(_TABULAR, **_TAXI_CLIFF),
    ),
    "CliffWalking-v1": dict(
        policy="cliffwalking", actions=("UP", "RIGHT", "DOWN", "LEFT"), goal="termination",
        # The entropy bonus starts 50x FrozenLake's and decays to 0 over 1M steps: the policy
        # keeps trying the row along the cliff until it has learned never to step down there,
        # and the greedy policy finds the 13-step path (a faster decay settles on -15 or -17).
        layout=CLIFF_LAYOUT, hp=dataclasses.replace(_TABULAR, **_TAXI_CLIFF, budget=2_000_000, entropy_coef=1.0,
                                                    entropy_coef_final=0.0, decay_env_steps=1_000_000),
    ),
    "CliffWalkingSlippery-v1": dict(
        policy="cliffwalking-slippery", actions=("UP", "RIGHT", "DOWN", "LEFT"), goal="termination",
        layout=CLIFF_LAYOUT, hp=dataclasses.replace(_TABULAR, **_TAXI_CLIFF, budget=500_000),
    ),
    # CartPole's evaluations step a native vector, so it is screened 4x as often; it also
    # takes twice the learning rate (Acrobot's runs stall at that rate).
    "CartPole-v1": dict(policy="cartpole", actions=("LEFT", "RIGHT"), hp=dataclasses.replace(
        _BOX, actor_learning_rate=6e-3, critic_learning_rate=6e-3, eval_every=10)),
    "Acrobot-v1": dict(policy="acrobot", hp=_BOX),
}


def _make(env_id: str) -> tuple[gym.Env, gym.envs.registration.EnvSpec]:
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as exc:
        raise TaskError(f"unknown environment {env_id!r}: {exc}") from None
    try:
        return gym.make(env_id), spec
    except Exception as exc:  # a missing optional dependency, a broken env: one clear line
        raise TaskError(f"could not make {env_id}: {type(exc).__name__}: {exc}") from None


def create(env_id: str, max_episode_steps: int | None, target_return: float | None, **lake_options) -> Task:
    """Returns the task for env_id (see `trainer.tasks.create_task`), or raises TaskError."""
    if max_episode_steps is not None and not 1 <= max_episode_steps <= MAX_EPISODE_STEPS:
        raise TaskError(f"--max-episode-steps must be between 1 and {MAX_EPISODE_STEPS}, got {max_episode_steps}")
    if env_id == "FrozenLake-v1":
        from trainer.lake import frozen_lake_task

        if target_return is not None:
            raise TaskError("--target-return is for Box-observation envs; tabular ones stop on --target")
        return frozen_lake_task(max_episode_steps=max_episode_steps, **lake_options)
    given = [LAKE_FLAGS.get(name, name) for name, value in lake_options.items() if value not in (None, False)]
    if given:
        raise TaskError(f"{given[0]} applies only to FrozenLake-v1")

    env, spec = _make(env_id)
    tuned = TUNED.get(env_id, {})
    if not isinstance(env.action_space, gym.spaces.Discrete) or int(env.action_space.start) != 0:
        raise TaskError(f"{env_id} has {env.action_space} actions: only Discrete actions starting at 0 are supported")
    n_actions = int(env.action_space.n)
    steps = max_episode_steps or spec.max_episode_steps
    common = dict(
        env_id=env_id, env_kwargs={}, default_policy_name=tuned.get("policy") or policy_name_of(env_id),
        action_names=tuned.get("actions") or tuple(str(a) for a in range(n_actions)),
        layout=tuned.get("layout"),
    )
    space = env.observation_space
    if isinstance(space, gym.spaces.Discrete):
        if target_return is not None:
            raise TaskError("--target-return is for Box-observation envs; tabular ones stop on --target")
        base = env.unwrapped
        if int(space.start) != 0 or not hasattr(base, "P") or not hasattr(base, "initial_state_distrib"):
            raise TaskError(f"{env_id} has discrete observations but no transition table (env.unwrapped.P)")
        return TabularTask(
            **common, max_episode_steps=steps or TABULAR_STEP_LIMIT, metric="expected_return",
            goal=tuned.get("goal"), hyperparameters=tuned.get("hp", _TABULAR),
        )
    if isinstance(space, gym.spaces.Box):
        if space.dtype not in (np.float32, np.float64):
            raise TaskError(f"{env_id} has {space.dtype} Box observations: only float32/float64 are supported")
        if space.shape is None or not 1 <= len(space.shape) <= 4 or int(np.prod(space.shape)) > MAX_OBSERVATION_ELEMENTS:
            raise TaskError(f"{env_id} observations of shape {space.shape} are not supported "
                            f"(1 to 4 dimensions, at most {MAX_OBSERVATION_ELEMENTS} elements)")
        return BoxTask(
            **common, max_episode_steps=steps or BOX_STEP_LIMIT, observation_space=space,
            target_return=target_return if target_return is not None else spec.reward_threshold,
            hyperparameters=tuned.get("hp", _BOX),
        )
    raise TaskError(f"{env_id} has {type(space).__name__} observations: only Discrete (with a transition "
                    "table) and float Box observations are supported")
