"""Split protocols, stated explicitly.

- ``official``: the dataset's own split column (FER2013 Training / PublicTest / PrivateTest).
- ``subject-kfold``: stratified k-fold grouped by subject or speaker: no identity is on
  both sides of any fold (``assert_disjoint`` proves it and is called on every split).
- ``random``: a random stratified hold-out of items, ignoring identities. It exists only
  to reproduce the original notebooks and show how much it inflates scores.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from emorec.errors import DatasetError

PROTOCOLS = ("official", "subject-kfold", "random")


@dataclass
class Fold:
    name: str
    train: np.ndarray  # indices
    test: np.ndarray
    val: np.ndarray | None = None


def assert_disjoint(groups: Sequence[str], train: np.ndarray, test: np.ndarray) -> None:
    """Raise if any group (subject/speaker) appears in both index sets."""
    g = np.asarray(groups)
    shared = set(g[train]) & set(g[test])
    if shared:
        raise AssertionError(f"identities on both sides of the split: {sorted(shared)[:5]}")


def subject_kfold(
    y: Sequence[int], groups: Sequence[str], k: int = 10, seed: int = 0
) -> list[Fold]:
    """Stratified k-fold with whole subjects per fold (sklearn's StratifiedGroupKFold)."""
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.asarray(y)
    groups = np.asarray(groups)
    if (groups == "").any():
        raise DatasetError("subject-kfold needs a subject/speaker for every item; this dataset lacks some")
    n_groups = len(set(groups.tolist()))
    if n_groups < k:
        raise DatasetError(f"subject-kfold with k={k} needs at least {k} subjects, found {n_groups}")
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    folds = []
    for i, (train, test) in enumerate(splitter.split(np.zeros(len(y)), y, groups), start=1):
        assert_disjoint(groups, train, test)
        folds.append(Fold(f"fold_{i:02d}", np.sort(train), np.sort(test)))
    return folds


def group_validation_split(
    y: Sequence[int], groups: Sequence[str], train_idx: np.ndarray, fraction: float = 0.15, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Carve a subject-disjoint validation set out of a training fold (for early stopping)."""
    from sklearn.model_selection import StratifiedGroupKFold

    y, groups = np.asarray(y), np.asarray(groups)
    k = max(2, int(round(1 / fraction)))
    n_groups = len(set(groups[train_idx].tolist()))
    if n_groups < k:
        k = max(2, n_groups)
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    inner_train, inner_val = next(splitter.split(np.zeros(len(train_idx)), y[train_idx], groups[train_idx]))
    tr, va = train_idx[inner_train], train_idx[inner_val]
    assert_disjoint(groups, tr, va)
    return tr, va


def random_split(y: Sequence[int], test_fraction: float = 0.2, seed: int = 0) -> Fold:
    """The notebooks' random stratified hold-out (identities may leak across sides)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    train, test = train_test_split(idx, test_size=test_fraction, stratify=np.asarray(y), random_state=seed)
    return Fold("random", np.sort(train), np.sort(test))


def official_split(
    splits: Sequence[str], train: Sequence[str] = ("Training",), val: Sequence[str] = ("PublicTest",),
    test: Sequence[str] = ("PrivateTest",),
) -> Fold:
    """Indices of the dataset's own split column."""
    s = np.asarray(splits)
    tr, va, te = (np.flatnonzero(np.isin(s, list(x))) for x in (train, val, test))
    if len(tr) == 0 or len(te) == 0:
        raise DatasetError(
            f"the official split needs {list(train)} and {list(test)} items; found splits {sorted(set(s.tolist()))}"
        )
    return Fold("official", tr, te, va if len(va) else None)


def iter_folds(folds: list[Fold]) -> Iterator[Fold]:
    yield from folds
