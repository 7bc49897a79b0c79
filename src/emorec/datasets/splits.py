"""Split protocols of both modalities, stated explicitly: one module, one argument order
(indices first, then the identities: ``assert_disjoint(train, test, groups)``).

Face protocols (:data:`FACE_PROTOCOLS`):

- ``official``: the dataset's own split column (FER2013 Training / PublicTest / PrivateTest).
- ``subject-kfold``: stratified k-fold grouped by subject or speaker: no identity is on
  both sides of any fold (``assert_disjoint`` proves it and is called on every split).
- ``random``: a random stratified hold-out of items, ignoring identities. It exists only
  to reproduce the original notebooks and show how much it inflates scores.

Speech protocols (:data:`VOICE_PROTOCOLS`):

- ``speaker-kfold``: grouped k-fold by speaker (RAVDESS 5 folds over 20 actors,
  CREMA-D by actor). No speaker is ever in both the training and the test fold.
- ``loso``: leave-one-speaker-out (SAVEE's 4 speakers).
- ``random-augmented``: the original notebook's leaky setup: every clip is
  augmented first, then the clips *and their augmented copies* are split at
  random, so near-identical copies of a test clip sit in the training set.
  Kept only to show how much that inflates the score.
- ``all``: every clip trains the final model (no held-out score).

Early stopping uses validation identities carved out of the training fold
(:func:`group_validation_split` for faces, :func:`inner_split` for speech),
never the test fold.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from emorec.errors import DatasetError

FACE_PROTOCOLS = ("official", "subject-kfold", "random")
VOICE_PROTOCOLS = ("speaker-kfold", "loso", "random-augmented", "all")
PROTOCOLS = FACE_PROTOCOLS  # the face names, as before

Split = tuple[np.ndarray, np.ndarray]  # (train, test) index arrays


@dataclass
class Fold:
    name: str
    train: np.ndarray  # indices
    test: np.ndarray
    val: np.ndarray | None = None


def assert_disjoint(train: np.ndarray, test: np.ndarray, groups: Sequence[str]) -> None:
    """Raise if any group (subject/speaker) appears in both index sets (guards every identity protocol)."""
    g = np.asarray(groups, dtype=str)
    shared = set(g[train].tolist()) & set(g[test].tolist())
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
        assert_disjoint(train, test, groups)
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
    assert_disjoint(tr, va, groups)
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


# -- speech protocols ---------------------------------------------------------------------------


def grouped_kfold(
    groups: Sequence[str],
    n_folds: int,
    seed: int = 0,
    strata: Mapping[str, str] | None = None,
) -> list[Split]:
    """(train, test) index arrays, speakers kept whole; folds balanced in size.

    ``strata`` (speaker -> e.g. sex) spreads each stratum evenly over folds.

    >>> folds = grouped_kfold(["a", "a", "b", "b", "c", "c", "d", "d"], 2)
    >>> [sorted(set(np.array(list("aabbccdd"))[te])) for _, te in folds]
    [['a', 'c'], ['b', 'd']]
    """
    groups_arr = np.asarray(groups, dtype=str)
    speakers = sorted(set(groups_arr.tolist()))
    if n_folds < 2:
        raise DatasetError("grouped k-fold needs at least 2 folds")
    if len(speakers) < n_folds:
        raise DatasetError(
            f"{len(speakers)} speakers cannot fill {n_folds} speaker-disjoint folds: use --folds {len(speakers)} or fewer"
        )
    rng = np.random.default_rng(seed)
    order = [speakers[i] for i in rng.permutation(len(speakers))] if seed else list(speakers)
    sizes = {s: int(np.sum(groups_arr == s)) for s in speakers}
    order.sort(key=lambda s: -sizes[s])  # largest speakers first balances fold sizes (stable sort)
    if strata:
        order.sort(key=lambda s: str(strata.get(s, "")))  # then one stratum after another
    fold_of: dict[str, int] = {}
    load = np.zeros(n_folds)
    counts = np.zeros(n_folds, dtype=int)
    for s in order:
        k = int(np.lexsort((np.arange(n_folds), counts, load))[0])  # fewest clips, then fewest speakers
        fold_of[s] = k
        load[k] += sizes[s]
        counts[k] += 1
    fold_ids = np.array([fold_of[g] for g in groups_arr])
    idx = np.arange(len(groups_arr))
    return [(idx[fold_ids != k], idx[fold_ids == k]) for k in range(n_folds)]


def leave_one_speaker_out(groups: Sequence[str]) -> list[Split]:
    """One fold per speaker: that speaker is the test set."""
    groups_arr = np.asarray(groups, dtype=str)
    idx = np.arange(len(groups_arr))
    speakers = sorted(set(groups_arr.tolist()))
    if len(speakers) < 2:
        raise DatasetError("leave-one-speaker-out needs at least 2 speakers")
    return [(idx[groups_arr != s], idx[groups_arr == s]) for s in speakers]


def random_kfold(n: int, n_folds: int, seed: int = 0) -> list[Split]:
    """Plain shuffled k-fold over items (ignores speakers: the leaky baseline)."""
    perm = np.random.default_rng(seed).permutation(n)
    chunks = np.array_split(perm, n_folds)
    return [(np.sort(np.concatenate(chunks[:k] + chunks[k + 1 :])), np.sort(chunks[k])) for k in range(n_folds)]


def inner_split(
    train_idx: np.ndarray, groups: Sequence[str], n_val_speakers: int, seed: int = 0
) -> Split:
    """Split a training fold into (fit, validation) by whole speakers.

    With ``n_val_speakers == 0`` (or a single speaker) validation is empty.
    """
    groups_arr = np.asarray(groups, dtype=str)
    speakers = sorted(set(groups_arr[train_idx].tolist()))
    if n_val_speakers <= 0 or len(speakers) < 2:
        return train_idx, train_idx[:0]
    n_val = min(n_val_speakers, len(speakers) - 1)
    chosen = set(np.random.default_rng(seed + 7919).choice(speakers, size=n_val, replace=False).tolist())
    is_val = np.isin(groups_arr[train_idx], list(chosen))
    return train_idx[~is_val], train_idx[is_val]


def make_folds(
    protocol: str,
    groups: Sequence[str],
    n_folds: int = 5,
    seed: int = 0,
    strata: Mapping[str, str] | None = None,
) -> list[Split]:
    """Folds for a protocol name (see :data:`VOICE_PROTOCOLS`); speaker protocols are checked."""
    if protocol == "speaker-kfold":
        folds = grouped_kfold(groups, n_folds, seed, strata)
    elif protocol == "loso":
        folds = leave_one_speaker_out(groups)
    elif protocol == "random-augmented":
        return random_kfold(len(groups), n_folds, seed)
    elif protocol == "all":
        idx = np.arange(len(groups))
        return [(idx, idx[:0])]
    else:
        raise DatasetError(f"protocol {protocol!r} unknown: use one of {', '.join(VOICE_PROTOCOLS)}")
    for tr, te in folds:
        assert_disjoint(tr, te, groups)
    return folds
