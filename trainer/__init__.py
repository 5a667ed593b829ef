"""Keras A2C trainer for FrozenLake that publishes versioned policy artifacts."""
