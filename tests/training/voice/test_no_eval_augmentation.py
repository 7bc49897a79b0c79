"""Augmentation touches training-fold items only; evaluation items are never augmented."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

pytest.importorskip("torch")

from emorec.training.voice import config as voice_config  # noqa: E402
from emorec.training.voice import data as voice_data  # noqa: E402
from emorec.training.voice import train as voice_train  # noqa: E402
from emorec.training.voice.augment import FeatureAugmentConfig  # noqa: E402
from emorec.voice.features import FeatureConfig, finalize  # noqa: E402

from emorec.testing import make_ravdess_folder  # noqa: E402


def _fp(arr) -> str:
    return hashlib.sha1(np.ascontiguousarray(np.asarray(arr, dtype=np.float32)).tobytes()).hexdigest()


def test_eval_items_are_stored_features_unchanged():
    cfg = FeatureConfig()
    rng = np.random.default_rng(0)
    bases = [rng.normal(size=(n, 64)).astype(np.float16) for n in (50, 80)]
    items = voice_data.VoiceItems(bases, np.array([0, 1]), cfg, train=False, max_frames=1000,
                                   copies=[[bases[1]], [bases[0]]], augment=FeatureAugmentConfig(noise_prob=1.0))
    assert items.augment is None and items.copies is None  # eval items cannot even hold augmentation
    for i in range(2):
        assert np.array_equal(items[i][0], finalize(bases[i], cfg))
        assert np.array_equal(items[i][0], items[i][0])  # deterministic
    train = voice_data.VoiceItems(bases, np.array([0, 1]), cfg, train=True, max_frames=1000,
                                   augment=FeatureAugmentConfig(noise_prob=1.0))
    assert not np.array_equal(train[0][0], finalize(bases[0], cfg))


@pytest.mark.slow  # full training runs
@pytest.mark.parametrize("protocol", ["speaker-kfold", "loso"])
def test_training_run_augments_only_training_fold_clips(tmp_path, monkeypatch, protocol):
    data = tmp_path / "ravdess"
    make_ravdess_folder(data, actors=(1, 2, 3, 4), emotions=(1, 5), seconds=0.8)
    augmented: list[str] = []
    real_aug = voice_data.augment_logmel

    def spy_aug(x, *args, **kwargs):
        augmented.append(_fp(x))
        return real_aug(x, *args, **kwargs)

    monkeypatch.setattr(voice_data, "augment_logmel", spy_aug)
    folds_seen = []
    real_fit = voice_train._fit

    def spy_fit(cfg, bases, copies, y, labels, fit_idx, val_idx, out_dir, resume):
        augmented.clear()
        trainer = real_fit(cfg, bases, copies, y, labels, fit_idx, val_idx, out_dir, resume)
        fit_fps = {_fp(bases[i]) for i in fit_idx}
        held_out = set(range(len(bases))) - set(fit_idx.tolist())
        assert augmented, "training items were never augmented"
        assert set(augmented) <= fit_fps
        assert not set(augmented) & {_fp(bases[i]) for i in held_out}
        folds_seen.append(len(fit_idx))
        return trainer

    monkeypatch.setattr(voice_train, "_fit", spy_fit)
    cfg = voice_config.VoiceTrainConfig(corpus=[f"ravdess={data}"], protocol=protocol, folds=2, epochs=2, batch_size=4,
                                       cache=None, out=str(tmp_path / "run"), model_kwargs={"channels": 16, "hidden": 16})
    metrics = voice_train.run_training(cfg, progress=False)
    assert len(folds_seen) == (2 if protocol == "speaker-kfold" else 4)
    assert len(metrics["folds"]) == len(folds_seen)
