"""Split protocols: subject-disjoint folds are proven, random and official behave as stated."""
from __future__ import annotations

import numpy as np
import pytest

from emorec.datasets.splits import (
    assert_disjoint,
    group_validation_split,
    official_split,
    random_split,
    subject_kfold,
)
from emorec.errors import DatasetError


def _toy(n_subjects: int = 30, per_subject: int = 9, n_classes: int = 3):
    rng = np.random.default_rng(0)
    groups = np.repeat([f"S{i:03d}" for i in range(n_subjects)], per_subject)
    y = rng.integers(0, n_classes, len(groups))
    return y, groups


def test_subject_kfold_never_shares_a_subject_and_covers_everything() -> None:
    y, groups = _toy()
    folds = subject_kfold(y, groups, k=10, seed=3)
    assert len(folds) == 10
    seen = np.concatenate([f.test for f in folds])
    assert sorted(seen.tolist()) == list(range(len(y)))  # each item tested exactly once
    for f in folds:
        assert not set(groups[f.train]) & set(groups[f.test])
        tr, va = group_validation_split(y, groups, f.train, 0.15, seed=0)
        assert not set(groups[tr]) & set(groups[va])
        assert not set(groups[va]) & set(groups[f.test])


def test_assert_disjoint_detects_a_leak() -> None:
    groups = np.array(["a", "a", "b"])
    with pytest.raises(AssertionError, match="both sides"):
        assert_disjoint(np.array([0]), np.array([1, 2]), groups)


def test_random_split_leaks_subjects_which_is_why_it_is_not_the_headline() -> None:
    y, groups = _toy()
    fold = random_split(y, 0.2, seed=0)
    assert len(fold.test) == pytest.approx(0.2 * len(y), abs=1)
    assert set(groups[fold.train]) & set(groups[fold.test])


def test_subject_kfold_needs_subjects() -> None:
    y, groups = _toy(n_subjects=5)
    with pytest.raises(DatasetError, match="at least 10 subjects"):
        subject_kfold(y, groups, k=10)
    with pytest.raises(DatasetError, match="needs a subject"):
        subject_kfold(y, np.array([""] * len(y)), k=2)


def test_official_split_uses_usage_column() -> None:
    splits = np.array(["Training", "PublicTest", "PrivateTest", "Training"])
    fold = official_split(splits)
    assert fold.train.tolist() == [0, 3] and fold.val.tolist() == [1] and fold.test.tolist() == [2]
    with pytest.raises(DatasetError):
        official_split(np.array(["Training"]))
