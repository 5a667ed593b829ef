"""An environment of a user's own, named as gymnasium names it (`module:id`): trained by the
CLI, and recorded so that a fresh interpreter rebuilds it from the manifest alone."""

import sys
from pathlib import Path

from policy_artifacts import Manifest
from tests import processes
from tests.processes import run_trainer
from tests.timing import seconds
from tests.trainer.custom_env import MODULE_ENV_ID

REPO = Path(__file__).resolve().parents[2]  # `python -m` imports the env's module from here
REBUILD = """
import json, sys
import gymnasium as gym
env = json.load(sys.stdin)["env"]
made = gym.make(env["id"], max_episode_steps=env["max_episode_steps"], **env["kwargs"])
print(made.observation_space.n, made.spec.max_episode_steps)
"""


def test_a_custom_env_named_module_and_id_trains_and_its_manifest_rebuilds_it(tmp_path):
    # A handful of updates: 4 environments x 8 steps, 5 times.
    result = run_trainer("--env", MODULE_ENV_ID, "--env-kwargs", '{"length": 6}', "--seed", "0", "--n-envs", "4",
                         "--n-steps", "8", "--budget", "160", "--eval-every", "2", "--quiet",
                         "--artifact-root", str(tmp_path), cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "published corridor-v0 version 1" in result.stdout  # named after the id, not its module
    manifest_text = (tmp_path / "corridor-v0" / "1" / "manifest.json").read_text()
    manifest = Manifest.model_validate_json(manifest_text)
    assert manifest.env.id == MODULE_ENV_ID == "tests.trainer.custom_env:Corridor-v0"
    assert manifest.env.kwargs == {"length": 6} and manifest.env.max_episode_steps == 50
    # The kwargs made the env that was trained and evaluated: 6 cells, not the default 4.
    assert manifest.observation_space.n == 6 and manifest.action_space.n == 2
    assert (manifest.evaluation.metric, manifest.evaluation.best) == ("expected_return", 1.0)
    assert 1 <= manifest.training.updates <= 5

    # What `play` does with a manifest, in an interpreter that has not imported the module.
    rebuilt = processes.run([sys.executable, "-c", REBUILD], timeout=seconds(60), input=manifest_text,
                            capture_output=True, text=True, cwd=REPO)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.split() == ["6", "50"]
