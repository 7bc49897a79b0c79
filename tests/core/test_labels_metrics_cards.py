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
