"""gSDE (state-dependent exploration) for Box actions: the actor's layout, the loss, the
noise the rollouts draw, the published form, and a real training run that needs it."""

import dataclasses

import keras
import numpy as np
import pytest

from policy_artifacts.keras_reader import read_keras_model
from trainer.a2c import train
from trainer.config import Hyperparameters
from trainer.distributions import Categorical, DiagonalGaussian, StateDependentNoise
from trainer.inference import numpy_forward
from trainer.losses import NOISE_VARIANCE_FLOOR, StateDependentNoiseLoss
from trainer.models import (build_box_actor, build_box_critic, build_gaussian_actor,
                            build_state_dependent_noise_actor)
from trainer.tasks.base import TaskError
from trainer.tasks.registry import create_task

SIZE, LATENT, OBSERVATION = 2, 8, (3,)


def gsde_actor(log_std_init=-1.0, seed=0):
    keras.utils.set_random_seed(seed)
    return build_state_dependent_noise_actor(OBSERVATION, SIZE, hidden_units=LATENT, hidden_layers=2,
                                             log_std_init=log_std_init)


def noise():
    return StateDependentNoise(DiagonalGaussian(low=-np.ones(SIZE), high=np.ones(SIZE)))


def observations(n, seed=1):
    return np.random.default_rng(seed).standard_normal((n, *OBSERVATION)).astype(np.float32)


def hidden_features(actor, x):
    trunk = keras.Model(actor.input, actor.layers[-2].output)
    return np.asarray(trunk.predict_on_batch(x), np.float64)


def test_the_outputs_are_the_mean_a_log_std_matrix_the_same_for_every_state_and_the_latent_features():
    actor = gsde_actor(log_std_init=-1.5)
    x = observations(5)
    outputs = np.asarray(actor.predict_on_batch(x), np.float64)
    assert outputs.shape == (5, SIZE + LATENT * SIZE + LATENT)
    log_std = outputs[:, SIZE:SIZE + LATENT * SIZE]
    np.testing.assert_allclose(log_std, -1.5, atol=1e-6)
    np.testing.assert_allclose(outputs[:, SIZE + LATENT * SIZE:], hidden_features(actor, x), atol=1e-5)


def test_the_layout_survives_training():
    actor = gsde_actor()
    distribution = noise()
    actor.compile(optimizer=keras.optimizers.Adam(0.05), loss=distribution.loss(0.0))
    x = observations(32)
    targets = distribution.targets(np.random.default_rng(2).standard_normal((32, SIZE)),
                                   np.random.default_rng(3).standard_normal(32))
    for _ in range(5):
        actor.train_on_batch(x, targets)
    outputs = np.asarray(actor.predict_on_batch(x), np.float64)
    log_std = outputs[:, SIZE:SIZE + LATENT * SIZE]
    assert np.ptp(log_std, axis=0).max() < 1e-6, "the noise's log std depends on the state"
    assert np.abs(log_std + 1.0).max() > 1e-3, "the noise's log std did not learn"
    np.testing.assert_allclose(outputs[:, SIZE + LATENT * SIZE:], hidden_features(actor, x), atol=1e-5)


