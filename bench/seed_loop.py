"""The seed notebook's training loop, as written there, for a throughput baseline.

Eager Keras (`run_eagerly=True`), numpy inside the actor loss, one actor call per env
step, epsilon-greedy 0.3, 100 games per fit; see ../shared/seed/a2c-keras-frozenlake.md.
Only `int()` around `Discrete.n` is added (Keras 3.15 rejects numpy integers).
"""

from __future__ import annotations

import time

import gymnasium as gym
import keras
import numpy as np

GAMMA, LEARNING_RATE, EPSILON = 0.99, 0.01, 0.3


def _model(n_states: int, width: int, activation: str, output: int, output_activation=None) -> keras.Model:
    model = keras.Sequential([
        keras.layers.Input(shape=(1,)),
        keras.layers.IntegerLookup(vocabulary=list(range(n_states)), output_mode="multi_hot"),
        keras.layers.Dense(width, activation=activation), keras.layers.Dropout(0.2), keras.layers.LayerNormalization(),
        keras.layers.Dense(width, activation=activation), keras.layers.Dropout(0.2), keras.layers.LayerNormalization(),
        keras.layers.Dense(output, activation=output_activation),
    ])
    return model


def actor_loss_fn(actions_and_advantages, y_pred):
    actions = keras.ops.cast(actions_and_advantages[:, 0], dtype=np.int32)
    advantages = actions_and_advantages[:, 1:2]
    losses = -keras.ops.log(y_pred + 1e-9) * advantages
    mask = np.zeros(shape=y_pred.shape)
    mask[range(mask.shape[0]), actions] = 1
    return keras.ops.multiply(losses, mask)


def play_rollout(env, actor, max_steps):
    history, finished = [], False
    state, _ = env.reset()
    while not finished:
        if max_steps and len(history) > max_steps:
            break
        if np.random.random() < EPSILON:
            action = env.action_space.sample()
        else:
            probabilities = actor(np.array([state]))
            action = keras.random.categorical(keras.ops.log(probabilities), num_samples=1)[0, 0].numpy()
        next_state, reward, finished, _, _ = env.step(action)
        history.append([state, action, next_state, reward])
        state = next_state
    discounted = 0.0
    for step in reversed(history):
        discounted = step[3] + GAMMA * discounted - 0.001
        step[3] = discounted
    return history


def env_steps_per_second(seconds: float, games_per_episode: int = 100, max_steps: int = 32) -> tuple[int, float]:
    """Returns (env steps, wall seconds) of the seed's loop run for about `seconds`, 4x4 deterministic."""
    env = gym.make("FrozenLake-v1", is_slippery=False, map_name="4x4")
    n_states, n_actions = int(env.observation_space.n), int(env.action_space.n)
    critic = _model(n_states, 16, "gelu", 1)
    critic.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="mse", run_eagerly=True)
    actor = _model(n_states, 16, "relu", n_actions, "softmax")
    actor.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss=actor_loss_fn, run_eagerly=True)
    started, steps = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        history = []
        for _ in range(games_per_episode):
            history += play_rollout(env, actor, max_steps)
            if time.perf_counter() - started >= seconds:
                break
        steps += len(history)
        history = np.array(history)
        states, actions, rewards = history[:, 0:1], history[:, 1:2], history[:, 3:4]
        critic.fit(states, rewards, verbose=0)
        advantages = rewards - np.asarray(critic(states))
        actor.fit(states, np.concatenate((actions, advantages), axis=1), verbose=0)
    return steps, time.perf_counter() - started
