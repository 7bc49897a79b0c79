"""Compatibility name for :mod:`emorec.face.detectors` (where the detector backends live)."""
from __future__ import annotations

from emorec.face.detectors import *  # noqa: F401,F403
from emorec.face.detectors import __all__  # noqa: F401
