"""Evaluation protocols for speech: who may be on which side of a split.

- ``speaker-kfold``: grouped k-fold by speaker (RAVDESS 5 folds over 20 actors,
  CREMA-D by actor). No speaker is ever in both the training and the test fold.
- ``loso``: leave-one-speaker-out (SAVEE's 4 speakers).
- ``random-augmented``: the original notebook's leaky setup: every clip is
  augmented first, then the clips *and their augmented copies* are split at
  random, so near-identical copies of a test clip sit in the training set.
  Kept only to show how much that inflates the score.

Early stopping uses validation *speakers* carved out of the training fold
(:func:`inner_split`), never the test fold.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from emorec.errors import DatasetError

PROTOCOLS = ("speaker-kfold", "loso", "random-augmented", "all")

Split = tuple[np.ndarray, np.ndarray]


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


def assert_speaker_disjoint(train_idx: np.ndarray, test_idx: np.ndarray, groups: Sequence[str]) -> None:
    """Raise if any speaker appears on both sides (guards every speaker protocol)."""
    groups_arr = np.asarray(groups, dtype=str)
    shared = set(groups_arr[train_idx].tolist()) & set(groups_arr[test_idx].tolist())
    if shared:
        raise AssertionError(f"speakers on both sides of a split: {sorted(shared)[:5]}")


def make_folds(
    protocol: str,
    groups: Sequence[str],
    n_folds: int = 5,
    seed: int = 0,
    strata: Mapping[str, str] | None = None,
) -> list[Split]:
    """Folds for a protocol name (see :data:`PROTOCOLS`); speaker protocols are checked."""
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
        raise DatasetError(f"protocol {protocol!r} unknown: use one of {', '.join(PROTOCOLS)}")
    for tr, te in folds:
        assert_speaker_disjoint(tr, te, groups)
    return folds
