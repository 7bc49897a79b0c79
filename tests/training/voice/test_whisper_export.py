"""The shipped voice recipe's exporter on any corpora: loading with a label policy, the masked head,
held-out metrics computed at export, and one-line errors (the Whisper vectors are synthetic here:
the encoder itself is tested in test_whisper.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from emorec.errors import EmorecError  # noqa: E402
from emorec.testing.media import make_ravdess_folder, speech_like, write_audio  # noqa: E402
from emorec.training.voice import frontends  # noqa: E402
from emorec.training.voice import whisper_export as WE  # noqa: E402
from emorec.training.voice.whisper import N_STATES, WIDTH  # noqa: E402

URDU = {"N": "Neutral", "H": "Happy", "S": "Sad", "A": "Angry"}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Path]:
    """RAVDESS (neutral, calm, happy, sad, angry) and URDU (neutral, happy, sad, angry), real names."""
    root = tmp_path_factory.mktemp("corpora")
    make_ravdess_folder(root / "ravdess", actors=(1, 2, 3, 4), emotions=(1, 2, 3, 4, 5), seconds=0.6)
    for spk in range(1, 6):
        for i, (code, folder) in enumerate(URDU.items()):
            for take in range(2):
                x = speech_like(0.6, f0=100 + 40 * i + spk, seed=spk * 10 + i + 100 * take)
                write_audio(root / "urdu" / folder / f"SM{spk}_F{take + 1}_{code}{spk:03d}.wav", 0.3 * x)
    return {"ravdess": root / "ravdess", "urdu": root / "urdu"}


def _specs(corpora: dict[str, Path]) -> list[str]:
    return [f"{k}={v}" for k, v in corpora.items()]


@pytest.fixture
def label_vectors(monkeypatch):
    """Whisper state vectors that carry each clip's label in states 2 and 3 (noise elsewhere)."""
    def fake(records, names, cache=None, progress=True):
        rng = np.random.default_rng(len(records))
        out = rng.standard_normal((len(records), N_STATES, WIDTH)).astype(np.float32)
        for i, r in enumerate(records):  # a fixed random direction per label, in every value of the two states
            out[i, 2:4] += np.random.default_rng(sum(map(ord, r.label))).standard_normal(WIDTH)
        return {n: out.reshape(len(records), -1) for n in names}

    monkeypatch.setattr(frontends, "clip_vectors", fake)


def test_mask_keeps_the_union_and_shared_keeps_the_common_classes(corpora):
    records, labels, summaries, names = WE.training_data(None, _specs(corpora), "mask")
    assert names == ["ravdess", "urdu"] and len(summaries) == 2
    assert labels == ["neutral", "calm", "happy", "sad", "angry"]
    shared_records, shared, _, _ = WE.training_data(None, _specs(corpora), "shared")
    assert shared == ["neutral", "happy", "sad", "angry"]
    assert {r.label for r in shared_records} == set(shared) and len(shared_records) < len(records)


def test_bad_corpus_sets_are_refused_in_one_line(corpora, tmp_path):
    with pytest.raises(EmorecError, match="given twice"):
        WE.training_data(None, [f"urdu={corpora['urdu']}"] * 2)
    with pytest.raises(EmorecError, match="label policy 'union' unknown"):
        WE.training_data(None, _specs(corpora), "union")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmorecError, match="no clips"):
        WE.training_data(None, [f"urdu={tmp_path / 'empty'}"])


