"""EMOVO (Italian, Costantini et al., LREC 2014): ``<speaker>/<emo>-<speaker>-<sentence>.wav|flac``.

Six actors (f1 f2 f3 m1 m2 m3), 14 sentences (b1-b3, d1-d2, l1-l4, n1-n5) and
seven classes: dis disgust, gio joy (-> happy), neu neutral, pau fear, rab anger
(-> angry), sor surprise, tri sadness (-> sad). Files may sit in speaker folders
or flat; the speaker is read from the name, never from the folder.
"""
from __future__ import annotations

import re
from pathlib import Path

from emorec.datasets.audio_corpus import AudioRecord, CorpusScan, audio_files, require_dir

EMOVO_CODES: dict[str, str] = {
    "dis": "disgust",
    "gio": "happy",
    "neu": "neutral",
    "pau": "fear",
    "rab": "angry",
    "sor": "surprise",
    "tri": "sad",
}
SPEAKERS = ("f1", "f2", "f3", "m1", "m2", "m3")
NAME = re.compile(r"^(dis|gio|neu|pau|rab|sor|tri)-([fm][1-3])-([bdln][1-5])$")


def parse_name(stem: str) -> dict[str, str] | None:
    """Fields of an EMOVO clip name, or None when it is not one.

    >>> parse_name("gio-m2-n3")["emotion"]
    'happy'
    """
    m = NAME.match(stem.lower())
    if not m:
        return None
    code, speaker, sentence = m.groups()
    return {"emotion": EMOVO_CODES[code], "code": code, "speaker": speaker, "sentence": sentence,
            "sex": "female" if speaker[0] == "f" else "male"}


def load_emovo(root: str | Path) -> CorpusScan:
    """Scan an EMOVO folder (``f1/dis-f1-b1.wav`` ... or flat).

    >>> scan = load_emovo("../shared/data/emovo")  # doctest: +SKIP
    >>> len(scan.records), scan.records[0].speaker  # doctest: +SKIP
    (588, 'emovo:f1')
    """
    root = require_dir(Path(root), "EMOVO")
    records, skipped = [], []
    for path in audio_files(root):
        fields = parse_name(path.stem)
        if fields is None:
            skipped.append(str(path.relative_to(root)))
            continue
        meta = {k: v for k, v in fields.items() if k not in ("emotion", "speaker")}
        records.append(AudioRecord(path, fields["emotion"], f"emovo:{fields['speaker']}", "emovo", meta))
    scan = CorpusScan("emovo", root, records, skipped)
    scan.warn_skipped()
    return scan