def test_the_loss_scores_the_action_under_each_states_gaussian_and_stops_the_features_gradient():
    actor = gsde_actor()
    x = observations(6)
    outputs = np.asarray(actor.predict_on_batch(x), np.float64)
    mean, std = noise().mean_and_std(outputs)
    features = outputs[:, SIZE + LATENT * SIZE:]
    matrix = np.exp(outputs[0, SIZE:SIZE + LATENT * SIZE].reshape(LATENT, SIZE))
    np.testing.assert_allclose(std, np.sqrt((features ** 2) @ (matrix ** 2) + NOISE_VARIANCE_FLOOR), rtol=1e-9)

    actions = np.random.default_rng(4).standard_normal((6, SIZE))
    advantages = np.random.default_rng(5).standard_normal(6)
    log_probability = (-0.5 * ((actions - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)).sum(axis=1)
    loss = StateDependentNoiseLoss(SIZE, entropy_coef=0.0)
    per_row = keras.ops.convert_to_numpy(loss.call(keras.ops.convert_to_tensor(noise().targets(actions, advantages)),
                                                   keras.ops.convert_to_tensor(outputs.astype(np.float32))))
    np.testing.assert_allclose(per_row, -log_probability * advantages, rtol=1e-4, atol=1e-4)

    import tensorflow as tf  # the gradient check needs the backend's tape

    y_pred = tf.Variable(outputs.astype(np.float32))
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(loss.call(tf.constant(noise().targets(actions, advantages)), y_pred))
    gradient = tape.gradient(value, y_pred).numpy()
    assert np.abs(gradient[:, SIZE + LATENT * SIZE:]).max() == 0.0
    assert np.abs(gradient[:, :SIZE + LATENT * SIZE]).max() > 0.0


def test_one_noise_matrix_per_environment_is_kept_for_the_rollout_and_redrawn_for_the_next():
    actor = gsde_actor(log_std_init=0.0)
    state = np.repeat(observations(1), 3, axis=0)  # three environments in the same state
    outputs = np.asarray(actor.predict_on_batch(state), np.float64)
    distribution, rng = noise(), np.random.default_rng(0)
    distribution.new_rollout()
    first = distribution.sample(outputs, rng)
    np.testing.assert_array_equal(distribution.sample(outputs, rng), first)  # same state, same noise
    assert len({tuple(row) for row in first.round(9)}) == 3  # each environment its own matrix
    distribution.new_rollout()
    assert not np.allclose(distribution.sample(outputs, rng), first)


def test_with_a_sample_frequency_the_noise_is_redrawn_every_that_many_steps():
    actor = gsde_actor(log_std_init=0.0)
    outputs = np.asarray(actor.predict_on_batch(observations(2)), np.float64)
    distribution, rng = StateDependentNoise(noise().gaussian, sample_freq=3), np.random.default_rng(0)
    distribution.new_rollout()
    draws = [distribution.sample(outputs, rng) for _ in range(7)]
    assert all(np.array_equal(draws[0], d) for d in draws[1:3])
    assert not np.allclose(draws[2], draws[3])
    assert all(np.array_equal(draws[3], d) for d in draws[4:6])
    assert not np.allclose(draws[5], draws[6])


def test_over_many_draws_the_noise_has_the_standard_deviation_the_loss_scores():
    actor = gsde_actor(log_std_init=-0.5)
    outputs = np.repeat(np.asarray(actor.predict_on_batch(observations(1)), np.float64), 20_000, axis=0)
    distribution = noise()
    distribution.new_rollout()
    draws = distribution.sample(outputs, np.random.default_rng(0))
    mean, std = distribution.mean_and_std(outputs[:1])
    assert np.all(np.abs(draws.mean(axis=0) - mean[0]) < 5 * std[0] / np.sqrt(20_000))
    np.testing.assert_allclose(draws.std(axis=0), std[0], rtol=0.03)


def test_the_published_actor_is_a_plain_gaussian_one_with_the_trained_mean_and_the_rms_noise(tmp_path):
    actor = gsde_actor(log_std_init=-1.0)
    x = observations(50)
    outputs = np.asarray(actor.predict_on_batch(x), np.float64)
    published = noise().publishable(actor, outputs)
    assert published.output_shape == (None, 2 * SIZE)
    assert published.layers[-1].name == "mean_and_log_std"
    assert all(getattr(layer, "kernel_constraint", None) is None for layer in published.layers)
    forward = numpy_forward(published)
    assert forward is not None, "the published actor is not a Dense chain"
    answers = forward(x)
    # Saved and read back as the service reads it (a chain ending at its output layer).
    published.save(tmp_path / "actor.keras")
    read = read_keras_model((tmp_path / "actor.keras").read_bytes(), "actor.keras")
    np.testing.assert_allclose(read(x.astype(np.float64)), answers, atol=1e-5)
    np.testing.assert_allclose(answers[:, :SIZE], outputs[:, :SIZE], atol=1e-5)
    _, std = noise().mean_and_std(outputs)
    np.testing.assert_allclose(answers[:, SIZE:], np.tile(np.log(np.sqrt((std ** 2).mean(axis=0))), (50, 1)),
                               atol=1e-5)


@pytest.mark.parametrize("build", [
    lambda init: build_state_dependent_noise_actor(OBSERVATION, SIZE, 64, 2, initializer=init),
    lambda init: build_gaussian_actor(OBSERVATION, SIZE, 64, 2, initializer=init),
    lambda init: build_box_actor(OBSERVATION, 3, 64, 2, initializer=init),
    lambda init: build_box_critic(OBSERVATION, 64, 2, initializer=init),
])
def test_the_initializer_reaches_every_box_models_hidden_layers(build):
    """fan_in_uniform is PyTorch's nn.Linear default: kernel and bias uniform within 1/sqrt(fan_in)."""
    keras.utils.set_random_seed(0)
    glorot, torch_like = build("glorot"), build("fan_in_uniform")
    checked = 0
    for plain, layer in zip(glorot.layers, torch_like.layers):
        if not layer.name.endswith("hidden_1"):  # the second hidden layer: fan_in 64
            continue
        checked += 1
        kernel, bias = (np.asarray(w) for w in layer.get_weights())
        assert np.abs(kernel).max() <= 1 / 8 and np.abs(kernel).max() > 0.1  # fan_in 64
        assert np.abs(bias).max() > 0 and np.abs(bias).max() <= 1 / 8
        assert np.abs(np.asarray(plain.get_weights()[1])).max() == 0.0  # glorot: zero bias
        assert np.abs(np.asarray(plain.get_weights()[0])).max() > 1 / 8
    assert checked == 1


def test_state_dependent_noise_is_refused_for_discrete_actions():
    with pytest.raises(TaskError, match="Box actions"):
        Categorical(3).for_training(Hyperparameters(state_dependent_noise=True))


def test_gsde_trains_mountain_car_to_its_threshold_and_publishes_a_plain_gaussian_actor():
    """The tuned MountainCarContinuous (gSDE, the zoo's horizon) reaches its reward threshold
    (greedy, 10 episodes) within 80k env steps (seeds 0-4 took 4k-28k: room for another
    CPU's rounding to take a different path); what is published is [mean | log_std]."""
    task = create_task("MountainCarContinuous-v0", target_return=90.0)
    assert task.hyperparameters.state_dependent_noise
    hp = dataclasses.replace(task.hyperparameters, budget=80_000, eval_episodes=10)
    result = train(task, hp, seed=0)
    assert result.stopped_because == "target" and result.evaluation.value >= 90.0
    assert result.actor.output_shape == (None, 2)
