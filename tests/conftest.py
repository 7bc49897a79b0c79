"""Fixtures shared by every test folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

_DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real datasets (EMOREC_DATA, else ../shared/data); tests needing them skip without."""
    root = Path(os.environ.get("EMOREC_DATA", _DEFAULT_DATA))
    if not root.is_dir():
        pytest.skip("real data not present: set EMOREC_DATA to ../shared/data")
    return root
