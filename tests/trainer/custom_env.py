"""An environment of a user's own, registered when this module is imported, as a user's
package would: the trainer takes it as `--env tests.trainer.custom_env:Corridor-v0`."""

import gymnasium as gym
import numpy as np

ENV_ID = "Corridor-v0"
MODULE_ENV_ID = f"{__name__}:{ENV_ID}"
LEFT, RIGHT = 0, 1


class Corridor(gym.Env):
    """Cells 0..length-1 in a row, starting in cell 0: LEFT and RIGHT move one cell (a wall at
    each end), and reaching the last cell pays 1 and ends the episode.

    It carries gymnasium's toy-text transition table (`P`, `initial_state_distrib`), so the
    trainer takes it as a tabular task and evaluates it exactly.
    """

    def __init__(self, length: int = 4, render_mode: str | None = None):
        if length < 2:
            raise ValueError(f"a corridor needs at least 2 cells, got {length}")
        self.observation_space = gym.spaces.Discrete(length)
        self.action_space = gym.spaces.Discrete(2)
        self.P = {
            cell: {action: [(1.0, *self._outcome(cell, action, length))] for action in (LEFT, RIGHT)}
            for cell in range(length)
        }
        self.initial_state_distrib = np.eye(length)[0]
        self._cell = 0

    @staticmethod
    def _outcome(cell: int, action: int, length: int) -> tuple[int, float, bool]:
        if cell == length - 1:  # the end: an episode never continues from here
            return cell, 0.0, True
        reached = max(cell - 1, 0) if action == LEFT else cell + 1
        return reached, float(reached == length - 1), reached == length - 1

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._cell = 0
        return self._cell, {}

    def step(self, action):
        _, self._cell, reward, terminated = self.P[self._cell][int(action)][0]
        return self._cell, reward, terminated, False, {}


if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point=Corridor, max_episode_steps=50)


class Dials(gym.Env):
    """Two dials set at once (MultiDiscrete actions): a kind of action the trainer refuses."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.MultiDiscrete([3, 3])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, True, False, {}


if "Dials-v0" not in gym.registry:
    gym.register("Dials-v0", entry_point=Dials, max_episode_steps=10)


class HalfPrecisionPush(gym.Env):
    """Box actions in float16, which no manifest can describe: refused before training."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float16)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, True, False, {}


if "HalfPrecisionPush-v0" not in gym.registry:
    gym.register("HalfPrecisionPush-v0", entry_point=HalfPrecisionPush, max_episode_steps=10)
