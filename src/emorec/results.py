"""Timed results shared by every modality: one :class:`Segment` type, one timeline.

Voice segments, sampled face video frames and the coming audio-visual
analyser all describe "from ``start`` to ``end`` seconds the emotion was
``label`` (``score``), with these ``scores``". Their JSON is the voice
segment's: ``{"start", "end", "label", "score", "scores"}``.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Segment:
    """Emotion of one stretch of time, in seconds from the start of the recording."""

    start: float
    end: float
    label: str | None
    score: float | None
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    def to_dict(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "label": self.label,
                "score": self.score, "scores": dict(self.scores)}


Timeline = list[Segment]


def weighted_scores(segments: Iterable[Segment], labels: Sequence[str]) -> dict[str, float]:
    """Duration-weighted mean of the segments' scores (zero-length segments weigh 1)."""
    totals = {k: 0.0 for k in labels}
    weight = 0.0
    for s in segments:
        w = s.duration or 1.0
        weight += w
        for k in labels:
            totals[k] += w * float(s.scores.get(k, 0.0))
    return {k: (v / weight if weight else 0.0) for k, v in totals.items()}
