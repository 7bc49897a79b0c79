"""Feature cache: keyed by content and config; a second run extracts nothing."""
from __future__ import annotations

import numpy as np

from emorec.datasets.audio_corpus import AudioRecord
from emorec.training.voice.cache import FeatureCache, cache_key, file_sha256
from emorec.voice.features import FeatureConfig

from emorec.testing import make_ravdess_folder, speech_like, write_audio


def test_put_get_and_keys(tmp_path):
    cfg = FeatureConfig()
    cache = FeatureCache(tmp_path, cfg)
    assert cache.get("ab" * 32) is None and cache.misses == 1
    arr = np.random.default_rng(0).normal(size=(10, 64)).astype(np.float32)
    path = cache.put("ab" * 32, arr)
    assert path.suffix == ".npy" and not list(path.parent.glob("*.tmp*"))
    got = cache.get("ab" * 32)
    assert got.dtype == np.float16 and np.allclose(got, arr, atol=1e-2) and cache.hits == 1
    assert cache.variants("ab" * 32) == ["orig"]
    # Settings applied at load time share the cache; ones that change the stored array do not.
    assert cache_key(cfg.with_(deltas=0, normalize="none", kind="mfcc")) == cache_key(cfg)
    assert cache_key(cfg.with_(n_mels=80)) != cache_key(cfg)
    assert cache_key(cfg.with_(trim_db=None)) != cache_key(cfg)


def test_content_hash_not_path(tmp_path):
    x = speech_like(0.5)
    a = write_audio(tmp_path / "a.wav", x)
    b = write_audio(tmp_path / "sub" / "b.wav", x)
    c = write_audio(tmp_path / "c.wav", x * 0.5)
    assert file_sha256(a) == file_sha256(b) != file_sha256(c)


def test_second_run_skips_extraction(tmp_path, monkeypatch):
    from emorec.training.voice import config as voice_config
    from emorec.training.voice import corpora
    from emorec.training.voice import features as voice_features

    make_ravdess_folder(tmp_path / "ravdess", actors=(1, 2), emotions=(1, 5))
    cfg = voice_config.VoiceTrainConfig(corpus=[f"ravdess={tmp_path / 'ravdess'}"], cache=str(tmp_path / "cache"))
    cache = FeatureCache(cfg.cache, cfg.feature_config())
    corpus = corpora.load_records(cfg, cache)
    first, _, _ = voice_features.compute_features(corpus, cfg.feature_config(), cache, progress=False)
    assert cache.misses == len(first) == 8 and cache.hits == 0

    calls = []
    real = voice_features.base_features
    monkeypatch.setattr(voice_features, "base_features", lambda *a, **k: calls.append(1) or real(*a, **k))
    cache2 = FeatureCache(cfg.cache, cfg.feature_config())
    second, _, _ = voice_features.compute_features(corpus, cfg.feature_config(), cache2, progress=False)
    assert calls == [] and cache2.hits == 8 and cache2.misses == 0
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


def test_records_roundtrip(tmp_path):
    cache = FeatureCache(tmp_path, FeatureConfig())
    recs = [AudioRecord(tmp_path / "x.wav", "sad", "ravdess:01", "ravdess", {"sex": "male"})]
    cache.save_records("ravdess", recs, ["f" * 64])
    back, hashes = cache.load_records("ravdess")
    assert back == recs and back[0].meta == {"sex": "male"} and hashes == ["f" * 64]
