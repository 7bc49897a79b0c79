"""A generic manifest CSV for any other corpus: ``path,label[,speaker]``.

Relative paths are resolved against the CSV's folder. Labels go through
:func:`emorec.labels.canonical` (``Happiness`` -> ``happy``). Without a speaker
column every clip is its own speaker, which makes grouped folds equal to
random folds: the loader says so in its notes.
"""
from __future__ import annotations

import csv
from pathlib import Path

from emorec.datasets.audio_corpus import AudioRecord, CorpusScan
from emorec.errors import DatasetError
from emorec.labels import UnknownLabelError, canonical


def load_manifest(csv_path: str | Path, corpus: str = "manifest") -> CorpusScan:
    """Read a manifest CSV with a header row ``path,label[,speaker]``.

    >>> scan = load_manifest("my_corpus.csv")  # doctest: +SKIP
    """
    csv_path = Path(csv_path)
    if csv_path.is_dir():
        candidates = sorted(csv_path.glob("*.csv"))
        if len(candidates) != 1:
            raise DatasetError(f"{csv_path} is a folder: pass the manifest CSV itself (path,label[,speaker])")
        csv_path = candidates[0]
    if not csv_path.is_file():
        raise DatasetError(f"manifest {csv_path} not found: pass a CSV with columns path,label[,speaker]")
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip().lower() for f in (reader.fieldnames or [])]
        if "path" not in fields or "label" not in fields:
            raise DatasetError(f"{csv_path} needs a header with columns path,label[,speaker]; found {fields}")
        rows = [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()} for row in reader]
    base = csv_path.parent
    records, skipped = [], []
    notes: list[str] = []
    has_speaker = "speaker" in fields
    for line, row in enumerate(rows, start=2):
        if not row.get("path"):
            continue
        try:
            label = canonical(row["label"])
        except UnknownLabelError as exc:
            raise DatasetError(f"{csv_path}:{line}: {exc}") from None
        path = Path(row["path"]).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            skipped.append(f"{row['path']} (line {line}: file not found)")
            continue
        speaker = row.get("speaker") if has_speaker and row.get("speaker") else f"clip{line}"
        meta = {k: v for k, v in row.items() if k not in ("path", "label", "speaker")}
        records.append(AudioRecord(path, label, f"{corpus}:{speaker}", corpus, meta))
    if not has_speaker:
        notes.append("no speaker column: grouped folds cannot keep speakers apart")
    if not records:
        raise DatasetError(f"{csv_path}: no usable rows (missing files: {len(skipped)})")
    scan = CorpusScan(corpus, csv_path, records, skipped, notes)
    scan.warn_skipped()
    return scan
