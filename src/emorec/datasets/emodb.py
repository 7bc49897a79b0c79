"""EmoDB (Berlin Database of Emotional Speech, Burkhardt et al., 2005): ``03a01Fa.wav``.

Name: speaker (2 digits: 03 08 09 10 11 12 13 14 15 16), text code (a01-a07,
b01-b10), emotion letter (German initials), version letter (a, b, ...).
Emotions: W Wut (angry), L Langeweile (boredom: no canonical class, dropped
and counted unless mapped), E Ekel (disgust), A Angst (fear), F Freude
(happy), T Trauer (sad), N neutral. Files may sit in ``wav/`` or flat.
"""
from __future__ import annotations

import re
from pathlib import Path

from emorec.datasets.audio_corpus import AudioRecord, CorpusScan, audio_files, require_dir

EMODB_CODES: dict[str, str | None] = {
    "W": "angry",
    "L": None,  # boredom: not in the shared vocabulary
    "E": "disgust",
    "A": "fear",
    "F": "happy",
    "T": "sad",
    "N": "neutral",
}
SPEAKERS: dict[str, str] = {"03": "male", "08": "female", "09": "female", "10": "male", "11": "male",
                            "12": "male", "13": "female", "14": "female", "15": "male", "16": "female"}
NAME = re.compile(r"^(\d\d)([ab]\d\d)([WLEAFTN])([a-z])$")


def parse_name(stem: str) -> dict[str, str | None] | None:
    """Fields of an EmoDB clip name, or None when it is not one (``emotion`` None: boredom).

    >>> parse_name("03a01Fa")["emotion"], parse_name("16b10Lb")["emotion"]
    ('happy', None)
    """
    m = NAME.match(stem)
    if not m:
        return None
    speaker, text, code, version = m.groups()
    if speaker not in SPEAKERS:
        return None
    return {"speaker": speaker, "text": text, "code": code, "version": version,
            "emotion": EMODB_CODES[code], "sex": SPEAKERS[speaker]}


def load_emodb(root: str | Path, boredom: str | None = None) -> CorpusScan:
    """Scan an EmoDB folder; ``boredom="neutral"`` keeps the boredom clips as neutral (default: dropped).

    >>> scan = load_emodb("data/emodb")  # doctest: +SKIP
    """
    root = require_dir(Path(root), "EmoDB")
    records, skipped = [], []
    dropped = 0
    for path in audio_files(root):
        fields = parse_name(path.stem)
        if fields is None:
            skipped.append(str(path.relative_to(root)))
            continue
        label = fields["emotion"] or boredom
        if label is None:
            dropped += 1
            continue
        meta = {k: v for k, v in fields.items() if k not in ("emotion", "speaker")}
        records.append(AudioRecord(path, label, f"emodb:{fields['speaker']}", "emodb", meta))
    notes = [f"{dropped} boredom clips dropped (no shared class; pass boredom='neutral' to keep them)"] if dropped else []
    scan = CorpusScan("emodb", root, records, skipped, notes)
    scan.warn_skipped()
    return scan
