"""Golden test: `emorec face/voice predict examples/ --format json` prints what it printed before.

Refactors must not change what users see. When a change to the numbers is
intended (new default detector, retrained model) regenerate the files with
``python scripts/update_golden.py`` and say why in the commit.
"""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("update_golden", ROOT / "scripts" / "update_golden.py")
update_golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(update_golden)

ABS_TOL = 1e-4  # scores are printed with 6 decimals; ONNX Runtime may differ in the last ones


def assert_close(actual, expected, where: str = "$") -> None:
    """Same structure and keys, equal strings/ints, floats within ABS_TOL."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        assert list(actual) == list(expected), f"{where}: keys {list(actual)} != {list(expected)}"
        for key in expected:
            assert_close(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
        assert len(actual) == len(expected), f"{where}: {len(actual)} items != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close(a, e, f"{where}[{i}]")
    elif isinstance(expected, float) and not isinstance(expected, bool):
        assert isinstance(actual, (int, float)), f"{where}: {actual!r} is not a number"
        assert math.isclose(actual, expected, abs_tol=ABS_TOL), f"{where}: {actual} != {expected}"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def test_assert_close_catches_changes() -> None:
    """The comparison itself fails on what matters (so the golden test can fail)."""
    base = {"label": "happy", "score": 0.5, "box": [1, 2, 3, 4]}
    assert_close(dict(base, score=0.50004), base)
    for changed in (dict(base, score=0.51), dict(base, label="sad"), dict(base, box=[1, 2, 3, 5]),
                    {k: base[k] for k in ("score", "label", "box")}):
        with pytest.raises(AssertionError):
            assert_close(changed, base)


@pytest.mark.parametrize("name", sorted(update_golden.COMMANDS))
def test_predict_examples_matches_golden(name: str) -> None:
    expected = [json.loads(line) for line in update_golden.golden_path(name).read_text().splitlines()]
    actual = [json.loads(line) for line in update_golden.run_cli(update_golden.COMMANDS[name]).splitlines()]
    assert expected, "empty golden file"
    assert_close(actual, expected)
