"""Voice corpora of a run: resolve NAME / NAME=PATH specs, scan them (or read them from the cache)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emorec.datasets.audio_corpus import AudioRecord, CorpusScan, combine, label_set, parse_label_map
from emorec.datasets.registry import parse_dataset_spec, resolve_dataset_path
from emorec.errors import DatasetError
from emorec.training.voice.cache import FeatureCache, file_sha256
from emorec.training.voice.config import CORPUS_FOLDERS, VoiceTrainConfig


def _split_spec(spec: str) -> tuple[str, str | None]:
    """(name, explicit path or None) of a ``--corpus`` spec, checked against the dataset registry."""
    return parse_dataset_spec(spec, "voice")


def corpus_path(name: str, explicit: str | None, data: str | None, n_corpora: int) -> Path:
    """Where a corpus lives: NAME=PATH, or --data itself (one corpus), or a folder under the data root."""
    return resolve_dataset_path(name, explicit, data, n_corpora)


def scan_corpus(name: str, path: Path, cfg: VoiceTrainConfig) -> CorpusScan:
    if name == "ravdess":
        from emorec.datasets.ravdess import load_ravdess

        return load_ravdess(path)
    if name == "cremad":
        from emorec.datasets.cremad import load_cremad

        return load_cremad(path, label_source=cfg.cremad_labels, meta_dir=cfg.meta)
    if name in CORPUS_FOLDERS:
        from emorec.datasets.speech_corpora import SPEECH_CORPORA

        return SPEECH_CORPORA[name].load(path)
    from emorec.datasets.manifest import load_manifest

    return load_manifest(path)


@dataclass
class Corpus:
    """Records of the run with their content hashes; ``from_cache`` when no audio was read."""

    records: list[AudioRecord]
    hashes: list[str]
    labels: list[str]
    summaries: list[str]
    from_cache: bool


def load_records(cfg: VoiceTrainConfig, cache: FeatureCache | None) -> Corpus:
    """Scan every corpus (or read its record list from the cache when the audio is absent)."""
    scans, hashes, summaries, from_cache = [], {}, [], False
    for spec in cfg.corpus:
        name, explicit = _split_spec(spec)
        try:
            path = corpus_path(name, explicit, cfg.data, len(cfg.corpus))
        except DatasetError as missing:
            if cache is None:
                raise
            try:
                records, shas = cache.load_records(name)
            except DatasetError:
                raise missing from None
            scan = CorpusScan(name, cache.dir, records, notes=["records and features read from the cache"])
            hashes.update({str(r.path): h for r, h in zip(records, shas)})
            from_cache = True
        else:
            scan = scan_corpus(name, path, cfg)
        scans.append(scan)
        summaries.append(scan.summary())
    mapping = parse_label_map(cfg.label_map)
    records = combine(scans, mapping, cfg.shared_labels)
    if cfg.limit_speakers:
        keep = sorted({r.speaker for r in records})[: cfg.limit_speakers]
        records = [r for r in records if r.speaker in keep]
    shas = [hashes.get(str(r.path)) or file_sha256(r.path) for r in records]
    return Corpus(records, shas, label_set(records), summaries, from_cache)



def corpus_records(cfg: VoiceTrainConfig, speakers: list[str] | None = None) -> tuple[list, list[AudioRecord]]:
    """(corpus scans, labelled clips) of ``cfg.corpus``, only ``speakers``' clips when given."""
    scans = []
    for spec in cfg.corpus:
        name, explicit = _split_spec(spec)
        scans.append(scan_corpus(name, corpus_path(name, explicit, cfg.data, len(cfg.corpus)), cfg))
    records = combine(scans, parse_label_map(cfg.label_map), cfg.shared_labels)
    if speakers:
        wanted = set(speakers)
        records = [r for r in records if r.speaker in wanted or r.speaker.split(":", 1)[-1] in wanted]
    return scans, records
