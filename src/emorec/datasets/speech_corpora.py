"""Speech corpora by name: loader, folder names under the data root, licence (no torch).

One table for ``emorec voice train --corpus NAME`` and multi-corpus training
(:mod:`emorec.training.voice.multi`). Every loader returns a
:class:`emorec.datasets.audio_corpus.CorpusScan` with speakers prefixed by the
corpus name and labels already mapped onto the shared vocabulary.

>>> sorted(SPEECH_CORPORA)[:3]
['cremad', 'emodb', 'emovo']
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emorec.datasets.audio_corpus import CorpusScan


@dataclass(frozen=True)
class SpeechCorpus:
    name: str
    loader: str  # "module:function", imported when used
    folders: tuple[str, ...]
    license: str
    language: str

    def load(self, path: str | Path, **kwargs: Any) -> CorpusScan:
        import importlib

        module, _, func = self.loader.partition(":")
        fn: Callable[..., CorpusScan] = getattr(importlib.import_module(module), func)
        return fn(path, **kwargs)


SPEECH_CORPORA: dict[str, SpeechCorpus] = {c.name: c for c in (
    SpeechCorpus("ravdess", "emorec.datasets.ravdess:load_ravdess", ("ravdess", "RAVDESS"),
                 "RAVDESS (CC BY-NC-SA 4.0): non-commercial use only", "English (North American), acted"),
    SpeechCorpus("emovo", "emorec.datasets.emovo:load_emovo", ("emovo", "EMOVO"),
                 "EMOVO: non-commercial research use with acknowledgement", "Italian, acted"),
    SpeechCorpus("urdu", "emorec.datasets.urdu:load_urdu", ("urdu", "URDU", "URDU-Dataset"),
                 "URDU: research use only", "Urdu, talk shows"),
    SpeechCorpus("emodb", "emorec.datasets.emodb:load_emodb", ("emodb", "EmoDB", "emo-db"),
                 "EmoDB: research use (see its site)", "German, acted"),
    SpeechCorpus("tess", "emorec.datasets.tess:load_tess", ("tess", "TESS"),
                 "TESS (CC BY-NC-ND 4.0)", "English (Canadian), acted"),
    SpeechCorpus("jlcorpus", "emorec.datasets.jlcorpus:load_jlcorpus", ("jlcorpus", "JL-Corpus", "jl-corpus"),
                 "JL-Corpus (CC0)", "English (New Zealand), acted"),
    SpeechCorpus("cremad", "emorec.datasets.cremad:load_cremad", ("crema-d", "CREMA-D", "cremad", "CREMAD"),
                 "CREMA-D (ODbL 1.0 / DbCL 1.0)", "English (North American), acted"),
    SpeechCorpus("savee", "emorec.datasets.savee:load_savee", ("savee", "SAVEE"),
                 "SAVEE: research use", "English (British), acted"),
)}


def corpus_license(names: list[str]) -> str:
    """The licence line of a model trained on ``names`` (every corpus's terms apply)."""
    parts = [SPEECH_CORPORA[n].license for n in names if n in SPEECH_CORPORA]
    return "; ".join(parts) + ("; weights carry the most restrictive of these terms" if len(parts) > 1 else "")
