"""TESS (Toronto Emotional Speech Set): ``OAF_back_angry.wav`` / ``YAF_back_ps.wav``.

Two speakers, OAF (older) and YAF (younger adult female), 200 target words
each in the carrier phrase "Say the word ...", seven classes: angry, disgust,
fear, happy, neutral, ps (pleasant surprise -> surprise), sad. Any folder
layout (the distribution nests ``OAF_angry/`` etc.); the label and speaker
come from the file name. Only two speakers: speaker-independent evaluation
is leave-one-speaker-out at best.
"""
from __future__ import annotations

import re
from pathlib import Path

from emorec.datasets.audio_corpus import AudioRecord, CorpusScan, audio_files, require_dir

TESS_CODES: dict[str, str] = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happy",
    "neutral": "neutral",
    "ps": "surprise",
    "pleasant_surprise": "surprise",
    "pleasant_surprised": "surprise",
    "sad": "sad",
}
NAME = re.compile(r"^(OAF|YAF)_([A-Za-z]+)_([A-Za-z_]+)$", re.IGNORECASE)


def parse_name(stem: str) -> dict[str, str] | None:
    """Fields of a TESS clip name, or None when it is not one.

    >>> parse_name("YAF_back_ps")["emotion"], parse_name("OAF_chair_neutral")["speaker"]
    ('surprise', 'OAF')
    """
    m = NAME.match(stem)
    if not m:
        return None
    speaker, word, code = m.groups()
    label = TESS_CODES.get(code.lower())
    if label is None:
        return None
    return {"speaker": speaker.upper(), "word": word.lower(), "emotion": label, "sex": "female",
            "age": "older" if speaker.upper() == "OAF" else "younger"}


def load_tess(root: str | Path) -> CorpusScan:
    """Scan a TESS folder (any nesting; names carry speaker and emotion).

    >>> scan = load_tess("data/TESS")  # doctest: +SKIP
    """
    root = require_dir(Path(root), "TESS")
    records, skipped, seen = [], [], set()
    duplicates = 0
    for path in audio_files(root):
        fields = parse_name(path.stem)
        if fields is None:
            skipped.append(str(path.relative_to(root)))
            continue
        key = path.stem.lower()
        if key in seen:  # the Kaggle copy ships both "TESS Toronto..." and a nested duplicate
            duplicates += 1
            continue
        seen.add(key)
        meta = {k: v for k, v in fields.items() if k not in ("emotion", "speaker")}
        records.append(AudioRecord(path, fields["emotion"], f"tess:{fields['speaker']}", "tess", meta))
    notes = [f"{duplicates} duplicate clips ignored"] if duplicates else []
    scan = CorpusScan("tess", root, records, skipped, notes)
    scan.warn_skipped()
    return scan
