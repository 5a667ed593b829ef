"""Which task an env id and its `gymnasium.make` keyword arguments are.

An env id with a module of its own (`OWN_MODULES`) is built by that module. Any other is
made with gymnasium, as `gymnasium.make` takes it (`module:id` imports the module that
registers the env first), and accepted if its actions are `Discrete` and its observations
are either discrete with a transition table or a float `Box`; anything else is refused with
the reason. The catalogue adds what the tasks tuned here know beyond gymnasium.
"""

from __future__ import annotations

import argparse
import importlib

import gymnasium as gym
import numpy as np

from policy_artifacts.spaces import MAX_ACTION_ELEMENTS, MAX_OBSERVATION_ELEMENTS
from policy_artifacts.store import first_line
from trainer.tasks import frozenlake
from trainer.tasks.base import Task, TaskError
from trainer.tasks.box import BoxTask
from trainer.tasks.catalogue import BOX, CONTROL, TABULAR, TUNED, UNTUNED
from trainer.tasks.tabular import TabularTask

MAX_EPISODE_STEPS = 100_000
# Where gymnasium registers no step limit (CliffWalking), a tabular env gets 100 steps:
# 7x the 13 of the cliff's shortest path, ample for the slippery cliff's detour, and a bad
# policy's episodes (and their -100s) stay bounded, as the exact evaluation needs.
TABULAR_STEP_LIMIT = 100
# A Box env without a registered limit needs one too, or a Monte Carlo evaluation may never end.
BOX_STEP_LIMIT = 1000
# Arguments of `gymnasium.make` itself, not of the env: the trainer sets them.
RESERVED_KWARGS = {"max_episode_steps": "use --max-episode-steps", "render_mode": "training renders nothing"}
# An env id whose task is more than the catalogue's data has a module of its own: it builds
# the task from the keyword arguments (`create_task`) and owns the CLI flags that make them
# (`add_flags`, `env_kwargs_with_flags`).
OWN_MODULES = {frozenlake.ENV_ID: frozenlake}


def add_task_flags(parser: argparse.ArgumentParser) -> None:
    """Adds every own module's CLI flags to the trainer's CLI."""
    for module in OWN_MODULES.values():
        module.add_flags(parser)


def env_kwargs_with_flags(args: argparse.Namespace, env_id: str, env_kwargs: dict) -> dict:
    """Returns env_kwargs with the keyword arguments the own modules' flags in `args` ask for."""
    for module in OWN_MODULES.values():
        env_kwargs = module.env_kwargs_with_flags(args, env_id, env_kwargs)
    return env_kwargs


def policy_name_of(env_id: str) -> str:
    """Returns a policy name made from an env id, e.g. 'MountainCar-v0' or 'my_envs:MountainCar-v0' -> 'mountaincar-v0'."""
    env_name = env_id.rpartition(":")[2]
    name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-" for c in env_name.lower())
    return name.strip("-._")[:64] or "policy"


def _make(env_id: str, env_kwargs: dict) -> tuple[gym.Env, gym.envs.registration.EnvSpec]:
    """Returns gymnasium's env and its registered spec, or raises TaskError saying which step failed."""
    module, _, name = env_id.rpartition(":")
    if module:  # gymnasium's own `module:id` form: the module registers the id when imported
        try:
            importlib.import_module(module)
        except Exception as exc:
            raise TaskError(f"could not import {module!r} for {env_id}: {type(exc).__name__}: {first_line(exc)}") from None
    try:
        spec = gym.spec(name)
    except gym.error.Error as exc:
        raise TaskError(f"unknown environment {env_id!r}: {exc}") from None
    try:
        env = gym.make(env_id, **env_kwargs)
        # One step too: a keyword of the wrong type ({"g": "x"}) passes make and fails in step,
        # which must be this one line now, not a traceback once training has started.
        env.reset(seed=0)
        env.step(env.action_space.sample())
        return env, spec
    except Exception as exc:  # a keyword the env refuses, a missing optional dependency: one clear line
        given = f" with {env_kwargs}" if env_kwargs else ""
        raise TaskError(f"could not make {env_id}{given}: {type(exc).__name__}: {first_line(exc)}") from None


