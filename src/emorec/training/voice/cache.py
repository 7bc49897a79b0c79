"""On-disk feature cache keyed by file content and feature configuration.

Layout (a plain folder that can be copied to a training machine without
audio libraries)::

    CACHE/<config-key>/feature_config.json     the base feature config
    CACHE/<config-key>/<aa>/<sha256>_<variant>.npy   float16 arrays
    CACHE/<config-key>/records-<name>.json     corpus records (for --cache-only training)

``<config-key>`` hashes only the settings that change the stored array (for
sequence features: the raw log-mel frames; deltas, MFCC and normalisation
are computed when loading), so changing those does not invalidate the cache.
``variant`` is ``orig`` or a named training copy (``aug0``, ``nb1``...).

>>> cache = FeatureCache("/tmp/emorec-cache", FeatureConfig())  # doctest: +SKIP
>>> cache.get(file_sha256("clip.wav")) is None                   # doctest: +SKIP
True
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from emorec.datasets.audio_corpus import AudioRecord
from emorec.errors import DatasetError
from emorec.voice.features import FeatureConfig

# Settings that do not change what is stored (applied when loading).
_LOAD_TIME_FIELDS = ("deltas", "delta_width", "normalize", "n_mfcc")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def stored_config(cfg: FeatureConfig) -> dict[str, Any]:
    """The part of ``cfg`` that determines the cached array."""
    data = cfg.to_dict()
    if cfg.is_sequence:
        data["kind"] = "logmel-base"
        for name in _LOAD_TIME_FIELDS:
            data.pop(name, None)
    return data


def cache_key(cfg: FeatureConfig) -> str:
    text = json.dumps(stored_config(cfg), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class FeatureCache:
    """Get/put float16 feature arrays by (content hash, variant)."""

    def __init__(self, root: str | Path, cfg: FeatureConfig) -> None:
        self.root = Path(root)
        self.cfg = cfg
        self.dir = self.root / cache_key(cfg)
        self.hits = 0
        self.misses = 0

    def _ensure_dir(self) -> None:
        if not self.dir.is_dir():
            self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "feature_config.json"
        if not meta.exists():
            meta.write_text(json.dumps(stored_config(self.cfg), indent=2, sort_keys=True) + "\n")

    def path_for(self, sha: str, variant: str = "orig") -> Path:
        return self.dir / sha[:2] / f"{sha}_{variant}.npy"

    def has(self, sha: str, variant: str = "orig") -> bool:
        return self.path_for(sha, variant).is_file()

    def get(self, sha: str, variant: str = "orig") -> np.ndarray | None:
        path = self.path_for(sha, variant)
        try:
            arr = np.load(path, allow_pickle=False)
        except (FileNotFoundError, ValueError, OSError):
            self.misses += 1
            return None
        self.hits += 1
        return arr

    def put(self, sha: str, arr: np.ndarray, variant: str = "orig") -> Path:
        """Store atomically (temp file + rename) so an interrupted run leaves no half file."""
        self._ensure_dir()
        path = self.path_for(sha, variant)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npy")
        np.save(tmp, np.asarray(arr, dtype=np.float16), allow_pickle=False)
        os.replace(tmp, path)
        return path

    def variants(self, sha: str) -> list[str]:
        folder = self.dir / sha[:2]
        if not folder.is_dir():
            return []
        prefix = f"{sha}_"
        return sorted(p.stem[len(prefix) :] for p in folder.glob(f"{sha}_*.npy"))

    # -- corpus record lists, so training can run from the cache alone -------------
    def records_path(self, name: str) -> Path:
        return self.dir / f"records-{name}.json"

    def save_records(self, name: str, records: Iterable[AudioRecord], hashes: Iterable[str]) -> Path:
        self._ensure_dir()
        rows = [dict(r.to_dict(), sha256=h) for r, h in zip(records, hashes)]
        path = self.records_path(name)
        path.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
        return path

    def load_records(self, name: str) -> tuple[list[AudioRecord], list[str]]:
        path = self.records_path(name)
        if not path.is_file():
            available = sorted(p.name for p in self.dir.glob("records-*.json")) if self.dir.is_dir() else []
            raise DatasetError(
                f"no cached records for {name!r} with feature config {cache_key(self.cfg)} in {self.root} "
                f"(found: {available or 'none'}): run `emorec voice features --corpus {name} --data DIR --cache {self.root}` "
                "with the same feature options"
            )
        rows = json.loads(path.read_text(encoding="utf-8"))
        return [AudioRecord.from_dict(r) for r in rows], [r["sha256"] for r in rows]
