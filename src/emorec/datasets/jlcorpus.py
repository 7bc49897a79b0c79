"""JL-Corpus (New Zealand English, James et al., 2018): ``male1_angry_1a_1.wav``.

Name: ``<speaker>_<emotion>_<sentence><version>_<take>``; speakers male1,
male2, female1, female2. The five primary emotions map onto the shared
vocabulary where one exists (angry, happy, neutral, sad); excited and the five
secondary emotions (anxious, apologetic, enthusiastic, pensive, worried) have
no shared class and are dropped and counted unless ``label_map`` maps them
(e.g. ``{"excited": "happy", "anxious": "fear"}``).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from emorec.datasets.audio_corpus import AudioRecord, CorpusScan, audio_files, require_dir

JL_CODES: dict[str, str | None] = {
    "angry": "angry",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "excited": None,
    "anxious": None,
    "apologetic": None,
    "enthusiastic": None,
    "pensive": None,
    "worried": None,
}
NAME = re.compile(r"^(male|female)(\d+)_([a-z]+)_(\d+)([a-z]?)_(\d+)$")


def parse_name(stem: str) -> dict[str, str | None] | None:
    """Fields of a JL-Corpus clip name, or None when it is not one (``emotion`` None: no shared class).

    >>> parse_name("male1_angry_1a_1")["emotion"], parse_name("female2_anxious_5b_2")["emotion"]
    ('angry', None)
    """
    m = NAME.match(stem.lower())
    if not m:
        return None
    sex, number, code, sentence, version, take = m.groups()
    if code not in JL_CODES:
        return None
    return {"speaker": f"{sex}{number}", "sex": sex, "code": code, "emotion": JL_CODES[code],
            "sentence": sentence, "version": version, "take": take}


def load_jlcorpus(root: str | Path, label_map: Mapping[str, str] | None = None) -> CorpusScan:
    """Scan a JL-Corpus folder; ``label_map`` maps the secondary emotions that would be dropped.

    >>> scan = load_jlcorpus("data/JL-Corpus", {"excited": "happy"})  # doctest: +SKIP
    """
    from emorec.labels import canonical

    extra = {k.lower(): canonical(v) for k, v in (label_map or {}).items()}
    root = require_dir(Path(root), "JL-Corpus")
    records, skipped = [], []
    dropped: dict[str, int] = {}
    for path in audio_files(root):
        fields = parse_name(path.stem)
        if fields is None:
            skipped.append(str(path.relative_to(root)))
            continue
        label = extra.get(str(fields["code"])) or fields["emotion"]
        if label is None:
            dropped[str(fields["code"])] = dropped.get(str(fields["code"]), 0) + 1
            continue
        meta = {k: v for k, v in fields.items() if k not in ("emotion", "speaker")}
        records.append(AudioRecord(path, label, f"jlcorpus:{fields['speaker']}", "jlcorpus", meta))
    notes = []
    if dropped:
        notes.append("dropped (no shared class): " + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())))
    scan = CorpusScan("jlcorpus", root, records, skipped, notes)
    scan.warn_skipped()
    return scan
