"""URDU (Latif et al., 2018): Urdu talk-show speech, ``<Emotion>/S<G><X>_F<NN>_<E><NNN>.wav|flac``.

``S<G><X>`` is the speaker (G = M/F, X its number, e.g. ``SM1``), ``<E>`` the
emotion letter: A angry, H happy, N neutral, S sad. The label comes from the
letter in the name; a file whose folder disagrees with its letter is skipped
(and counted) rather than guessed. The corpus has 400 clips, 29 speaker codes.
"""
from __future__ import annotations

import re
from pathlib import Path

from emorec.datasets.audio_corpus import AudioRecord, CorpusScan, audio_files, require_dir

URDU_CODES: dict[str, str] = {"A": "angry", "H": "happy", "N": "neutral", "S": "sad"}
FOLDERS: dict[str, str] = {"angry": "A", "happy": "H", "neutral": "N", "sad": "S"}
NAME = re.compile(r"^S([MF])(\d{1,3})_F(\d{1,3})_([AHNS])(\d{1,4})$")


def parse_name(stem: str) -> dict[str, str] | None:
    """Fields of a URDU clip name, or None when it is not one.

    >>> parse_name("SM1_F10_A010")["speaker"], parse_name("SF3_F2_S002")["emotion"]
    ('SM1', 'sad')
    """
    m = NAME.match(stem)
    if not m:
        return None
    sex, number, file_no, letter, clip = m.groups()
    return {"speaker": f"S{sex}{int(number)}", "emotion": URDU_CODES[letter], "code": letter,
            "sex": "male" if sex == "M" else "female", "file": file_no, "clip": clip}


def load_urdu(root: str | Path) -> CorpusScan:
    """Scan a URDU folder (``Angry/SM1_F10_A010.wav`` ... or flat).

    >>> scan = load_urdu("../shared/data/urdu")  # doctest: +SKIP
    """
    root = require_dir(Path(root), "URDU")
    records, skipped, notes = [], [], []
    conflicts = 0
    for path in audio_files(root):
        fields = parse_name(path.stem)
        if fields is None:
            skipped.append(str(path.relative_to(root)))
            continue
        folder = FOLDERS.get(path.parent.name.lower())
        if folder is not None and folder != fields["code"]:
            conflicts += 1
            skipped.append(str(path.relative_to(root)))
            continue
        meta = {k: v for k, v in fields.items() if k not in ("emotion", "speaker")}
        records.append(AudioRecord(path, fields["emotion"], f"urdu:{fields['speaker']}", "urdu", meta))
    if conflicts:
        notes.append(f"{conflicts} clips skipped: emotion letter disagrees with the folder")
    scan = CorpusScan("urdu", root, records, skipped, notes)
    scan.warn_skipped()
    return scan
