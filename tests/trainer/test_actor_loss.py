import keras
import numpy as np
import pytest

from trainer.losses import ActorLoss, pack_targets
from trainer.models import build_actor


def test_loss_is_minus_log_probability_times_advantage_minus_entropy_bonus():
    probabilities = np.array([[0.5, 0.25, 0.25], [0.1, 0.2, 0.7]], np.float32)
    y_true = pack_targets([0, 2], [2.0, -1.0])
    loss = ActorLoss(entropy_coef=0.1, reduction=None)(y_true, probabilities)
    entropy = -(probabilities * np.log(probabilities)).sum(axis=1)
    expected = [-np.log(0.5) * 2.0 - 0.1 * entropy[0], -np.log(0.7) * -1.0 - 0.1 * entropy[1]]
    np.testing.assert_allclose(np.asarray(loss), expected, rtol=1e-5)


def test_loss_stays_finite_when_the_policy_gives_an_action_zero_probability():
    loss = ActorLoss(entropy_coef=0.0, reduction=None)(pack_targets([1], [1.0]), np.array([[1.0, 0.0]], np.float32))
    assert np.isfinite(np.asarray(loss)).all()


@pytest.mark.parametrize("advantage, direction", [(1.0, 1), (-1.0, -1)])
def test_compiled_training_step_moves_the_taken_actions_probability_with_the_advantage(advantage, direction):
    keras.utils.set_random_seed(0)
    actor = build_actor(n_states=4, n_actions=3)
    actor.compile(optimizer=keras.optimizers.SGD(0.5), loss=ActorLoss(entropy_coef=0.0))
    assert not actor.run_eagerly
    state = np.array([[2]], np.int32)
    before = np.asarray(actor(state))[0, 1]
    actor.train_on_batch(state, pack_targets([1], [advantage]))
    after = np.asarray(actor(state))[0, 1]
    assert np.sign(after - before) == direction
