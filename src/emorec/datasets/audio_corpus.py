"""Shared record type and helpers for speech-emotion corpora.

Every audio loader (RAVDESS, CREMA-D, SAVEE, a manifest CSV) returns a
:class:`CorpusScan`: the usable records plus the names it skipped, so a folder
with a stray file warns instead of crashing. Several scans are combined over a
shared label set with an explicit mapping (merge or drop classes), the way the
original notebook combined CREMA-D and SAVEE.
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emorec.errors import DatasetError
from emorec.labels import EMOTIONS, UnknownLabelError, canonical, ordered

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".mp3")
CORPORA: tuple[str, ...] = ("ravdess", "cremad", "savee", "manifest")


@dataclass(frozen=True)
class AudioRecord:
    """One labelled clip: where it is, its canonical label and who speaks.

    ``speaker`` is prefixed with the corpus name (``ravdess:01``) so speakers
    of different corpora never collide when corpora are combined.
    """

    path: Path
    label: str
    speaker: str
    corpus: str
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "label": self.label,
            "speaker": self.speaker,
            "corpus": self.corpus,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AudioRecord:
        return cls(
            path=Path(data["path"]),
            label=data["label"],
            speaker=data["speaker"],
            corpus=data["corpus"],
            meta=dict(data.get("meta", {})),
        )


@dataclass
class CorpusScan:
    """Result of scanning a corpus folder: records plus what was skipped and why."""

    corpus: str
    root: Path
    records: list[AudioRecord]
    skipped: list[str] = field(default_factory=list)  # file names that did not parse
    notes: list[str] = field(default_factory=list)  # e.g. "no VideoDemographics.csv"

    def summary(self) -> str:
        counts = Counter(r.label for r in self.records)
        speakers = len({r.speaker for r in self.records})
        parts = [f"{self.corpus}: {len(self.records)} clips, {speakers} speakers"]
        parts.append(", ".join(f"{k} {counts[k]}" for k in ordered(counts)))
        if self.skipped:
            parts.append(f"skipped {len(self.skipped)} unrecognised file(s), e.g. {self.skipped[0]}")
        return "; ".join(parts + self.notes)

    def warn_skipped(self) -> None:
        if self.skipped:
            log.warning(
                "%s: skipped %d file(s) whose names do not follow the corpus scheme (e.g. %s)",
                self.root,
                len(self.skipped),
                self.skipped[0],
            )


def audio_files(folder: Path, recursive: bool = True) -> list[Path]:
    """Audio files under ``folder`` (sorted, by extension), hidden files excluded."""
    pattern = "**/*" if recursive else "*"
    return sorted(
        p
        for p in folder.glob(pattern)
        if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")
    )


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DatasetError(f"{what} folder {path} not found: check --data")
    return path


def parse_label_map(spec: str | Mapping[str, str | None] | None) -> dict[str, str | None]:
    """Parse ``"calm=neutral,surprise=drop"`` into ``{"calm": "neutral", "surprise": None}``.

    Targets ``drop``/``none``/empty remove the class. Both sides must be canonical
    emotion names (or names :func:`emorec.labels.canonical` knows).

    >>> parse_label_map("calm=neutral, surprise=drop")
    {'calm': 'neutral', 'surprise': None}
    """
    if spec is None:
        return {}
    if isinstance(spec, Mapping):
        items = list(spec.items())
    else:
        items = []
        for part in str(spec).split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise DatasetError(f"label mapping {part!r} is not of the form SOURCE=TARGET (e.g. calm=neutral)")
            src, dst = part.split("=", 1)
            items.append((src, dst))
    mapping: dict[str, str | None] = {}
    for src, dst in items:
        try:
            key = canonical(str(src))
            target = None if dst is None or str(dst).strip().lower() in ("", "drop", "none") else canonical(str(dst))
        except UnknownLabelError as exc:
            raise DatasetError(f"label mapping: {exc}") from None
        mapping[key] = target
    return mapping


def apply_label_map(records: Iterable[AudioRecord], mapping: Mapping[str, str | None]) -> list[AudioRecord]:
    """Relabel records through ``mapping``; records mapped to None are dropped."""
    out = []
    for r in records:
        target = mapping.get(r.label, r.label)
        if target is None:
            continue
        if target != r.label:
            meta = dict(r.meta)
            meta.setdefault("original_label", r.label)
            r = AudioRecord(r.path, target, r.speaker, r.corpus, meta)
        out.append(r)
    return out


def combine(
    scans: Sequence[CorpusScan],
    label_map: Mapping[str, str | None] | None = None,
    shared_only: bool = False,
) -> list[AudioRecord]:
    """Records of several corpora over one label set.

    ``label_map`` merges or drops classes first (e.g. ``{"calm": "neutral",
    "surprise": None}``). With ``shared_only`` only classes present in every
    corpus survive, which is how CREMA-D (6 emotions) and SAVEE (7) meet on 6.
    """
    mapped = [apply_label_map(s.records, label_map or {}) for s in scans]
    if shared_only and len(mapped) > 1:
        common = set.intersection(*({r.label for r in recs} for recs in mapped))
        mapped = [[r for r in recs if r.label in common] for recs in mapped]
    records = [r for recs in mapped for r in recs]
    if not records:
        raise DatasetError("no clips left after combining corpora and applying the label mapping")
    return records


def label_set(records: Iterable[AudioRecord]) -> list[str]:
    """Labels present in ``records`` in the canonical vocabulary order."""
    return ordered(r.label for r in records)


def check_canonical(label: str) -> str:
    if label not in EMOTIONS:
        raise DatasetError(f"{label!r} is not a canonical emotion name")
    return label
