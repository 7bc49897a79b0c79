"""RAVDESS speech: ``03-01-<emotion>-<intensity>-<statement>-<repetition>-<actor>.wav|flac``.

Fields: modality (03 audio-only), vocal channel (01 speech, 02 song),
emotion (01-08, see :data:`emorec.labels.RAVDESS_CODES`), intensity (01 normal,
02 strong), statement (01/02), repetition (01/02), actor (01-24; odd male).
Files may sit flat or in the original ``Actor_XX/`` folders.
"""
from __future__ import annotations

import re
from pathlib import Path

from emorec.datasets.audio_corpus import AudioRecord, CorpusScan, audio_files, require_dir
from emorec.labels import RAVDESS_CODES

NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}


def parse_name(stem: str) -> dict[str, str] | None:
    """Fields of a RAVDESS file stem, or None when it is not one.

    >>> parse_name("03-01-05-02-01-01-12")["emotion"]
    'angry'
    """
    m = NAME.match(stem)
    if not m:
        return None
    modality, channel, emotion, intensity, statement, repetition, actor = m.groups()
    if emotion not in RAVDESS_CODES or intensity not in ("01", "02") or statement not in STATEMENTS:
        return None
    if repetition not in ("01", "02") or not 1 <= int(actor) <= 24:
        return None
    return {
        "modality": modality,
        "vocal_channel": "speech" if channel == "01" else "song" if channel == "02" else channel,
        "emotion": RAVDESS_CODES[emotion],
        "intensity": "normal" if intensity == "01" else "strong",
        "statement": statement,
        "repetition": repetition,
        "actor": actor,
        "sex": "male" if int(actor) % 2 else "female",
    }


def load_ravdess(root: str | Path, include_song: bool = False) -> CorpusScan:
    """Scan a RAVDESS folder (flat or ``Actor_XX/``) into labelled records.

    >>> scan = load_ravdess("../shared/data/ravdess")  # doctest: +SKIP
    >>> len(scan.records), scan.records[0].speaker     # doctest: +SKIP
    (1200, 'ravdess:01')
    """
    root = require_dir(Path(root), "RAVDESS")
    records, skipped = [], []
    for path in audio_files(root):
        fields = parse_name(path.stem)
        if fields is None or fields["modality"] != "03":
            skipped.append(path.name)
            continue
        if fields["vocal_channel"] != "speech" and not include_song:
            skipped.append(path.name)
            continue
        records.append(
            AudioRecord(
                path=path,
                label=fields["emotion"],
                speaker=f"ravdess:{fields['actor']}",
                corpus="ravdess",
                meta={k: v for k, v in fields.items() if k != "emotion"},
            )
        )
    scan = CorpusScan("ravdess", root, records, skipped)
    scan.warn_skipped()
    return scan
