"""SAVEE: four male speakers (DC, JE, JK, KL), seven emotions, 480 clips.

Two layouts are accepted: flat ``ALL/DC_a01.wav`` (the Kaggle copy) and
per-speaker ``AudioData/DC/a01.wav`` (the original distribution). Emotion
prefixes: a, d, f, h, n, sa, su (see :data:`emorec.labels.SAVEE_CODES`).
"""
from __future__ import annotations

import re
from pathlib import Path

from emorec.datasets.audio_corpus import AudioRecord, CorpusScan, audio_files, require_dir
from emorec.labels import SAVEE_CODES

SPEAKERS = ("DC", "JE", "JK", "KL")
FLAT = re.compile(r"^(DC|JE|JK|KL)_(sa|su|a|d|f|h|n)(\d\d)$")
PER_SPEAKER = re.compile(r"^(sa|su|a|d|f|h|n)(\d\d)$")


def parse_path(path: Path) -> dict[str, str] | None:
    """Speaker, emotion and sentence number of a SAVEE clip, or None.

    >>> parse_path(Path("ALL/JK_sa03.wav"))["emotion"]
    'sad'
    >>> parse_path(Path("AudioData/DC/su11.wav"))["speaker"]
    'DC'
    """
    m = FLAT.match(path.stem)
    if m:
        speaker, code, number = m.groups()
    else:
        m = PER_SPEAKER.match(path.stem)
        if not m or path.parent.name not in SPEAKERS:
            return None
        speaker = path.parent.name
        code, number = m.groups()
    return {"speaker": speaker, "emotion": SAVEE_CODES[code], "code": code, "sentence": number}


def load_savee(root: str | Path) -> CorpusScan:
    """Scan a SAVEE folder in either layout (``ALL/`` or ``AudioData/<speaker>/``).

    >>> scan = load_savee("data/SAVEE")  # doctest: +SKIP
    """
    root = require_dir(Path(root), "SAVEE")
    records, skipped, seen = [], [], set()
    duplicates = 0
    for path in audio_files(root):
        fields = parse_path(path)
        if fields is None:
            skipped.append(str(path.relative_to(root)))
            continue
        key = (fields["speaker"], fields["code"], fields["sentence"])
        if key in seen:  # both layouts present: keep the first copy only
            duplicates += 1
            continue
        seen.add(key)
        records.append(
            AudioRecord(path, fields["emotion"], f"savee:{fields['speaker']}", "savee",
                        {"code": fields["code"], "sentence": fields["sentence"], "sex": "male"})
        )
    notes = [f"{duplicates} duplicate clips ignored (both layouts present)"] if duplicates else []
    scan = CorpusScan("savee", root, records, skipped, notes)
    scan.warn_skipped()
    return scan
