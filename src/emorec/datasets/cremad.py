"""CREMA-D: ``AudioWAV/<actor>_<sentence>_<EMO>_<level>.wav`` plus metadata CSVs.

The corpus's other layouts hold the same clips as ``AudioMP3/*.mp3`` and as
Flash video ``VideoFlash/*.flv`` (VP6 + MP3 sound; the sound track is read
through PyAV). ``layout="auto"`` picks the first layout folder present
(AudioWAV, AudioMP3, VideoFlash), else the files in the folder itself.

Actors 1001-1091; emotions ANG, DIS, FEA, HAP, NEU, SAD; levels LO, MD, HI, XX.
``VideoDemographics.csv`` adds age/sex/race/ethnicity per actor. Instead of the
intended emotion, the crowd-perceived one can be used (``label_source="voice"``,
``"face"`` or ``"multimodal"``) from ``summaryTable.csv`` or, failing that,
``tabulatedVotes.csv`` (row ids 1xxxxx voice, 2xxxxx face, 3xxxxx audio-visual).
Clips whose crowd vote is a tie (``"N:S"``) are dropped and counted.

Metadata is looked for in ``meta_dir`` (if given), the corpus folder and its
``processedResults/`` sub-folder (the layout of the CREMA-D repository).
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

from emorec.datasets.audio_corpus import AudioRecord, CorpusScan, audio_files, require_dir
from emorec.errors import DatasetError
from emorec.labels import CREMAD_CODES, CREMAD_VOTE_CODES

NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")
SENTENCES = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}
LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
LABEL_SOURCES = ("intended", "voice", "face", "multimodal")
_SUMMARY_COLUMNS = {"voice": "VoiceVote", "face": "FaceVote", "multimodal": "MultiModalVote"}
_TABULATED_PREFIX = {"voice": "1", "face": "2", "multimodal": "3"}


def parse_name(stem: str) -> dict[str, str] | None:
    """Fields of a CREMA-D clip name, or None when it is not one.

    >>> parse_name("1001_DFA_ANG_XX")["emotion"]
    'angry'
    """
    m = NAME.match(stem)
    if not m:
        return None
    actor, sentence, emo, level = m.groups()
    if emo not in CREMAD_CODES or level not in LEVELS or sentence not in SENTENCES:
        return None
    if not 1001 <= int(actor) <= 1091:
        return None
    return {"actor": actor, "sentence": sentence, "emotion": CREMAD_CODES[emo], "level": LEVELS[level]}


def _find(name: str, folders: list[Path]) -> Path | None:
    for folder in folders:
        for candidate in (folder / name, folder / "processedResults" / name):
            if candidate.is_file():
                return candidate
    return None


def read_demographics(path: Path) -> dict[str, dict[str, str]]:
    """ActorID -> {age, sex, race, ethnicity} from ``VideoDemographics.csv``."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "ActorID" not in rows[0]:
        raise DatasetError(f"{path} has no ActorID column: is it CREMA-D's VideoDemographics.csv?")
    return {
        r["ActorID"].strip(): {k.lower(): (r.get(k) or "").strip() for k in ("Age", "Sex", "Race", "Ethnicity")}
        for r in rows
    }


