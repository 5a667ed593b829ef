"""The spaces module: bounds, batch checks (and the batch cap), wire datatypes and sampling,
as pure functions of a manifest's space."""

import math

import numpy as np
import pytest

from policy_artifacts.spaces import (
    BatchTooLarge, BoxActionSpace, BoxSpace, DiscreteSpace, SpaceError, check_batch_size, parse_observation_space,
    sample_categorical, sample_from_cumulative,
)

STATES = DiscreteSpace(n=16)
BOX = BoxSpace(shape=[3], dtype="float32", low=[-1.0, None, 0.0], high=[1.0, None, None])


def refusal(check, *args) -> SpaceError:
    with pytest.raises(SpaceError) as caught:
        check(*args)
    return caught.value


# ---- bounds --------------------------------------------------------------------------------

def test_unbounded_elements_are_infinite_in_both_bound_forms():
    low, high = BOX.bounds
    assert low.tolist() == [-1.0, -math.inf, 0.0] and high.tolist() == [1.0, math.inf, math.inf]
    assert BOX.flat_bounds == ([-1.0, -math.inf, 0.0], [1.0, math.inf, math.inf])


def test_bounds_take_the_shape_of_the_space():
    space = BoxSpace(shape=[2, 2], dtype="float64", low=[0, 0, 0, 0], high=[1, 2, 3, None])
    low, high = space.bounds
    assert low.shape == high.shape == (2, 2) and low.dtype == np.float64
    assert high[1, 1] == math.inf


def test_derived_bounds_are_not_part_of_the_manifest():
    _ = BOX.bounds
    assert set(BOX.model_dump()) == {"kind", "shape", "dtype", "low", "high"}
    assert BOX == parse_observation_space(BOX.model_dump())


# ---- discrete batches ------------------------------------------------------------------------

def test_states_may_come_bare_or_in_the_models_batch_by_one_nesting():
    assert STATES.check_batch([0, 15, 4], "observations", "p", 10).tolist() == [0, 15, 4]
    assert STATES.check_batch([[0], [15]], "observations", "p", 10).tolist() == [0, 15]


@pytest.mark.parametrize("bad", [16, -1, 1.0, True, "1", None, [1, 2]])
def test_a_state_outside_the_space_is_refused_naming_its_place_and_range(bad):
    error = refusal(STATES.check_batch, [0, bad], "observations", "lake", 10)
    assert error.message.startswith("observations[1]: states of lake are non-negative integers 0..15")
    assert error.details == [{"field": "observations[1]", "type": "integer", "minimum": 0, "maximum": 15}]
    assert not isinstance(error, BatchTooLarge)


def test_a_single_observation_is_named_without_an_index():
    assert refusal(STATES.check_batch, [99], "observation", "p", 10).message.startswith("observation: ")


def test_integer_tensors_of_shape_batch_or_batch_by_one_are_states():
    assert STATES.check_tensor(np.array([[3], [4]], dtype=np.int32), "inputs[0]", "p", 10).tolist() == [3, 4]
    assert STATES.check_tensor(np.array([3, 4], dtype=np.uint8), "inputs[0]", "p", 10).tolist() == [3, 4]
    assert "integers, got float64" in refusal(STATES.check_tensor, np.array([1.0]), "inputs[0]", "p", 10).message
    assert "[batch] or [batch, 1]" in refusal(STATES.check_tensor, np.zeros((2, 2), int), "inputs[0]", "p", 10).message
    assert "got a scalar" in refusal(STATES.check_tensor, np.array(3), "inputs[0]", "p", 10).message


# ---- the batch cap: one check, one message ---------------------------------------------------

def test_the_batch_cap_is_one_message_wherever_it_is_checked():
    messages = set()
    for check in (lambda: check_batch_size(11, 10, "observations"),
                  lambda: STATES.check_batch([0] * 11, "observations", "p", 10),
                  lambda: STATES.check_tensor(np.zeros(11, int), "observations", "p", 10),
                  lambda: BOX.check_batch([[0, 0, 0]] * 11, "observations", "p", 10)):
        with pytest.raises(BatchTooLarge) as caught:
            check()
        messages.add((caught.value.message, str(caught.value.details)))
    assert messages == {("observations: at most 10 per request, got 11",
                         "[{'field': 'observations', 'max_items': 10}]")}


def test_a_full_batch_is_not_too_large():
    check_batch_size(10, 10, "observations")
    assert len(STATES.check_batch([0] * 10, "observations", "p", 10)) == 10


# ---- box batches -----------------------------------------------------------------------------

def test_box_observations_within_bounds_are_one_float64_array():
    array = BOX.check_batch([[0.5, -1e30, 7], [-1, 0, 0]], "observations", "p", 10)
    assert array.dtype == np.float64 and array.shape == (2, 3)