def create_task(env_id: str, env_kwargs: dict | None = None, max_episode_steps: int | None = None,
                target_return: float | None = None) -> Task:
    """Returns the task of `gymnasium.make(env_id, **env_kwargs)`, or raises TaskError.

    max_episode_steps None is the env's registered limit (or the task's own);
    target_return None is the env's reward threshold (Box observations only).
    """
    env_kwargs = dict(env_kwargs or {})
    if max_episode_steps is not None and not 1 <= max_episode_steps <= MAX_EPISODE_STEPS:
        raise TaskError(f"--max-episode-steps must be between 1 and {MAX_EPISODE_STEPS}, got {max_episode_steps}")
    for keyword, instead in RESERVED_KWARGS.items():
        if keyword in env_kwargs:
            raise TaskError(f"{keyword!r} in --env-kwargs: {instead}")
    own = OWN_MODULES.get(env_id)
    if own is not None:
        task = own.create_task(env_kwargs, max_episode_steps)
        _make(task.env_id, task.env_kwargs)  # a keyword gymnasium refuses is refused now, not mid-way
    else:
        task = _create_from_spaces(env_id, env_kwargs, max_episode_steps, target_return)
    if target_return is not None and isinstance(task, TabularTask):
        raise TaskError("--target-return is for Box-observation envs; tabular ones stop on --target")
    return task


def _create_from_spaces(env_id: str, env_kwargs: dict, max_episode_steps: int | None,
                        target_return: float | None) -> Task:
    env, spec = _make(env_id, env_kwargs)
    tuned = TUNED.get(env_id, UNTUNED)
    actions = _checked_action_space(env_id, env.action_space)
    n_names = actions.n if isinstance(actions, gym.spaces.Discrete) else int(np.prod(actions.shape))
    steps = max_episode_steps or spec.max_episode_steps
    common = dict(
        env_id=env_id, env_kwargs=env_kwargs,
        default_policy_name=tuned.policy or policy_name_of(env_id),
        action_names=tuned.actions or tuple(str(a) for a in range(int(n_names))), layout=tuned.layout,
    )
    space = env.observation_space
    if isinstance(space, gym.spaces.Discrete):
        if isinstance(actions, gym.spaces.Box):
            raise TaskError(f"{env_id} has Box actions and discrete observations: Box actions need Box observations")
        base = env.unwrapped
        if int(space.start) != 0 or not hasattr(base, "P") or not hasattr(base, "initial_state_distrib"):
            raise TaskError(f"{env_id} has discrete observations but no transition table (env.unwrapped.P)")
        return TabularTask(
            **common, max_episode_steps=steps or TABULAR_STEP_LIMIT, metric="expected_return",
            goal=tuned.goal, hyperparameters=tuned.hyperparameters or TABULAR,
        )
    if isinstance(space, gym.spaces.Box):
        if space.dtype not in (np.float32, np.float64):
            raise TaskError(f"{env_id} has {space.dtype} Box observations: only float32/float64 are supported")
        if space.shape is None or not 1 <= len(space.shape) <= 4 or int(np.prod(space.shape)) > MAX_OBSERVATION_ELEMENTS:
            raise TaskError(f"{env_id} observations of shape {space.shape} are not supported "
                            f"(1 to 4 dimensions, at most {MAX_OBSERVATION_ELEMENTS} elements)")
        return BoxTask(
            **common, max_episode_steps=steps or BOX_STEP_LIMIT, observation_space=space, action_space=actions,
            target_return=target_return if target_return is not None else spec.reward_threshold,
            hyperparameters=tuned.hyperparameters or (CONTROL if isinstance(actions, gym.spaces.Box) else BOX),
        )
    raise TaskError(f"{env_id} has {type(space).__name__} observations: only Discrete (with a transition "
                    "table) and float Box observations are supported")



def _checked_action_space(env_id: str, space: gym.spaces.Space) -> gym.spaces.Discrete | gym.spaces.Box:
    """Returns the env's action space if it can be trained here, or raises TaskError saying why."""
    if isinstance(space, gym.spaces.Discrete) and int(space.start) == 0:
        return space
    if isinstance(space, gym.spaces.Box):
        if space.dtype not in (np.float32, np.float64):  # what a manifest's action space can say
            raise TaskError(f"{env_id} has {space.dtype} Box actions: only float32/float64 Box actions are supported")
        if space.shape is None or not 1 <= len(space.shape) <= 4 or int(np.prod(space.shape)) > MAX_ACTION_ELEMENTS:
            raise TaskError(f"{env_id} actions of shape {space.shape} are not supported "
                            f"(1 to 4 dimensions, at most {MAX_ACTION_ELEMENTS} elements)")
        return space
    raise TaskError(f"{env_id} has {space} actions: only Discrete actions starting at 0 and float Box "
                    "actions are supported")
