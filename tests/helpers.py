"""Publishing real Keras policy versions quickly, for tests of every package."""

import json
import os
import uuid
from pathlib import Path

import keras
import numpy as np

from policy_artifacts import list_versions, publish_version
from policy_artifacts.manifest import EPISODE_FILE, parse_observation_space
from trainer.distributions import GAUSSIAN_FIELDS
from trainer.models import build_actor, build_box_critic, build_critic, build_gaussian_actor
from trainer.serving_form import write_policy_files

LAKE_4X4 = ["SFFF", "FHFH", "FFFH", "HFFG"]
LAKE_ACTIONS = ["LEFT", "DOWN", "RIGHT", "UP"]
# CartPole-v1's observation bounds; velocities are unbounded (null).
CARTPOLE_LOW = [-4.8, None, -0.41887903, None]
CARTPOLE_HIGH = [4.8, None, 0.41887903, None]


def _action_names(n_actions, lake_names=LAKE_ACTIONS):
    return list(lake_names) if n_actions == len(lake_names) else [str(a) for a in range(n_actions)]


def _with_common_fields(specific, overrides):
    common = dict(
        created_at="2026-11-24T00:00:00+00:00", hyperparameters={}, seed=0,
        training=dict(seconds=1.0, env_steps=10, updates=1, stopped_because="budget"), libraries={},
    )
    return {**common, **specific, **overrides}


def manifest_fields(n_states=16, n_actions=4, **overrides):
    """Returns schema-2 manifest fields of a deterministic FrozenLake 4x4 policy (the grid
    layout only when there are 16 states, so other sizes describe a plain discrete space)."""
    return _with_common_fields(dict(
        env=dict(id="FrozenLake-v1", kwargs=dict(map_name="4x4", is_slippery=False), max_episode_steps=100),
        observation_space=dict(kind="discrete", n=n_states),
        action_space=dict(kind="discrete", n=n_actions),
        action_names=_action_names(n_actions),
        layout=dict(rows=LAKE_4X4, legend={"S": "start", "F": "frozen", "H": "hole", "G": "goal"}, terminal="HG")
        if n_states == 16 else None,
        evaluation=dict(metric="success_rate", value=0.5, best=1.0, method="exact"),
    ), overrides)


def box_manifest_fields(shape=(4,), n_actions=2, **overrides):
    """Returns schema-2 manifest fields of a CartPole-like policy (CartPole's bounds for shape (4,),
    else unbounded)."""
    size = int(np.prod(shape))
    low, high = (CARTPOLE_LOW, CARTPOLE_HIGH) if tuple(shape) == (4,) else ([None] * size, [None] * size)
    return _with_common_fields(dict(
        env=dict(id="CartPole-v1", kwargs={}, max_episode_steps=500),
        observation_space=dict(kind="box", shape=list(shape), dtype="float32", low=low, high=high),
        action_space=dict(kind="discrete", n=n_actions),
        action_names=_action_names(n_actions, ["LEFT", "RIGHT"]),
        evaluation=dict(metric="mean_return", value=20.0, best=475.0, method="monte carlo", stderr=1.0, episodes=10),
    ), overrides)


def gaussian_manifest_fields(action_size=1, **overrides):
    """Returns schema-2 manifest fields of a Pendulum-like policy with Box actions: Pendulum-v1's
    observations, `action_size` torques in [-2, 2] (Pendulum-v1 itself for one)."""
    names = ["torque"] if action_size == 1 else [f"torque{i}" for i in range(action_size)]
    return _with_common_fields(dict(
        env=dict(id="Pendulum-v1", kwargs={}, max_episode_steps=200),
        observation_space=dict(kind="box", shape=[3], dtype="float32", low=[-1.0, -1.0, -8.0], high=[1.0, 1.0, 8.0]),
        action_space=dict(kind="box", shape=[action_size], dtype="float32", low=[-2.0] * action_size,
                          high=[2.0] * action_size, distribution=GAUSSIAN_FIELDS),
        action_names=names,
        evaluation=dict(metric="mean_return", value=-1200.0, best=-200.0, method="monte carlo", stderr=50.0,
                        episodes=5),
    ), overrides)


