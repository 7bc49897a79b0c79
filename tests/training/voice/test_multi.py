"""Multi-corpus voice training: per-corpus speaker-disjoint folds, corpus-held-out splits, label masking,
class balance, augmentation only in training folds, channel augmentation, and a short real-data run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emorec.testing.media import make_ravdess_folder, speech_like, write_audio
from emorec.training.voice import channel_augment as ca
from emorec.training.voice.multi import (
    MultiCorpusConfig,
    corpus_kfold,
    leave_corpus_out,
    load_data,
    masked_loss,
    restrict,
    run,
    sample_weights,
)

EMOVO = {"neu": 1, "gio": 3, "tri": 4, "rab": 5}
URDU = {"N": 1, "H": 3, "S": 4, "A": 5}


def _corpora(root: Path) -> dict[str, Path]:
    make_ravdess_folder(root / "ravdess", actors=(1, 2, 3, 4, 5, 6), emotions=(1, 2, 3, 4, 5), seconds=0.8)
    for spk_i, spk in enumerate(("f1", "f2", "m1", "m2", "m3")):
        for code, e in EMOVO.items():
            for sent in ("b1", "n2"):
                x = speech_like(0.8, f0=90 + 45 * e + spk_i, seed=spk_i * 50 + e + len(sent))
                write_audio(root / "emovo" / spk / f"{code}-{spk}-{sent}.wav", x)
    folders = {"N": "Neutral", "H": "Happy", "S": "Sad", "A": "Angry"}
    for spk in range(1, 8):
        for code, e in URDU.items():
            x = speech_like(0.8, f0=90 + 45 * e + spk, seed=spk * 70 + e)
            write_audio(root / "urdu" / folders[code] / f"SM{spk}_F1_{code}{spk:03d}.wav", 0.3 * x)
    return {"ravdess": root / "ravdess", "emovo": root / "emovo", "urdu": root / "urdu"}


@pytest.fixture(scope="module")
def data_and_cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpora")
    paths = _corpora(root)
    cfg = MultiCorpusConfig(corpus=[f"{k}={v}" for k, v in paths.items()], cache=str(root / "cache"),
                            out=str(root / "run"), channel_copies=1, epochs=1, threads=1, folds=3,
                            model_kwargs={"channels": 16, "hidden": 16})
    return load_data(cfg, progress=False), cfg


def test_union_labels_and_per_corpus_classes(data_and_cfg):
    data, _ = data_and_cfg
    assert data.labels == ["neutral", "calm", "happy", "sad", "angry"]
    assert data.corpus_labels["urdu"] == ["neutral", "happy", "sad", "angry"]
    mask = data.class_mask()
    assert mask[data.corpora.index("ravdess")].tolist() == [1, 1, 1, 1, 1]
    assert mask[data.corpora.index("emovo")].tolist() == [1, 0, 1, 1, 1]  # EMOVO has no calm


def test_corpus_kfold_is_speaker_disjoint_within_every_corpus(data_and_cfg):
    data, _ = data_and_cfg
    groups, corpus = data.groups, np.array([r.corpus for r in data.records])
    folds = corpus_kfold(data, 3)
    tested = np.concatenate([te for _, te in folds])
    assert sorted(tested.tolist()) == list(range(len(groups)))  # every clip tested exactly once
    for tr, te in folds:
        assert not set(groups[tr]) & set(groups[te])
        assert set(corpus[te]) == {"ravdess", "emovo", "urdu"}  # each fold tests speakers of every corpus


def test_leave_corpus_out_keeps_the_held_out_corpus_out_of_training(data_and_cfg):
    data, _ = data_and_cfg
    corpus = np.array([r.corpus for r in data.records])
    for held in data.corpora:
        tr, te = leave_corpus_out(data, held)
        assert held not in set(corpus[tr]) and set(corpus[te]) == {held}
        assert len(tr) + len(te) == len(corpus)


def test_sample_weights_balance_corpora_and_classes(data_and_cfg):
    data, _ = data_and_cfg
    idx = np.arange(len(data.records))
    w = sample_weights(data, idx)
    corpus, y = data.corpus_of, data.y
    shares = {c: w[corpus == c].sum() for c in range(len(data.corpora))}
    sizes = {c: (corpus == c).sum() for c in shares}
    expect = {c: np.sqrt(n) / sum(np.sqrt(m) for m in sizes.values()) for c, n in sizes.items()}
    for c in shares:
        assert shares[c] == pytest.approx(expect[c], rel=1e-6)
        per_class = [w[(corpus == c) & (y == k)].sum() for k in set(y[corpus == c].tolist())]
        assert np.allclose(per_class, per_class[0])


def test_masked_loss_ignores_classes_the_corpus_lacks():
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0]])
    loss_fn = masked_loss(mask, 3, smoothing=0.1)

    class Fixed(torch.nn.Module):
        def __init__(self, logits):
            super().__init__()
            self.logits = logits

        def forward(self, x):
            return self.logits

    # Corpus 1 lacks class 1: a huge logit there must not change its loss.
    y_code = torch.tensor([0 + 3 * 1])
    a, _, y = loss_fn(Fixed(torch.tensor([[2.0, 0.0, 0.0]])), (torch.zeros(1), y_code), None)
    b, _, _ = loss_fn(Fixed(torch.tensor([[2.0, 50.0, 0.0]])), (torch.zeros(1), y_code), None)
    assert y.tolist() == [0] and float(a) == pytest.approx(float(b), abs=1e-5)
    c, _, _ = loss_fn(Fixed(torch.tensor([[2.0, 50.0, 0.0]])), (torch.zeros(1), torch.tensor([0])), None)
    assert float(c) > float(a) + 10  # corpus 0 has class 1: the same logits are heavily penalised


def test_restrict_picks_only_allowed_classes():
    probs = np.array([[0.1, 0.6, 0.3], [0.5, 0.4, 0.1]])
    assert restrict(probs, ["a", "b", "c"], ["a", "c"]).tolist() == [2, 0]


def test_channel_copies_exist_but_only_training_items_draw_them(data_and_cfg):
    from emorec.training.voice.data import VoiceItems

    data, cfg = data_and_cfg
    feat = cfg.feature_config()
    assert all(len(c) == 1 for c in data.copies)
    assert not np.array_equal(np.asarray(data.copies[0][0]), np.asarray(data.bases[0]))
    ev = VoiceItems(data.bases[:4], data.y[:4], feat, False, 1000, data.copies[:4], None)
    assert ev.copies is None and ev.augment is None
    from emorec.voice.features import finalize

    for i in range(4):  # evaluation items are the stored originals, every time
        assert np.array_equal(ev[i][0], finalize(data.bases[i], feat))


def test_channel_transforms_keep_length_level_and_dtype():
    rng = np.random.default_rng(0)
    x = speech_like(1.0, seed=9)
    for y in (ca.codec_roundtrip(x, "mp3", 24000), ca.codec_roundtrip(x, "opus", 16000),
              ca.band_limit(x, 300, 3400), ca.reverberate(x, ca.synthetic_rir(rng, 0.5)),
              ca.add_noise(x, ca.coloured_noise(x.size, rng, "pink"), 10.0)):
        assert y.dtype == np.float32 and y.size == x.size and np.all(np.isfinite(y))
    assert np.corrcoef(x, ca.codec_roundtrip(x, "opus", 32000))[0, 1] > 0.9
    fast = ca.change_speed(x, 1.1)
    assert fast.size == pytest.approx(x.size / 1.1, rel=0.01)
    spec = np.abs(np.fft.rfft(ca.band_limit(x, 300, 3400)))
    freqs = np.fft.rfftfreq(x.size, 1 / 16000)
    assert spec[freqs > 5000].mean() < 0.05 * spec[(freqs > 500) & (freqs < 3000)].mean()
    a = ca.channel_augment(x, np.random.default_rng(1))
    b = ca.channel_augment(x, np.random.default_rng(1))
    assert np.array_equal(a, b)  # seeded


def test_tiny_run_writes_leave_corpus_out_predictions(data_and_cfg, tmp_path):
    _, cfg = data_and_cfg
    from dataclasses import replace

    cfg = replace(cfg, protocol="leave-corpus-out", hold_out=["emovo"], out=str(tmp_path / "loco"))
    result = run(cfg, resume=False, progress=False)
    m = result["per_corpus"]["emovo"]
    assert m["labels"] == ["neutral", "happy", "sad", "angry"] and m["n"] == 40
    with np.load(tmp_path / "loco" / "predictions.npz") as p:
        assert set(p["corpus"].tolist()) == {"emovo"}
        labels = result["labels"]
        assert {labels[i] for i in p["y_pred"]} <= {"neutral", "happy", "sad", "angry"}


@pytest.mark.data
@pytest.mark.slow
def test_short_multi_corpus_run_on_real_data_learns(shared_data, tmp_path):
    cfg = MultiCorpusConfig(corpus=["ravdess", "emovo", "urdu"], data=str(shared_data), limit_speakers=3,
                            protocol="all", epochs=8, threads=1, out=str(tmp_path / "run"),
                            cache=str(tmp_path / "cache"), model_kwargs={"channels": 32, "hidden": 32},
                            feature_augment=False)
    from emorec.training.voice.multi import fit_members, predict

    data = load_data(cfg, progress=False)
    idx = np.arange(len(data.records))
    trainers = fit_members(cfg, data, idx, Path(cfg.out))
    probs = predict(cfg, data, trainers, idx)
    hist = (Path(cfg.out) / "history.jsonl").read_text().splitlines()
    import json

    losses = [json.loads(h)["train_loss"] for h in hist]
    assert losses[-1] < losses[0] - 0.2
    acc = float(np.mean(probs.argmax(1) == data.y))
    assert acc > 2.0 / len(data.labels)  # well above chance on the clips it fitted
