"""Features of a run's clips (from the cache where present) and ``emorec voice features``."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from emorec.datasets.audio_corpus import label_set
from emorec.errors import DatasetError, EmorecError
from emorec.training.voice.augment import AugmentConfig, notebook_copies, random_augment
from emorec.training.voice.cache import FeatureCache, file_sha256
from emorec.training.voice.config import VoiceTrainConfig
from emorec.training.voice.corpora import Corpus, _split_spec, corpus_path, scan_corpus
from emorec.voice.features import FeatureConfig, base_features


def _wave_variant(k: int, aug: AugmentConfig) -> str:
    import hashlib

    key = hashlib.sha256(json.dumps(aug.to_dict(), sort_keys=True).encode()).hexdigest()[:6]
    return f"aug{k}-{key}"


def compute_features(
    corpus: Corpus,
    feat_cfg: FeatureConfig,
    cache: FeatureCache | None,
    wave_copies: int = 0,
    wave_cfg: AugmentConfig = AugmentConfig(),
    notebook: bool = False,
    progress: bool = True,
) -> tuple[list[np.ndarray], list[list[np.ndarray]], list[list[np.ndarray]]]:
    """Base features per record, plus waveform-augmented copies and notebook copies if asked.

    Everything comes from the cache when present; audio is read only for misses.
    Copies are *stored* for every clip but used only for training-fold items.
    """
    from tqdm.auto import tqdm

    from emorec.voice.audio import read_audio, trim_silence

    bases, copies, nb = [], [], []
    variants = [_wave_variant(k, wave_cfg) for k in range(wave_copies)]
    nb_variants = ["nb0", "nb1"] if notebook else []
    computed = 0
    for rec, sha in tqdm(list(zip(corpus.records, corpus.hashes)), desc="features", disable=not progress, leave=False):
        wanted = ["orig", *variants, *nb_variants]
        found = {v: cache.get(sha, v) if cache is not None else None for v in wanted}
        missing = [v for v in wanted if found[v] is None]
        if missing:
            if corpus.from_cache and not Path(rec.path).is_file():
                raise DatasetError(
                    f"the cache lacks {missing} features for {rec.path}: rerun `emorec voice features` with the "
                    "same --wave-copies / --notebook-copies and feature options"
                )
            x = read_audio(rec.path, feat_cfg.sample_rate, allow_silent=True)
            if feat_cfg.trim_db is not None:
                x = trim_silence(x, feat_cfg.sample_rate, feat_cfg.trim_db)
            nb_made: list[np.ndarray] | None = None
            for v in missing:
                if v == "orig":
                    arr = base_features(x, feat_cfg, trimmed=True)
                elif v.startswith("aug"):
                    arr = base_features(random_augment(x, np.random.default_rng([int(sha[:12], 16), int(v[3:].split("-")[0])]), wave_cfg),
                                        feat_cfg, trimmed=True)
                else:
                    if nb_made is None:
                        nb_made = notebook_copies(x, np.random.default_rng(int(sha[:12], 16)))
                    arr = base_features(nb_made[int(v[2:])], feat_cfg, trimmed=True)
                arr = arr.astype(np.float16)
                found[v] = arr
                if cache is not None:
                    cache.put(sha, arr, v)
            computed += 1
        bases.append(found["orig"])
        copies.append([found[v] for v in variants])
        nb.append([found[v] for v in nb_variants])
    if progress and cache is not None:
        print(f"features: {len(bases) - computed} clips from the cache, {computed} extracted ({cache.dir})")
    return bases, copies, nb



def precompute(cfg: VoiceTrainConfig, notebook: bool = False, progress: bool = True) -> dict[str, Any]:
    """Fill the cache for the configured corpora and write their record lists into it."""
    if not cfg.cache:
        raise EmorecError("--cache DIR is required to precompute features")
    feat = cfg.feature_config()
    cache = FeatureCache(cfg.cache, feat)
    written = {}
    for spec in cfg.corpus:
        name, explicit = _split_spec(spec)
        single = VoiceTrainConfig(**{**asdict(cfg), "corpus": [spec], "label_map": None, "shared_labels": False,
                                     "limit_speakers": 0})
        path = corpus_path(name, explicit, cfg.data, len(cfg.corpus))
        scan = scan_corpus(name, path, single)
        if progress:
            print(scan.summary())
        corpus = Corpus(scan.records, [file_sha256(r.path) for r in scan.records], label_set(scan.records),
                        [scan.summary()], False)
        compute_features(corpus, feat, cache, cfg.wave_copies, AugmentConfig.from_dict(cfg.wave_augment),
                         notebook=notebook, progress=progress)
        written[name] = str(cache.save_records(name, corpus.records, corpus.hashes))
    size = sum(p.stat().st_size for p in cache.dir.rglob("*") if p.is_file())
    return {"cache": str(cache.dir), "records": written, "megabytes": round(size / 2**20, 1)}
