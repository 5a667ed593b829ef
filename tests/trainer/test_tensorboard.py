"""`--tensorboard DIR`: the scalars SB3's users know, written each update, readable by TensorBoard."""

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util.tensor_util import make_ndarray

from tests.processes import run_trainer
from trainer.a2c import explained_variance


def test_training_writes_sb3s_scalars_each_update(tmp_path):
    result = run_trainer("--env", "CartPole-v1", "--budget", "2048", "--eval-every", "4", "--eval-episodes", "3",
                         "--seed", "0", "--artifact-root", str(tmp_path / "artifacts"),
                         "--tensorboard", str(tmp_path / "runs"), "--quiet")
    assert result.returncode == 0, result.stderr
    [run] = (tmp_path / "runs").iterdir()
    assert run.name == "cartpole-seed0"
    events = EventAccumulator(str(run), size_guidance={"tensors": 0})  # 0: keep every point
    events.Reload()
    tags = set(events.Tags()["tensors"])
    assert {"rollout/ep_rew_mean", "rollout/ep_len_mean", "train/policy_loss", "train/value_loss", "train/entropy",
            "train/explained_variance", "train/learning_rate", "eval/mean_return", "time/fps"} <= tags
    losses = events.Tensors("train/value_loss")
    assert [e.step for e in losses] == list(range(128, 2048 + 128, 128))  # one point per update (16 envs x 8 steps)
    returns = [float(make_ndarray(e.tensor_proto)) for e in events.Tensors("rollout/ep_rew_mean")]
    assert returns and all(1 <= r <= 500 for r in returns)  # CartPole pays 1 per step, at most 500
    entropy = [float(make_ndarray(e.tensor_proto)) for e in events.Tensors("train/entropy")]
    assert 0 < entropy[0] <= np.log(2) + 1e-6  # two actions: at most log 2 nats


def test_explained_variance_is_one_for_a_perfect_critic_and_zero_for_a_constant():
    returns = np.array([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(returns, returns) == 1.0
    assert explained_variance(np.full(4, 2.5), returns) == 0.0
    assert np.isnan(explained_variance(returns, np.ones(4)))