@pytest.mark.parametrize("count", [1, 200])  # the element-by-element path and numpy's
def test_box_refusals_are_the_same_on_the_small_and_the_large_path(count):
    cases = {
        "outside the space's bounds [-1.0, 1.0]": [1.5, 0, 0],
        "only JSON numbers": [0, "1", 0],
        "lists of numbers of shape [3]": [0, 0],
        "with finite float32 numbers": [0, 1e39, 0],
    }
    for words, bad in cases.items():
        batch = [[0.0, 0.0, 0.0]] * (count - 1) + [bad]
        error = refusal(BOX.check_batch, batch, "observations", "cartpole", 1000)
        assert words in error.message, (words, error.message)


def test_an_element_outside_its_bounds_is_named_with_its_limits():
    error = refusal(BOX.check_batch, [[0, 0, 0], [0, 0, -0.5]], "observations", "p", 10)
    assert error.message == "observations[1]: element [2] is -0.5, outside the space's bounds [0.0, inf]"
    assert error.details[0] | {"field": "observations[1]", "element": [2], "minimum": 0.0} == error.details[0]


def test_box_tensors_must_be_floats_of_the_space_shape():
    assert BOX.check_tensor(np.zeros((2, 3), np.float32), "inputs[0]", "p", 10).shape == (2, 3)
    assert "floating-point" in refusal(BOX.check_tensor, np.zeros((1, 3), int), "inputs[0]", "p", 10).message
    assert "shape [batch, 3]" in refusal(BOX.check_tensor, np.zeros((1, 4)), "inputs[0]", "p", 10).message


# ---- the wire -----------------------------------------------------------------------------------

def test_each_space_names_one_wire_datatype_and_shape():
    assert (STATES.wire_dtype, STATES.wire_shape) == (np.dtype(np.int64), (1,))
    assert (BOX.wire_dtype, BOX.wire_shape) == (np.dtype(np.float32), (3,))
    assert STATES.json_values == 2 and BOX.json_values == 4


# ---- sampling -----------------------------------------------------------------------------------

def test_samples_follow_the_probabilities():
    probabilities = np.array([[0.1, 0.0, 0.6, 0.3]] * 20_000)
    counts = np.bincount(sample_categorical(probabilities, np.random.default_rng(0)), minlength=4)
    assert counts[1] == 0
    expected = probabilities[0] * 20_000
    assert np.all(np.abs(counts - expected) <= 5 * np.sqrt(expected * (1 - probabilities[0])) + 1)


def test_one_row_and_many_rows_draw_the_same_from_the_same_seed():
    cumulative = np.cumsum(np.array([[0.2, 0.3, 0.5]]), axis=1)
    one = [int(sample_from_cumulative(cumulative, rng)[0]) for rng in [np.random.default_rng(5)] for _ in range(50)]
    many = sample_from_cumulative(np.repeat(cumulative, 50, axis=0), np.random.default_rng(5)).tolist()
    assert one == many


def test_a_row_summing_just_under_one_never_samples_past_its_last_action():
    probabilities = np.array([[0.5, 0.5 - 1e-12]] * 10_000)
    draws = sample_categorical(probabilities, np.random.default_rng(1))
    assert draws.max() <= 1 and draws.min() >= 0


def test_sampling_works_on_float32_rows_as_the_trainer_passes_them():
    probabilities = np.full((64, 3), 1 / 3, dtype=np.float32)
    assert set(sample_categorical(probabilities, np.random.default_rng(2)).tolist()) <= {0, 1, 2}


def test_served_box_actions_are_float32_values_that_stay_within_float64_bounds():
    """0.1 has no float32 twin and the nearest float32 lies above it: an action clipped to
    0.1 and then rounded would leave the space, so the bounds are rounded inwards first."""
    space = BoxActionSpace(shape=[2], dtype="float64", low=[-0.1, -1.0], high=[0.1, 1.0], distribution={
        "log_std": "state_independent", "log_std_bounds": [-5.0, 2.0]})
    outputs = np.array([[6.3, -6.3, 0.0, 0.0], [0.05, 0.5, 1.0, 1.0]])  # [mean | log_std] per row
    greedy = space.actions(outputs, greedy=True, rng=np.random.default_rng(0))
    sampled = space.actions(np.repeat(outputs, 500, axis=0), greedy=False, rng=np.random.default_rng(0))
    assert greedy.dtype == sampled.dtype == np.float32
    low, high = space.bounds
    for actions in (greedy, sampled):
        assert np.all(actions.astype(np.float64) <= high) and np.all(actions.astype(np.float64) >= low)
    assert float(greedy[0, 0]) == float(np.nextafter(np.float32(0.1), np.float32(0)))  # the largest float32 <= 0.1
    assert greedy[0, 1] == np.float32(-1.0) and greedy[1, 1] == np.float32(0.5)  # exact bounds stay exact
