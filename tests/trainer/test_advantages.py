import numpy as np
import pytest

from trainer.advantages import generalized_advantages


def column(*xs):
    return np.array(xs, dtype=np.float64).reshape(-1, 1)


def flags(*xs):
    return np.array(xs, dtype=bool).reshape(-1, 1)


def test_one_step_td_advantage_when_lambda_is_zero():
    adv, ret = generalized_advantages(
        rewards=column(0.0, 1.0), values=column(0.5, 0.6), next_values=column(0.6, 0.2),
        terminated=flags(False, False), truncated=flags(False, False), gamma=0.9, gae_lambda=0.0,
    )
    np.testing.assert_allclose(adv[:, 0], [0.9 * 0.6 - 0.5, 1.0 + 0.9 * 0.2 - 0.6])
    np.testing.assert_allclose(ret, adv + column(0.5, 0.6))


def test_monte_carlo_return_when_lambda_is_one_and_episode_terminates():
    # Three steps ending in the goal: returns are the discounted reward, no bootstrap.
    adv, ret = generalized_advantages(
        rewards=column(0.0, 0.0, 1.0), values=column(0.1, 0.2, 0.3), next_values=column(0.2, 0.3, 9.0),
        terminated=flags(False, False, True), truncated=flags(False, False, False), gamma=0.9, gae_lambda=1.0,
    )
    np.testing.assert_allclose(ret[:, 0], [0.81, 0.9, 1.0])


def test_termination_does_not_bootstrap_but_truncation_does():
    common = dict(rewards=column(0.0), values=column(0.25), next_values=column(0.5), gamma=0.9, gae_lambda=0.95)
    adv_term, _ = generalized_advantages(terminated=flags(True), truncated=flags(False), **common)
    adv_trunc, _ = generalized_advantages(terminated=flags(False), truncated=flags(True), **common)
    assert adv_term[0, 0] == pytest.approx(-0.25)
    assert adv_trunc[0, 0] == pytest.approx(0.9 * 0.5 - 0.25)


def test_trace_stops_at_an_episode_boundary():
    # Step 0 ends an episode (truncated); step 1 belongs to the next episode and has a big
    # TD error that must not leak back into step 0.
    adv, _ = generalized_advantages(
        rewards=column(0.0, 1.0), values=column(0.0, 0.0), next_values=column(0.0, 0.0),
        terminated=flags(False, True), truncated=flags(True, False), gamma=0.9, gae_lambda=1.0,
    )
    np.testing.assert_allclose(adv[:, 0], [0.0, 1.0])


def test_gae_mixes_td_errors_with_gamma_lambda_weights():
    gamma, lam = 0.9, 0.5
    adv, _ = generalized_advantages(
        rewards=column(0.0, 0.0, 1.0), values=column(0.1, 0.2, 0.3), next_values=column(0.2, 0.3, 0.0),
        terminated=flags(False, False, True), truncated=flags(False, False, False), gamma=gamma, gae_lambda=lam,
    )
    d0, d1, d2 = 0.9 * 0.2 - 0.1, 0.9 * 0.3 - 0.2, 1.0 - 0.3
    expected = [d0 + gamma * lam * (d1 + gamma * lam * d2), d1 + gamma * lam * d2, d2]
    np.testing.assert_allclose(adv[:, 0], expected)


def test_environments_are_independent_columns():
    rewards = np.array([[0.0, 1.0]])
    adv, _ = generalized_advantages(
        rewards=rewards, values=np.zeros((1, 2)), next_values=np.ones((1, 2)),
        terminated=np.array([[False, True]]), truncated=np.zeros((1, 2), bool), gamma=0.5, gae_lambda=1.0,
    )
    np.testing.assert_allclose(adv, [[0.5, 1.0]])