def read_crowd_votes(folders: list[Path], source: str) -> tuple[dict[str, str], Path]:
    """Clip name -> crowd vote string ("N", "A:D" for a tie) for one presentation."""
    summary = _find("summaryTable.csv", folders)
    if summary is not None:
        column = _SUMMARY_COLUMNS[source]
        with open(summary, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        if not rows or column not in rows[0] or "FileName" not in rows[0]:
            raise DatasetError(f"{summary} lacks FileName/{column} columns: is it CREMA-D's summaryTable.csv?")
        return {r["FileName"].strip(): r[column].strip() for r in rows}, summary
    tabulated = _find("tabulatedVotes.csv", folders)
    if tabulated is not None:
        prefix = _TABULATED_PREFIX[source]
        with open(tabulated, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            try:
                i_name, i_vote = header.index("fileName"), header.index("emoVote")
            except ValueError:
                raise DatasetError(f"{tabulated} lacks fileName/emoVote columns: is it CREMA-D's tabulatedVotes.csv?") from None
            votes = {row[i_name]: row[i_vote] for row in reader if row and row[0].startswith(prefix)}
        return votes, tabulated
    where = ", ".join(str(f) for f in folders)
    raise DatasetError(
        f"crowd labels ({source}) need summaryTable.csv or tabulatedVotes.csv, not found in {where}: "
        "pass --meta DIR (e.g. ../shared/data/crema-d-meta) or use the intended labels"
    )


LAYOUTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "wav": ("AudioWAV", (".wav",)),
    "mp3": ("AudioMP3", (".mp3",)),
    "flv": ("VideoFlash", (".flv",)),
}


def _layout_files(root: Path, layout: str) -> tuple[Path, list[Path]]:
    """(folder, clip files) of one CREMA-D layout; ``auto``: the first layout folder present."""
    if layout not in ("auto", *LAYOUTS):
        raise DatasetError(f"CREMA-D layout {layout!r} unknown: use auto, {', '.join(LAYOUTS)}")
    names = list(LAYOUTS) if layout == "auto" else [layout]
    for name in names:
        folder, _ = LAYOUTS[name]
        if (root / folder).is_dir():
            return root / folder, _files(root / folder, LAYOUTS[name][1])
    if layout != "auto" and root.name != LAYOUTS[layout][0]:
        files = _files(root, LAYOUTS[layout][1])
        if not files:
            raise DatasetError(f"no {LAYOUTS[layout][0]}/ folder or {layout} files in {root}")
        return root, files
    if layout == "auto":  # the clips themselves: audio files as before, plus the Flash videos
        return root, sorted(audio_files(root) + _files(root, (".flv",)))
    return root, _files(root, LAYOUTS[layout][1])


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                  and not p.name.startswith("."))


def load_cremad(
    root: str | Path,
    label_source: str = "intended",
    meta_dir: str | Path | None = None,
    require_demographics: bool = False,
    layout: str = "auto",
) -> CorpusScan:
    """Scan a CREMA-D folder (with ``AudioWAV/``, ``AudioMP3/`` or ``VideoFlash/``, or the clips themselves).

    ``layout``: ``auto`` (first of AudioWAV, AudioMP3, VideoFlash present), ``wav``, ``mp3`` or ``flv``.

    >>> scan = load_cremad("data/CREMA-D", label_source="voice", meta_dir="data/crema-d-meta")  # doctest: +SKIP
    """
    if label_source not in LABEL_SOURCES:
        raise DatasetError(f"label source {label_source!r} unknown: use one of {', '.join(LABEL_SOURCES)}")
    root = require_dir(Path(root), "CREMA-D")
    audio_dir, clip_files = _layout_files(root, layout)
    folders = [Path(meta_dir)] if meta_dir is not None else []
    if meta_dir is not None and not folders[0].is_dir():
        raise DatasetError(f"CREMA-D metadata folder {meta_dir} not found: check --meta")
    folders += [root, audio_dir.parent]

    notes: list[str] = []
    demo_path = _find("VideoDemographics.csv", folders)
    if demo_path is None:
        if require_demographics:
            raise DatasetError(
                f"VideoDemographics.csv not found in {', '.join(map(str, folders))}: "
                "pass --meta DIR with CREMA-D's metadata"
            )
        demographics: dict[str, dict[str, str]] = {}
        notes.append("no VideoDemographics.csv: actor demographics left empty")
    else:
        demographics = read_demographics(demo_path)

    votes: dict[str, str] | None = None
    if label_source != "intended":
        votes, _ = read_crowd_votes(folders, label_source)

    records, skipped = [], []
    ties = missing_votes = 0
    for path in clip_files:
        fields = parse_name(path.stem)
        if fields is None:
            skipped.append(path.name)
            continue
        label = fields["emotion"]
        meta = {"actor": fields["actor"], "sentence": fields["sentence"], "level": fields["level"],
                "intended": label, "format": path.suffix.lower().lstrip("."), **demographics.get(fields["actor"], {})}
        if votes is not None:
            vote = votes.get(path.stem)
            if vote is None:
                missing_votes += 1
                continue
            if ":" in vote or vote not in CREMAD_VOTE_CODES:
                ties += 1
                continue
            label = CREMAD_VOTE_CODES[vote]
            meta["crowd_vote"] = vote
        records.append(AudioRecord(path, label, f"cremad:{fields['actor']}", "cremad", meta))
    if ties:
        notes.append(f"{ties} clips dropped: tied crowd vote")
    if missing_votes:
        notes.append(f"{missing_votes} clips dropped: no crowd vote in the metadata")
    scan = CorpusScan("cremad", root, records, skipped, notes)
    scan.warn_skipped()
    return scan
