"""The masked logistic-regression head: each clip's softmax over its corpus's classes in training,
over every class at prediction; with every class allowed it is scikit-learn's model."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from emorec.training.voice.fused import attach_head, fit_head, restricted_probs
from emorec.training.voice.masked_head import MaskedLogisticRegression, corpus_masks


def test_corpus_masks_allow_each_corpus_its_own_classes() -> None:
    y = np.array([0, 1, 2, 0, 1, 3])
    corpus = np.array(["a", "a", "a", "b", "b", "b"])
    mask = corpus_masks(corpus, y)
    assert mask.shape == (6, 4)
    assert mask[:3].tolist() == [[True, True, True, False]] * 3
    assert mask[3:].tolist() == [[True, True, False, True]] * 3


def test_with_every_class_allowed_it_is_sklearns_logistic_regression() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    y = np.arange(300) % 4
    X = rng.standard_normal((300, 6)) + np.eye(4, 6)[y] * 1.5
    w = rng.uniform(0.5, 2.0, 300)
    ours = MaskedLogisticRegression(C=0.3).fit(X, y, w)
    ref = LogisticRegression(C=0.3, max_iter=2000, tol=1e-8).fit(X, y, sample_weight=w)
    assert np.abs(ours.coef_ - ref.coef_).max() < 1e-3
    assert np.abs(ours.intercept_ - ref.intercept_).max() < 1e-3
    assert np.abs(ours.predict_proba(X) - ref.predict_proba(X)).max() < 1e-3


def _two_corpora(seed: int = 1):
    """Corpus a has classes 0, 1, 2 (class 2 at (0, 3)); corpus b labels only 0 and 1, and its
    many class-0 clips sit where a's class 2 does (what b calls neutral sounds like a's class 2)."""
    rng = np.random.default_rng(seed)
    centres = {0: (-3.0, 0.0), 1: (3.0, 0.0), 2: (0.0, 3.0)}
    Xa = np.concatenate([rng.normal(centres[k], 0.7, (40, 2)) for k in (0, 1, 2)])
    ya = np.repeat([0, 1, 2], 40)
    Xb = np.concatenate([rng.normal((0.0, 3.0), 0.7, (120, 2)), rng.normal(centres[1], 0.7, (40, 2))])
    yb = np.repeat([0, 1], [120, 40])
    X, y = np.concatenate([Xa, Xb]), np.concatenate([ya, yb])
    corpus = np.array(["a"] * len(ya) + ["b"] * len(yb))
    return X, y, corpus


def test_a_corpus_without_a_class_does_not_teach_against_it() -> None:
    X, y, corpus = _two_corpora()
    probe = np.array([[0.0, 3.0]])  # corpus a's class 2
    plain = MaskedLogisticRegression(C=1.0).fit(X, y)
    masked = MaskedLogisticRegression(C=1.0).fit(X, y, allowed=corpus_masks(corpus, y))
    p_plain, p_masked = plain.predict_proba(probe)[0], masked.predict_proba(probe)[0]
    # b's 120 clips there are evidence against class 2 only when b's softmax runs over it
    assert p_plain.argmax() == 0
    assert p_masked[2] > p_plain[2] + 0.2
    # both still separate the classes every corpus has
    assert plain.predict(np.array([[-3.0, 0.0], [3.0, 0.0]])).tolist() == [0, 1]
    assert masked.predict(np.array([[-3.0, 0.0], [3.0, 0.0]])).tolist() == [0, 1]


def test_a_mask_that_allows_every_class_is_the_plain_model() -> None:
    X, y, _ = _two_corpora(2)
    full = corpus_masks(np.array(["a"] * len(y)), y)
    a = MaskedLogisticRegression(C=1.0).fit(X, y, allowed=full)
    b = MaskedLogisticRegression(C=1.0).fit(X, y)
    assert np.allclose(a.coef_, b.coef_) and np.allclose(a.intercept_, b.intercept_)


def test_a_clip_whose_label_its_corpus_lacks_is_refused() -> None:
    X = np.zeros((4, 2))
    y = np.array([0, 1, 2, 0])
    allowed = np.array([[True, True, False]] * 4)
    with pytest.raises(ValueError, match="outside its allowed classes"):
        MaskedLogisticRegression().fit(X, y, allowed=allowed)


def test_fit_head_with_corpora_exports_like_the_plain_head() -> None:
    X, y, corpus = _two_corpora(3)
    head = fit_head(X, y, np.ones(len(y)), 1.0, corpus)
    assert isinstance(head.named_steps["logisticregression"], MaskedLogisticRegression)
    module = nn.Module()
    attach_head(module, head)
    probe = np.array([[0.0, 3.0], [-2.0, 0.5], [3.0, -1.0]])
    with torch.no_grad():
        z = module.head((torch.tensor(probe, dtype=torch.float32) - module.mean) / module.scale)
    assert np.allclose(torch.softmax(z, -1).numpy(), head.predict_proba(probe), atol=1e-5)
    ids, probs = restricted_probs(head, probe, [0, 1])  # the benchmark's restricted argmax works on it
    assert ids.tolist() == [0, 1] and np.allclose(probs.sum(1), 1.0)
