"""Rollouts and evaluations compute the Box models in numpy: the outputs must be Keras' own."""

import keras
import numpy as np

from trainer.inference import numpy_forward
from trainer.models import build_box_actor, build_box_critic


def randomised(model: keras.Model) -> keras.Model:
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def test_numpy_outputs_equal_keras_for_the_box_actor_and_critic():
    observations = np.random.default_rng(1).normal(size=(37, 3, 2)).astype(np.float32)  # 2-D: through Flatten
    for model in (randomised(build_box_actor((3, 2), 4)), randomised(build_box_critic((3, 2), 16, 3))):
        np.testing.assert_allclose(numpy_forward(model)(observations), model.predict_on_batch(observations),
                                   rtol=1e-5, atol=1e-6)


def test_the_snapshot_keeps_the_weights_it_was_taken_with():
    actor = randomised(build_box_actor((4,), 2))
    observations = np.ones((5, 4), np.float32)
    forward, before = numpy_forward(actor), actor.predict_on_batch(observations)
    actor.set_weights([w * 0 for w in actor.get_weights()])
    np.testing.assert_allclose(forward(observations), before, rtol=1e-5)


def test_a_model_with_another_layer_is_left_to_keras():
    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Normalization()(inputs)))
    assert numpy_forward(model) is None