def test_main_answers_a_bad_corpus_with_one_line_and_exit_2(corpora, tmp_path, capsys):
    out = tmp_path / "voice.onnx"
    assert WE.main(["--out", str(out), "--corpus", f"nosuch={tmp_path}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "nosuch" in err[0]
    assert not out.exists()


def test_held_out_metrics_leave_each_corpus_out_over_its_own_classes(corpora, label_vectors):
    records, labels, _, _ = WE.training_data(None, _specs(corpora), "mask")
    metrics = WE.held_out_metrics(records, labels)
    rows = metrics["rows"]
    assert set(rows) == {"leave-corpus-out/ravdess", "leave-corpus-out/urdu"}
    assert rows["leave-corpus-out/urdu"]["classes"] == 4
    assert rows["leave-corpus-out/urdu"]["n"] == sum(r.corpus == "urdu" for r in records)
    # URDU's four classes all occur in RAVDESS: the label-carrying vectors transfer
    assert rows["leave-corpus-out/urdu"]["balanced_accuracy"] > 0.9
    # calm is RAVDESS's alone, so held-out RAVDESS cannot get it right: at most 4 of 5 classes
    assert rows["leave-corpus-out/ravdess"]["balanced_accuracy"] <= 0.8 + 1e-9
    low, high = rows["leave-corpus-out/urdu"]["balanced_accuracy_ci95"]
    assert low <= rows["leave-corpus-out/urdu"]["balanced_accuracy"] <= high


def test_one_corpus_is_scored_by_speaker_grouped_folds(corpora, label_vectors):
    records, labels, _, _ = WE.training_data(None, [f"urdu={corpora['urdu']}"])
    rows = WE.held_out_metrics(records, labels, folds=5)["rows"]
    assert list(rows) == ["speaker-kfold/urdu"]
    assert rows["speaker-kfold/urdu"]["n"] == len(records)
    assert rows["speaker-kfold/urdu"]["balanced_accuracy"] > 0.9


def test_card_metrics_come_from_the_benchmark_only_for_the_default_recipe(corpora, label_vectors, tmp_path):
    import json

    bench = tmp_path / "voice_frontends.json"
    row = {"frontend": WE.RECIPE, "kind": "leave-corpus-out", "corpus": "emovo", "n": 10, "labels": ["a", "b"],
           "protocol": "p", **{m: {"value": 0.5, "low": 0.4, "high": 0.6}
                                for m in ("accuracy", "balanced_accuracy", "macro_f1")}}
    bench.write_text(json.dumps({"command": "c", "figures": {"rows": [row]}}))
    records, labels, _, _ = WE.training_data(None, _specs(corpora))
    assert set(WE.card_metrics(records, labels, True, True, bench, "cmd")["rows"]) == {"leave-corpus-out/emovo"}
    own = WE.card_metrics(records, labels, True, False, bench, "cmd")
    assert set(own["rows"]) == {"leave-corpus-out/ravdess", "leave-corpus-out/urdu"} and own["command"] == "cmd"


def test_train_head_masks_by_default(corpora, label_vectors):
    from emorec.training.voice.masked_head import MaskedLogisticRegression

    records, labels, _, _ = WE.training_data(None, _specs(corpora))
    head, layers, C, table = WE.train_head(records, labels)
    assert isinstance(head.named_steps["logisticregression"], MaskedLogisticRegression)
    assert set(layers) <= {2, 3} and len(head.classes_) == len(labels) and len(table) == 11
    plain, *_ = WE.train_head(records, labels, masked=False)
    assert not isinstance(plain.named_steps["logisticregression"], MaskedLogisticRegression)


def test_a_held_out_corpus_sharing_no_class_is_a_clear_error(corpora, label_vectors):
    records, labels, _, _ = WE.training_data(None, _specs(corpora))
    only_calm = [r for r in records if r.corpus == "urdu" or r.label == "calm"]  # URDU has no calm
    with pytest.raises(EmorecError, match="ravdess shares no class with the other corpora"):
        WE.held_out_metrics(only_calm, labels)


def test_too_few_speakers_to_choose_on_is_a_clear_error(corpora, label_vectors):
    records, labels, _, _ = WE.training_data(None, [f"urdu={corpora['urdu']}"])
    two = [r for r in records if r.speaker in sorted({r.speaker for r in records})[:2]]
    with pytest.raises(EmorecError, match="needs at least 3: add another --corpus"):
        WE.held_out_metrics(two, labels)
    with pytest.raises(EmorecError, match="needs at least 3"):
        WE.train_head(two, labels)
