"""Speaker-independent protocols: no speaker on both sides, ever."""
from __future__ import annotations

import numpy as np
import pytest

from emorec.errors import DatasetError
from emorec.datasets.splits import (
    assert_disjoint,
    grouped_kfold,
    inner_split,
    leave_one_speaker_out,
    make_folds,
    random_kfold,
)

RAVDESS_GROUPS = np.repeat([f"ravdess:{a:02d}" for a in range(1, 21)], 60)
RAVDESS_SEX = {f"ravdess:{a:02d}": "male" if a % 2 else "female" for a in range(1, 21)}


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_ravdess_five_folds_over_twenty_actors(seed):
    folds = make_folds("speaker-kfold", RAVDESS_GROUPS, 5, seed, RAVDESS_SEX)
    assert len(folds) == 5
    seen = []
    for train, test in folds:
        test_speakers = set(RAVDESS_GROUPS[test])
        assert not test_speakers & set(RAVDESS_GROUPS[train])
        assert len(test_speakers) == 4 and len(test) == 240 and len(train) == 960
        assert sorted(RAVDESS_SEX[s] for s in test_speakers) == ["female", "female", "male", "male"]
        seen += sorted(test_speakers)
    assert sorted(seen) == sorted(set(RAVDESS_GROUPS))  # every actor tested exactly once


def test_uneven_groups_balanced():
    groups = np.array(sum(([f"s{i}"] * (10 + 5 * i) for i in range(9)), []))
    folds = grouped_kfold(groups, 3)
    sizes = [len(te) for _, te in folds]
    assert max(sizes) - min(sizes) <= 25
    for tr, te in folds:
        assert_disjoint(tr, te, groups)


def test_loso_savee():
    groups = np.repeat(["savee:DC", "savee:JE", "savee:JK", "savee:KL"], 120)
    folds = make_folds("loso", groups)
    assert [set(groups[te]) for _, te in folds] == [{"savee:DC"}, {"savee:JE"}, {"savee:JK"}, {"savee:KL"}]
    for tr, te in folds:
        assert len(set(groups[tr])) == 3 and not set(groups[tr]) & set(groups[te])


def test_inner_validation_is_speaker_disjoint():
    train, test = make_folds("speaker-kfold", RAVDESS_GROUPS, 5)[0]
    fit, val = inner_split(train, RAVDESS_GROUPS, 2, seed=3)
    assert len(set(RAVDESS_GROUPS[val])) == 2
    assert not set(RAVDESS_GROUPS[fit]) & set(RAVDESS_GROUPS[val])
    assert not set(RAVDESS_GROUPS[val]) & set(RAVDESS_GROUPS[test])
    assert sorted(np.concatenate([fit, val])) == sorted(train)
    fit0, val0 = inner_split(train, RAVDESS_GROUPS, 0)
    assert len(val0) == 0 and np.array_equal(fit0, train)


def test_random_protocol_mixes_speakers_and_guard_catches_it():
    folds = random_kfold(len(RAVDESS_GROUPS), 5, seed=0)
    tr, te = folds[0]
    assert set(RAVDESS_GROUPS[tr]) & set(RAVDESS_GROUPS[te])  # the leak the protocol exists to show
    with pytest.raises(AssertionError, match="both sides"):
        assert_disjoint(tr, te, RAVDESS_GROUPS)
    assert sorted(np.concatenate([t for _, t in folds])) == list(range(len(RAVDESS_GROUPS)))


def test_errors():
    with pytest.raises(DatasetError, match="cannot fill 5"):
        grouped_kfold(["a", "b", "c"], 5)
    with pytest.raises(DatasetError, match="protocol"):
        make_folds("holdout", ["a", "b"])
    with pytest.raises(DatasetError, match="at least 2 speakers"):
        leave_one_speaker_out(["a", "a"])