def random_gaussian_models(action_size=1, seed=0):
    """Returns a Gaussian actor (observations of Pendulum's shape -> [mean | log_std]) and a
    critic with random weights, the log std state-independent as the trainer keeps it."""
    actor = build_gaussian_actor((3,), action_size, hidden_units=16, hidden_layers=1)
    actor, critic = _randomise((actor, build_box_critic((3,), hidden_units=16, hidden_layers=1)), seed)
    head = actor.get_layer("mean_and_log_std")
    head.kernel.assign(head.kernel_constraint(head.kernel))
    return actor, critic


def publish_gaussian_models(root, policy, actor, critic, **manifest_overrides):
    """Returns the published version of a policy with Box actions; the action size is read from the actor."""
    fields = gaussian_manifest_fields(actor.outputs[0].shape[-1] // 2, **manifest_overrides)
    return _publish(root, policy, actor, critic, fields)


def _randomise(models, seed):
    rng = np.random.default_rng(seed)
    for model in models:
        model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return models


def random_models(n_states=16, n_actions=4, seed=0):
    """Returns an actor and critic with random weights, so outputs differ per state."""
    actor, critic = build_actor(n_states, n_actions, hidden_units=8), build_critic(n_states, hidden_units=8)
    return _randomise((actor, critic), seed)


def random_box_models(shape=(4,), n_actions=2, seed=0):
    """Returns an actor (float32 observations -> action probabilities) and critic (-> value)
    for Box observations of `shape`, with random weights."""

    def build(width, activation, name):
        observation = keras.Input(shape=tuple(shape), dtype="float32", name="observation")
        x = keras.layers.Flatten()(observation) if len(shape) > 1 else observation
        x = keras.layers.Dense(16, activation="relu")(x)
        return keras.Model(observation, keras.layers.Dense(width, activation=activation)(x), name=name)

    return _randomise((build(n_actions, "softmax", "actor"), build(1, None, "critic")), seed)


def _publish(root, policy, actor, critic, fields, episode=None):
    space = parse_observation_space(fields["observation_space"])

    def write_files(directory):
        write_policy_files(directory, actor, critic, space)
        if episode is not None:
            (directory / EPISODE_FILE).write_bytes(episode)

    return publish_version(root, policy, write_files, fields)


def publish_models(root, policy, actor, critic, **manifest_overrides):
    """Returns the published version of a discrete policy (FrozenLake 4x4 fields unless overridden)."""
    n_states = manifest_overrides.pop("n_states", 16)
    return _publish(root, policy, actor, critic, manifest_fields(n_states=n_states, **manifest_overrides))


def publish_box_models(root, policy, actor, critic, episode=None, **manifest_overrides):
    """Returns the published version of a Box policy, with `episode` as its episode.gif if
    given; shape and actions are read from the actor."""
    shape, n_actions = tuple(actor.inputs[0].shape[1:]), actor.outputs[0].shape[-1]
    fields = box_manifest_fields(shape, n_actions, **manifest_overrides)
    return _publish(root, policy, actor, critic, fields, episode)


def small_gif(n_frames=3, seed=0):
    """Returns an animated GIF of `n_frames` random 16 x 12 frames."""
    from trainer.episode import gif_bytes

    rng = np.random.default_rng(seed)
    return gif_bytes([rng.integers(0, 256, (12, 16, 3), dtype=np.uint8) for _ in range(n_frames)], 0.1)


def publish_damaged(root, policy, damage, seed=0):
    """Publishes a version that is already damaged when it appears in `root`.

    It is published into a scratch root, renumbered, damaged by `damage(path)`, then
    renamed into place, so no reader can ever see it whole (no race with the loader).
    """
    root = Path(root)
    number = max(list_versions(root, policy), default=0) + 1
    scratch = publish_models(root.parent / f"scratch-{uuid.uuid4().hex}", policy, *random_models(seed=seed)).path
    manifest = json.loads((scratch / "manifest.json").read_text())
    (scratch / "manifest.json").write_text(json.dumps({**manifest, "version": number}))
    damage(scratch)
    target = root / policy / str(number)
    os.rename(scratch, target)
    return target


def truncate_file(name):
    def damage(path):
        data = (path / name).read_bytes()
        (path / name).write_bytes(data[: len(data) // 2])

    return damage
