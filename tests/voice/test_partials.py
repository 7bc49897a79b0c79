"""Encoder windows of a fused voice model: the same cut at training and inference."""
from __future__ import annotations

import numpy as np
import pytest

from emorec.cards import input_spec
from emorec.errors import ModelError
from emorec.voice.partials import PartialSpec, partial_windows, window_starts


@pytest.mark.parametrize(
    ("n_samples", "starts", "padded"),
    [
        (8_000, [0], 25_600),  # shorter than one window: one zero-padded window
        (48_000, [0, 77, 154], 50_240),  # 3 s: the last window is 91 % audio, kept
        (37_760, [0, 77], 37_920),  # a third window would hold 51 % audio (< 75 %): dropped
    ],
)
def test_window_starts_follow_resemblyzers_rule(n_samples: int, starts: list[int], padded: int) -> None:
    # Hand-computed from the rule: one window per 1/1.3 s (77 frames of 10 ms), 160 frames each.
    assert window_starts(n_samples, PartialSpec()) == (starts, padded)


def test_partial_windows_shape_and_content() -> None:
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(48_000)).astype(np.float32)
    w = partial_windows(x, PartialSpec())
    assert w.shape == (3, 160, 40) and w.dtype == np.float32
    assert np.all(w >= 0)  # mel power, no log
    np.testing.assert_array_equal(w[1, :83], w[0, 77:])  # overlapping windows share frames


def test_partial_spec_round_trips_through_the_card() -> None:
    spec = PartialSpec(rate=1.0)
    card_input = {"features": {"kind": "logmel"}, "partials": spec.to_dict()}
    parsed = input_spec("voice", card_input)
    assert PartialSpec.from_dict(parsed.partials) == spec


@pytest.mark.parametrize("bad", [{"rate": 0}, {"min_coverage": 2}, {"features": {"kind": "nope"}}])
def test_invalid_partials_in_a_card_are_refused(bad: dict) -> None:
    with pytest.raises(ModelError, match="input.partials"):
        input_spec("voice", {"features": {"kind": "logmel"}, "partials": {**PartialSpec().to_dict(), **bad}})


def test_a_short_last_window_is_kept_only_with_enough_audio() -> None:
    assert window_starts(37_760, PartialSpec(min_coverage=0.5))[0] == [0, 77, 154]
    assert window_starts(37_760, PartialSpec(min_coverage=0.75))[0] == [0, 77]
