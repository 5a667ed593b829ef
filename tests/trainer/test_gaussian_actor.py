"""The Gaussian actor for Box actions: its loss, its sampling and clipping, and the
observation statistics folded into the published models."""

import keras
import numpy as np
import pytest

from trainer.distributions import DiagonalGaussian
from trainer.distributions import LOG_STD_MAX, LOG_STD_MIN
from trainer.losses import GaussianActorLoss
from trainer.models import build_box_critic, build_gaussian_actor, inference_copy
from trainer.normalization import RewardNormalizer, RunningNormalizer


def gaussian_log_probability(action, mean, std):
    return float(np.sum(-0.5 * ((action - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)))


def test_the_loss_is_minus_log_probability_times_advantage_minus_the_entropy_bonus():
    mean, log_std = np.array([0.5, -1.0]), np.array([-0.3, 0.2])
    action, advantage, entropy_coef = np.array([1.0, -2.0]), 1.7, 0.05
    y_pred = np.concatenate([mean, log_std])[None].astype(np.float32)
    y_true = np.concatenate([action, [advantage]])[None].astype(np.float32)
    loss = GaussianActorLoss(action_size=2, entropy_coef=entropy_coef, reduction=None)(y_true, y_pred)
    std = np.exp(log_std)
    entropy = float(np.sum(np.log(std) + 0.5 * np.log(2 * np.pi * np.e)))
    expected = -gaussian_log_probability(action, mean, std) * advantage - entropy_coef * entropy
    assert float(np.asarray(loss)[0]) == pytest.approx(expected, rel=1e-5)


def test_the_log_standard_deviation_is_bounded_in_the_loss_and_in_sampling():
    distribution = DiagonalGaussian(low=np.array([-1.0]), high=np.array([1.0]))
    _, std = distribution.mean_and_std(np.array([[0.0, -50.0], [0.0, 50.0]]))
    assert std.ravel().tolist() == pytest.approx([np.exp(LOG_STD_MIN), np.exp(LOG_STD_MAX)])
    loss = GaussianActorLoss(action_size=1, reduction=None)(
        np.array([[0.0, 1.0]], np.float32), np.array([[0.0, -50.0]], np.float32))
    assert np.isfinite(np.asarray(loss)).all()


def test_a_positive_advantage_moves_the_mean_towards_the_action_taken():
    keras.utils.set_random_seed(0)
    actor = build_gaussian_actor((3,), action_size=1, hidden_units=8, hidden_layers=1)
    actor.compile(optimizer=keras.optimizers.Adam(0.01), loss=GaussianActorLoss(action_size=1))
    observation = np.array([[0.2, -0.4, 1.0]], np.float32)
    before = float(actor(observation)[0, 0])
    for _ in range(20):
        actor.train_on_batch(observation, np.array([[before + 1.0, 1.0]], np.float32))
    assert float(actor(observation)[0, 0]) > before + 0.2


def test_samples_are_repeatable_with_a_seed_and_reach_the_environment_clipped():
    distribution = DiagonalGaussian(low=np.array([-2.0, 0.0]), high=np.array([2.0, 1.0]))
    outputs = np.array([[1.9, 0.5, 0.0, 0.0]] * 1000)
    first = distribution.sample(outputs, np.random.default_rng(7))
    assert np.array_equal(first, distribution.sample(outputs, np.random.default_rng(7)))
    assert first.min() < -2.0 or first.max() > 2.0  # the loss scores the unclipped draw...
    stepped = distribution.to_env(first)  # ...the environment gets it within bounds
    assert stepped[:, 0].min() >= -2.0 and stepped[:, 0].max() <= 2.0
    assert stepped[:, 1].min() >= 0.0 and stepped[:, 1].max() <= 1.0
    assert np.array_equal(distribution.greedy(outputs), outputs[:, :2])


def test_running_statistics_equal_those_of_every_batch_at_once():
    rng = np.random.default_rng(3)
    batches = [rng.normal(5.0, 3.0, size=(n, 4)) for n in (1, 7, 64)]
    normalizer = RunningNormalizer((4,))
    for batch in batches:
        normalizer.update(batch)
    everything = np.concatenate(batches)
    np.testing.assert_allclose(normalizer.mean, everything.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(normalizer.var, everything.var(axis=0), rtol=1e-12)


@pytest.mark.parametrize("build", [
    lambda: build_gaussian_actor((2, 3), action_size=2, hidden_units=16, hidden_layers=2),
    lambda: build_box_critic((2, 3), hidden_units=16, hidden_layers=1),
], ids=["actor with a flatten", "critic"])
def test_folded_models_take_raw_observations_and_answer_as_the_trained_ones_did(build):
    keras.utils.set_random_seed(1)
    model = build()
    rng = np.random.default_rng(4)
    normalizer = RunningNormalizer((2, 3))
    normalizer.update(rng.normal([[100.0, -3.0, 0.0]] * 2, [[50.0, 0.01, 1.0]] * 2, size=(500, 2, 3)))
    raw = rng.normal([[100.0, -3.0, 0.0]] * 2, [[50.0, 0.01, 1.0]] * 2, size=(32, 2, 3))
    trained_view = np.asarray(model(normalizer(raw).astype(np.float32)))
    folded = normalizer.fold_into(model)
    # float32 weights: the fold rescales by up to 1/std = 100, so agreement is to float32's precision.
    np.testing.assert_allclose(np.asarray(folded(raw.astype(np.float32))), trained_view, rtol=1e-4, atol=1e-5)
    assert np.array_equal(np.asarray(model(normalizer(raw).astype(np.float32))), trained_view)  # the original is unchanged


def test_the_standard_deviation_is_the_same_for_every_state_after_training():
    keras.utils.set_random_seed(2)
    actor = build_gaussian_actor((3,), action_size=2, hidden_units=8, hidden_layers=1, log_std_init=-0.5)
    actor.compile(optimizer=keras.optimizers.Adam(0.05), loss=GaussianActorLoss(action_size=2))
    observations = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    targets = np.concatenate([np.ones((16, 2)), np.linspace(-1, 1, 16)[:, None]], axis=1).astype(np.float32)
    for _ in range(10):
        actor.train_on_batch(observations, targets)
    log_std = np.asarray(actor(observations))[:, 2:]
    assert np.ptp(log_std, axis=0).max() < 1e-6 and abs(log_std[0, 0] + 0.5) > 1e-3  # learned, not per state
    copy = inference_copy(actor)
    assert all(getattr(layer, "kernel_constraint", None) is None for layer in copy.layers)
    np.testing.assert_array_equal(np.asarray(copy(observations)), np.asarray(actor(observations)))


def test_rewards_are_scaled_by_the_spread_of_discounted_returns_and_keep_their_sign():
    rng = np.random.default_rng(5)
    rewards = rng.normal(-8.0, 4.0, size=(64, 4))
    ended = np.zeros((64, 4), bool)
    ended[::20] = True
    acted = np.ones((64, 4), bool)
    scaled = RewardNormalizer(n_envs=4, gamma=0.9)(rewards, ended, acted)
    ratio = rewards / scaled
    assert np.allclose(ratio, ratio[0, 0]) and ratio[0, 0] > 10  # one positive factor, of the returns' spread


def test_the_inference_copy_is_not_compiled_so_its_file_names_no_custom_loss(tmp_path):
    actor = build_gaussian_actor((3,), action_size=1, hidden_units=8, hidden_layers=1)
    actor.compile(optimizer="adam", loss=GaussianActorLoss(action_size=1))
    copy = inference_copy(actor)
    assert not copy.compiled
    copy.save(tmp_path / "actor.keras")
    keras.saving.load_model(tmp_path / "actor.keras", custom_objects={})  # safe mode, no trainer classes needed
