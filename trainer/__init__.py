"""Keras A2C trainer for any gymnasium environment with discrete actions: trains an actor-critic
policy and publishes it as a versioned policy artifact."""
