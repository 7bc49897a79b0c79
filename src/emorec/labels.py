"""One canonical emotion vocabulary and an explicit mapping for every corpus.

Every loader converts its corpus' own codes to these names through the tables
below, so a model trained on one corpus and evaluated on another agrees on
what "sad" means. Nothing is guessed from folder names outside these tables.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from emorec.errors import UsageError

# Canonical names, in a fixed order used whenever a full vocabulary is needed.
EMOTIONS: tuple[str, ...] = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fear",
    "disgust",
    "surprise",
    "contempt",
)

# FER2013 CSV codes; also the Kaggle CK+ file ckextended.csv, which adds 7.
FER2013_CODES: dict[int, str] = {
    0: "angry",
    1: "disgust",
    2: "fear",
    3: "happy",
    4: "sad",
    5: "surprise",
    6: "neutral",
    7: "contempt",
}

# Folder names seen in image-folder exports (FER2013, CK+48, AffectNet-like
# folders). Keys are lower-case.
FOLDER_NAMES: dict[str, str] = {
    "angry": "angry",
    "anger": "angry",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "happy": "happy",
    "happiness": "happy",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "neutral": "neutral",
    "contempt": "contempt",
    "calm": "calm",
}

# RAVDESS third field of the file name.
RAVDESS_CODES: dict[str, str] = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fear",
    "07": "disgust",
    "08": "surprise",
}

# CREMA-D third field of the clip name, and the crowd-vote letters of summaryTable.csv.
CREMAD_CODES: dict[str, str] = {
    "ANG": "angry",
    "DIS": "disgust",
    "FEA": "fear",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}
CREMAD_VOTE_CODES: dict[str, str] = {
    "A": "angry",
    "D": "disgust",
    "F": "fear",
    "H": "happy",
    "N": "neutral",
    "S": "sad",
}

# SAVEE emotion prefixes of the clip names (a01.wav, sa03.wav, ...).
SAVEE_CODES: dict[str, str] = {
    "a": "angry",
    "d": "disgust",
    "f": "fear",
    "h": "happy",
    "n": "neutral",
    "sa": "sad",
    "su": "surprise",
}


class UnknownLabelError(ValueError):
    """A label that no mapping table knows."""


def canonical(label: str) -> str:
    """Return the canonical name for ``label`` (a canonical name or a folder name).

    >>> canonical("Happiness")
    'happy'
    """
    key = label.strip().lower()
    if key in EMOTIONS:
        return key
    if key in FOLDER_NAMES:
        return FOLDER_NAMES[key]
    raise UnknownLabelError(
        f"unknown emotion label {label!r}; known: {', '.join(sorted(FOLDER_NAMES))}"
    )


def ordered(labels: Iterable[str]) -> list[str]:
    """Sort canonical labels in vocabulary order (stable across runs and corpora)."""
    unique = set(labels)
    unknown = unique.difference(EMOTIONS)
    if unknown:
        raise UnknownLabelError(f"not canonical emotion names: {sorted(unknown)}")
    return [e for e in EMOTIONS if e in unique]


def remap(labels: Iterable[str], mapping: Mapping[str, str | None]) -> list[str | None]:
    """Map labels through ``mapping``; a label mapped to None is dropped by callers.

    Used to train several corpora over a shared label set, e.g. folding RAVDESS
    "calm" into "neutral" or dropping "surprise" when combining with CREMA-D.
    """
    return [mapping.get(label, label) for label in labels]


class LabelSubset:
    """Some of a model's labels: its probabilities over just those, renormalised to sum to one.

    For users whose label set is smaller than the model's (CREMA-D has no calm and no surprise):
    the argmax runs over their classes only, as the cross-corpus benchmarks score a held-out corpus.
    ``wanted``: names (canonical or folder names such as "Happiness") as a sequence or one
    comma-separated string; None keeps every label.

    >>> s = LabelSubset(["neutral", "happy", "sad"], "sad,neutral")
    >>> s.labels, s.apply(np.array([0.2, 0.5, 0.3])).round(3).tolist()
    (['neutral', 'sad'], [0.4, 0.6])
    """

    def __init__(self, model_labels: Sequence[str], wanted: Sequence[str] | str | None = None) -> None:
        self.model_labels = list(model_labels)
        if wanted is None:
            self.index = None
            self.labels = list(self.model_labels)
            return
        names = [w for w in (wanted.split(",") if isinstance(wanted, str) else wanted) if str(w).strip()]
        keep = set()
        for name in names:
            label: str | None = str(name).strip()
            if label not in self.model_labels:  # a card's own names first, then canonical spellings
                try:
                    label = canonical(str(label))
                except UnknownLabelError:
                    label = None
            if label is None or label not in self.model_labels:
                raise UsageError(f"label {str(name).strip()!r} is not one of this model's labels: use some of "
                                 f"{', '.join(self.model_labels)}")
            keep.add(label)
        if len(keep) < 2:
            raise UsageError(f"give at least two of the model's labels ({', '.join(self.model_labels)}), "
                             "comma-separated")
        self.index = [i for i, label in enumerate(self.model_labels) if label in keep]  # the model's order
        self.labels = [self.model_labels[i] for i in self.index]

    def __bool__(self) -> bool:
        return self.index is not None

    def scores(self, scores: Mapping[str, float], digits: int = 6) -> dict[str, float]:
        """A result's ``{label: probability}`` over the model's labels -> over :attr:`labels`."""
        if self.index is None:
            return dict(scores)
        kept = self.apply(np.array([float(scores.get(k, 0.0)) for k in self.model_labels]))
        return {k: round(float(p), digits) for k, p in zip(self.labels, kept)}

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """(..., len(model_labels)) probabilities -> (..., len(labels)), each row summing to one."""
        if self.index is None:
            return probs
        kept = np.asarray(probs)[..., self.index]
        total = kept.sum(axis=-1, keepdims=True)
        return np.divide(kept, total, out=np.full_like(kept, 1.0 / len(self.index)), where=total > 0)
