"""Hyperparameters: one dataclass, from which the CLI is generated and the manifest is written."""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Literal


def _param(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Hyperparameters:
    n_envs: int = _param(32, "Environments stepped together; one batched policy lookup per step.")
    n_steps: int = _param(16, "Steps per environment in each rollout, i.e. per update.")
    gamma: float = _param(0.99, "Discount factor of returns.")
    gae_lambda: float = _param(0.95, "GAE lambda: 0 = one-step TD advantages, 1 = Monte Carlo.")
    actor_learning_rate: float = _param(0.01, "Adam learning rate of the actor.")
    critic_learning_rate: float = _param(0.02, "Adam learning rate of the critic.")
    entropy_coef: float = _param(0.02, "Weight of the entropy bonus at the start of training.")
    entropy_coef_final: float = _param(0.002, "Weight of the entropy bonus once the decay is over.")
    epsilon_start: float = _param(0.0, "Chance of a uniformly random action at the start (seed's idea).")
    epsilon_final: float = _param(0.0, "Chance of a random action once the decay is over.")
    decay_env_steps: int = _param(200_000, "Env steps over which entropy and epsilon decay linearly.")
    hidden_units: int = _param(0, "Hidden layer width of actor and critic; 0 = tabular (one-hot -> output).")
    hidden_layers: int = _param(1, "Hidden layers of Box-observation models (discrete ones have at most one).")
    reward_scale: float = _param(1.0, "Rewards are multiplied by this for learning (not for evaluation).")
    normalize_advantages: bool = _param(False, "Standardise advantages per update.")
    normalize_observations: bool = _param(
        False, "Box observations: train on running-normalised ones; the statistics are folded into the published models."
    )
    log_std_init: float = _param(0.0, "Box actions: the Gaussian actor's initial log standard deviation.")
    normalize_rewards: bool = _param(
        False, "Scale rewards for learning by the running std of the discounted return (SB3's VecNormalize)."
    )
    max_grad_norm: float = _param(0.0, "Clip each update's gradient to this global norm; 0 = no clipping.")
    optimizer: Literal["adam", "rmsprop"] = _param(
        "adam", "Optimizer of actor and critic: adam, or rmsprop (SB3's A2C default, epsilon placed as PyTorch does)."
    )
    learning_rate_final: float = _param(
        1.0, "Fraction of the learning rates left at the end of the budget, reached linearly as SB3's linear "
             "schedule (1 = constant)."
    )
    state_dependent_noise: bool = _param(
        False, "Box actions: explore with gSDE, noise = the actor's last hidden features x a random matrix "
               "(redrawn each rollout or every sde_sample_freq steps), instead of fresh noise every step."
    )
    initializer: Literal["glorot", "fan_in_uniform"] = _param(
        "glorot", "Box observations: the hidden layers, the critic's head and gSDE's head start from Keras' "
                  "glorot or fan_in_uniform (PyTorch's nn.Linear default, SB3's with ortho_init=False); "
                  "other actor heads start near zero either way."
    )
    sde_sample_freq: int = _param(-1, "gSDE: steps between redraws of the noise matrices; -1 = once per rollout.")
    budget: int = _param(5_000_000, "Stop after this many env steps if the target is not reached.")
    target: float = _param(
        0.98, "Tabular: stop when the greedy policy is within (1 - target) x |optimum| of the optimum..."
    )
    sampled_target: float = _param(
        0.9, "...and so is sampling from the policy (what /act does by default), within (1 - this); 0 = ignore."
    )
    eval_every: int = _param(5, "Updates between evaluations of the greedy policy.")
    eval_episodes: int = _param(100, "Monte Carlo evaluation: seeded episodes (tasks without a transition table).")

    def to_dict(self) -> dict:
        return asdict(self)


def hyperparameter_fields():
    """Returns (name, type, default, help) for every hyperparameter, for building a CLI."""
    for f in fields(Hyperparameters):
        assert f.default is not MISSING
        yield f.name, f.type, f.default, f.metadata["help"]
