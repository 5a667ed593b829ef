"""The short rendered greedy episode published with each version (`episode.gif`), so the
page shows what the policy does, not only how much it scores.

One greedy episode of the published actor in `gymnasium.make(env_id,
render_mode="rgb_array", ...)`, from the evaluation's first seed: at most MAX_FRAMES
frames (every k-th step of an episode up to MAX_STEPS steps long), each at most
MAX_WIDTH pixels wide, as an animated GIF under the artifact gate's size cap. An
environment that cannot render (no `rgb_array` mode, no pygame, no OpenGL for MuJoCo)
gets no file: the version is published all the same.
"""

from __future__ import annotations

import io
import logging
import math
import os
import warnings
from typing import TYPE_CHECKING

import gymnasium as gym
import numpy as np

from policy_artifacts.gate import ArtifactLimits
from policy_artifacts.manifest import EPISODE_FILE
from policy_artifacts.store import first_line
from trainer.evaluation import EVALUATION_SEED

if TYPE_CHECKING:
    import keras

    from trainer.tasks.base import Task

log = logging.getLogger(__name__)
MAX_FRAMES = 200
MAX_STEPS = 1_000  # longer episodes are cut: the GIF shows their start
MAX_WIDTH = 160
DEFAULT_FPS = 30


def episode_frames(task: Task, actor: keras.Model) -> tuple[list[np.ndarray], float] | None:
    """Returns the rendered frames of one greedy episode (RGB uint8, every k-th step) and
    the seconds each frame stands for; None when the environment cannot render."""
    # pygame draws offscreen for rgb_array; without a display, SDL's default driver complains on stderr.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    with warnings.catch_warnings():  # an env without rgb_array warns here; it is left out below
        warnings.simplefilter("ignore")
        env = gym.make(task.env_id, render_mode="rgb_array", max_episode_steps=task.max_episode_steps,
                       **task.env_kwargs)
    try:
        if env.render_mode != "rgb_array" or "rgb_array" not in env.metadata.get("render_modes", ()):
            return None
        every = max(1, math.ceil(min(task.max_episode_steps, MAX_STEPS) / MAX_FRAMES))
        policy, distribution = task.batched(actor), task.distribution
        observation, _ = env.reset(seed=EVALUATION_SEED)
        frames = []
        for step in range(MAX_STEPS):
            if step % every == 0:
                frames.append(_small(env.render()))
            action = distribution.to_env(distribution.greedy(policy(np.asarray([observation]))))[0]
            observation, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                frames.append(_small(env.render()))  # how it ended
                break
        fps = env.metadata.get("render_fps") or DEFAULT_FPS
        return frames[:MAX_FRAMES], every / fps
    finally:
        env.close()


def _small(frame) -> np.ndarray:
    """Returns the frame at most MAX_WIDTH pixels wide; raises ValueError if it is no RGB image."""
    from PIL import Image

    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"render() gave {frame.dtype} {frame.shape}, not an RGB image")
    height, width = frame.shape[:2]
    if width <= MAX_WIDTH:
        return frame
    image = Image.fromarray(frame).resize((MAX_WIDTH, max(1, round(height * MAX_WIDTH / width))), Image.BILINEAR)
    return np.asarray(image)


def gif_bytes(frames: list[np.ndarray], seconds_per_frame: float) -> bytes:
    """Returns the frames as an animated GIF that loops."""
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    out = io.BytesIO()
    duration = max(20, round(seconds_per_frame * 1000))  # browsers slow frames under 20 ms down
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0)
    return out.getvalue()


def render_episode(task: Task, actor: keras.Model, max_bytes: int = ArtifactLimits().max_episode_bytes) -> bytes | None:
    """Returns the GIF of one greedy episode, at most `max_bytes` (every other frame is
    dropped until it fits); None when the environment has no rgb_array mode, and None with
    one logged line when rendering failed or no GIF fits."""
    try:
        rendered = episode_frames(task, actor)
        if rendered is None:
            return None
        frames, seconds = rendered
        while frames:
            data = gif_bytes(frames, seconds)
            if len(data) <= max_bytes:
                return data
            frames, seconds = frames[::2] if len(frames) > 1 else [], seconds * 2
        log.warning("no %s for %s: even one frame is over %d bytes", EPISODE_FILE, task.env_id, max_bytes)
    except Exception as exc:  # a picture is never worth a failed publication
        log.warning("no %s for %s: %s", EPISODE_FILE, task.env_id, first_line(exc))
    return None
