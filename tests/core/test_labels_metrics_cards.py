"""Canonical labels, metrics and model cards."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from emorec.cards import ModelCard
from emorec.errors import ModelError
from emorec.evaluation.metrics import classification_metrics, format_metrics, pooled_and_per_fold
from emorec.labels import (
    CREMAD_CODES, EMOTIONS, FER2013_CODES, RAVDESS_CODES, SAVEE_CODES, UnknownLabelError, canonical, ordered,
)


def test_every_corpus_table_maps_into_the_vocabulary() -> None:
    for table in (FER2013_CODES, RAVDESS_CODES, CREMAD_CODES, SAVEE_CODES):
        assert set(table.values()) <= set(EMOTIONS)
    assert FER2013_CODES[7] == "contempt"
    assert canonical("Happiness") == "happy" and canonical("sadness") == "sad"
    with pytest.raises(UnknownLabelError):
        canonical("bored")
    assert ordered(["surprise", "neutral", "happy"]) == ["neutral", "happy", "surprise"]


def test_metrics_known_values_and_absent_class() -> None:
    labels = ["a", "b", "c"]
    y_true = [0, 0, 0, 1, 1, 1, 1]
    y_pred = [0, 0, 1, 1, 1, 1, 0]
    m = classification_metrics(y_true, y_pred, labels)
    assert m["accuracy"] == pytest.approx(5 / 7)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 3 / 4) / 2)  # c is absent: not averaged
    assert m["per_class"]["c"]["recall"] is None and m["absent_classes"] == ["c"]
    assert m["confusion_matrix"] == [[2, 1, 0], [1, 3, 0], [0, 0, 0]]
    text = format_metrics(m)
    assert "nan" not in text.lower() and "n/a" in text
    pooled = pooled_and_per_fold([m, m], labels)
    assert pooled["pooled"]["n"] == 14 and pooled["across_folds"]["accuracy"]["std"] == 0.0


def test_card_round_trip_and_missing_fields(tmp_path: Path) -> None:
    card = ModelCard(name="x", task="face", labels=["happy", "sad"], input={"size": [48, 48]})
    path = card.save(tmp_path / "x.json")
    assert ModelCard.load(path).labels == ["happy", "sad"]
    (tmp_path / "bad.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(ModelError, match="lacks required fields"):
        ModelCard.load(tmp_path / "bad.json")
    with pytest.raises(ModelError, match="not found"):
        ModelCard.load(tmp_path / "none.json")


def test_label_subset_keeps_the_models_order_and_renormalises():
    import numpy as np

    from emorec.errors import UsageError
    from emorec.labels import LabelSubset

    model = ["neutral", "calm", "happy", "sad", "angry"]
    s = LabelSubset(model, "Anger, happiness ,neutral")  # folder names and spaces are fine
    assert s.labels == ["neutral", "happy", "angry"] and s
    got = s.apply(np.array([[0.1, 0.5, 0.2, 0.1, 0.1], [0.0, 1.0, 0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(got, [[0.25, 0.5, 0.25], [1 / 3, 1 / 3, 1 / 3]])  # nothing left: uniform
    assert s.scores({"neutral": 0.1, "calm": 0.5, "happy": 0.2, "sad": 0.1, "angry": 0.1}) == {
        "neutral": 0.25, "happy": 0.5, "angry": 0.25}
    everything = LabelSubset(model, None)
    assert not everything and everything.labels == model
    np.testing.assert_array_equal(everything.apply(np.arange(5.0)), np.arange(5.0))
    with pytest.raises(UsageError, match="'fear' is not one of this model's labels"):
        LabelSubset(model, ["happy", "fear"])
    with pytest.raises(UsageError, match="'bogus' is not one of"):
        LabelSubset(model, "happy,bogus")
    with pytest.raises(UsageError, match="at least two"):
        LabelSubset(model, "happy,Happiness")


def test_recognisers_with_labels_answer_over_those_labels(tmp_path):

    from emorec.testing.media import with_pauses
    from emorec.voice.recognizer import VoiceEmotionRecognizer

    full = VoiceEmotionRecognizer()
    some = VoiceEmotionRecognizer(labels="neutral,happy,sad,angry")
    x, _ = with_pauses([2.0, 2.0])
    a, b = full.predict(x, sample_rate=16000), some.predict(x, sample_rate=16000)
    assert some.labels == ["neutral", "happy", "sad", "angry"] and set(b.scores) == set(some.labels)
    assert sum(b.scores.values()) == pytest.approx(1.0, abs=1e-5)
    restricted = a.restricted(some.subset)  # the server's path: the full result restricted afterwards
    assert restricted.label == b.label and len(restricted.segments) == len(b.segments)
    for k in some.labels:
        assert restricted.scores[k] == pytest.approx(b.scores[k], abs=2e-5)
    assert some.classify(x[16000:48000]).shape == (4,)
