"""Publishing real Keras policy versions quickly, for tests of every package."""

import numpy as np

from policy_artifacts import ACTOR_FILE, CRITIC_FILE, publish_version
from trainer.models import build_actor, build_critic, inference_copy


def manifest_fields(n_states=16, n_actions=4, **overrides):
    fields = dict(
        created_at="2026-11-24T00:00:00+00:00",
        env=dict(kwargs=dict(map_name="4x4", is_slippery=False, max_episode_steps=100),
                 desc=["SFFF", "FHFH", "FFFH", "HFFG"]),
        observation_space=dict(n=n_states), action_space=dict(n=n_actions),
        action_names=["LEFT", "DOWN", "RIGHT", "UP"], hyperparameters={}, seed=0,
        training=dict(seconds=1.0, env_steps=10, updates=1, stopped_because="budget"),
        evaluation=dict(success_rate=0.5, optimal_success_rate=1.0, method="exact"),
        libraries={},
    )
    fields.update(overrides)
    return fields


def random_models(n_states=16, n_actions=4, seed=0):
    """Returns an actor and critic with random weights, so outputs differ per state."""
    rng = np.random.default_rng(seed)
    actor, critic = build_actor(n_states, n_actions, hidden_units=8), build_critic(n_states, hidden_units=8)
    for model in (actor, critic):
        model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return actor, critic


def publish_models(root, policy, actor, critic, **manifest_overrides):
    def write(directory):
        inference_copy(actor).save(directory / ACTOR_FILE)
        inference_copy(critic).save(directory / CRITIC_FILE)

    n_states = manifest_overrides.pop("n_states", 16)
    return publish_version(root, policy, write, manifest_fields(n_states=n_states, **manifest_overrides))



def publish_damaged(root, policy, damage, seed=0):
    """Publishes a version that is already damaged when it appears in `root`.

    It is published into a scratch root, renumbered, damaged by `damage(path)`, then
    renamed into place, so no reader can ever see it whole (no race with the loader).
    """
    import json
    import os
    import uuid
    from pathlib import Path

    from policy_artifacts import list_versions

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
