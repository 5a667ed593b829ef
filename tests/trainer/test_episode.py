"""Each published version carries one rendered greedy episode (episode.gif) where its
environment renders rgb_array frames: small, capped, hashed in the manifest; an
environment that cannot render publishes without one, and nothing fails."""

import hashlib
import io
import json

import numpy as np

from PIL import Image

from policy_artifacts import ArtifactLimits
from policy_artifacts.manifest import EPISODE_FILE
from tests.processes import run_trainer
from tests.trainer.custom_env import MODULE_ENV_ID
from trainer.episode import MAX_FRAMES, MAX_WIDTH


def published(root, policy):
    version = root / policy / "1"
    return version, json.loads((version / "manifest.json").read_text())


def test_a_cartpole_version_carries_a_small_animated_gif_of_a_greedy_episode(tmp_path):
    result = run_trainer("--env", "CartPole-v1", "--seed", "0", "--budget", "512", "--eval-episodes", "2",
                         "--quiet", "--artifact-root", str(tmp_path))
    assert result.returncode == 0, result.stderr
    version, manifest = published(tmp_path, "cartpole")
    data = (version / EPISODE_FILE).read_bytes()
    assert manifest["files"][EPISODE_FILE] == hashlib.sha256(data).hexdigest()
    assert len(data) <= ArtifactLimits().max_episode_bytes
    image = Image.open(io.BytesIO(data))
    assert image.format == "GIF" and 1 < image.n_frames <= MAX_FRAMES
    assert image.width <= MAX_WIDTH and image.info.get("loop") == 0


def test_an_env_that_cannot_render_publishes_without_an_episode(tmp_path):
    result = run_trainer("--env", MODULE_ENV_ID, "--seed", "0", "--budget", "200", "--quiet",
                         "--artifact-root", str(tmp_path))
    assert result.returncode == 0, result.stderr
    version, manifest = published(tmp_path, "corridor-v0")
    assert not (version / EPISODE_FILE).exists() and EPISODE_FILE not in manifest["files"]
    assert "Traceback" not in result.stderr



def test_a_grid_world_renders_too_and_an_episode_over_the_cap_loses_frames_until_it_fits():
    from trainer.episode import render_episode
    from trainer.tasks.registry import create_task

    # Down the left column to the hole at state 12: 3 steps, 4 frames drawn.
    task = create_task("FrozenLake-v1", {"map_name": "4x4", "is_slippery": False})
    actor, _ = task.build_models(task.hyperparameters)
    last = actor.layers[-1]
    last.set_weights([np.zeros_like(last.kernel), np.array([0, 9, 0, 0], "float32")])  # always DOWN
    full = render_episode(task, actor)
    assert Image.open(io.BytesIO(full)).n_frames == 4
    smaller = render_episode(task, actor, max_bytes=len(full) - 1)
    assert len(smaller) < len(full) and Image.open(io.BytesIO(smaller)).n_frames == 2
    assert render_episode(task, actor, max_bytes=100) is None  # not even one frame fits
