"""Speech emotion recognition on ONNX Runtime (never imports torch).

>>> from emorec import VoiceEmotionRecognizer
>>> rec = VoiceEmotionRecognizer()                  # the packaged model   # doctest: +SKIP
>>> result = rec.predict("examples/speech_happy.wav")                     # doctest: +SKIP
>>> result.label, round(result.score, 2)                                  # doctest: +SKIP
('happy', 0.71)
>>> rec.predict(samples, sample_rate=44100).to_dict()["segments"]         # doctest: +SKIP

Policy:

- A recording no longer than ``single_seconds`` (default: the card's
  ``max_seconds`` + 1 s) is one utterance: silence is trimmed from both ends
  and the rest is classified as a whole (one segment).
- Longer recordings are streamed in blocks (memory stays flat), split into
  speech segments by voice activity detection (silero-vad, energy fallback),
  each segment classified; the file's scores are the duration-weighted mean of
  its segments' scores.
- Speech shorter than the card's ``min_seconds`` is not padded: the result is
  empty (``label`` None) and ``error`` says why. The same holds for a long
  recording in which no speech is found.
- Unusable input (not audio, empty, truncated, silent) raises
  :class:`emorec.errors.InputError` from ``predict``; ``predict_batch`` turns it
  into a result with ``error`` set and carries on.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emorec.errors import EmorecError, InputError, UsageError
from emorec.contract import check_error_policy
from emorec.labels import LabelSubset
from emorec.results import Segment, weighted_scores
from emorec.voice.audio import SILENCE_PEAK, audio_info, check_signal, resample, to_mono, trim_bounds, trim_silence
from emorec.voice.features import FeatureConfig, extract
from emorec.voice.loudness import normalize_loudness
from emorec.voice.partials import PartialSpec, partial_windows


VoiceSegment = Segment  # the shared timed-result type (emorec.results)


@dataclass
class VoiceResult:
    """Emotion of a whole recording plus its timeline.

    ``label``/``score`` are None and ``error`` holds the reason when nothing
    could be classified (too short, no speech, unreadable file).
    """

    label: str | None
    score: float | None
    scores: dict[str, float]
    segments: list[VoiceSegment] = field(default_factory=list)
    duration: float | None = None
    path: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON record of ``emorec voice predict --format json``."""
        return {
            "path": self.path,
            "label": self.label,
            "score": self.score,
            "scores": dict(self.scores),
            "segments": [s.to_dict() for s in self.segments],
            "error": self.error,
        }

    def restricted(self, subset: LabelSubset) -> VoiceResult:
        """This result over ``subset``'s labels only: every segment renormalised over them, the
        recording's scores their duration-weighted mean (what a recogniser made with ``labels=``
        gives, to the 6 digits results keep)."""
        if not subset or not self.segments:
            return self
        segs = []
        for s in self.segments:
            scores = subset.scores(s.scores)
            best = max(scores, key=lambda k: scores[k])
            segs.append(VoiceSegment(s.start, s.end, best, scores[best], scores))
        overall = {k: round(v, 6) for k, v in weighted_scores(segs, subset.labels).items()}
        best = max(overall, key=lambda k: overall[k])
        return VoiceResult(best, overall[best], overall, segs, self.duration, self.path, self.error)

    @classmethod
    def failed(cls, error: str, path: str | None = None) -> VoiceResult:
        return cls(label=None, score=None, scores={}, segments=[], path=path, error=error)


class VoiceEmotionRecognizer:
    """Classify emotions in speech with an exported voice model and its card.

    ``model``: path of an ``.onnx`` file with its ``.json`` card beside it;
    default: the model shipped in the package. ``vad``: ``auto`` (silero when
    installed, else energy), ``silero``, ``energy`` or any registered segmenter.
    ``providers``: ONNX Runtime providers, ``"cpu"`` (default, or $EMOREC_PROVIDERS),
    ``"auto"`` (CUDA when available) or ``"cuda"``. ``labels``: some of the model's labels
    (a list or ``"neutral,happy,sad"``): every segment's probabilities over just those,
    renormalised (:class:`emorec.labels.LabelSubset`), for label sets smaller than the model's.
    """

    task = "voice"

    def __init__(self, model: str | Path | None = None, vad: str = "auto", threads: int | None = None,
                 single_seconds: float | None = None, block_seconds: float = 20.0,
                 providers: str | list[str] | None = None, labels: Sequence[str] | str | None = None) -> None:
        from emorec.runtime import OnnxModel, packaged_model

        path = Path(model) if model is not None else packaged_model("voice")
        self.model = OnnxModel.load(path, threads=threads, providers=providers)
        card = self.model.card
        if card.task != "voice":
            raise EmorecError(f"{path} is a {card.task!r} model, not a voice model")
        spec = card.input or {}
        if "features" not in spec:
            raise EmorecError(f"the card of {path} lacks input.features: re-export the model")
        self.subset = LabelSubset(self.model.labels, labels)  # a usage error before any work
        self.features = FeatureConfig.from_dict(spec["features"])
        self.partials = PartialSpec.from_dict(spec["partials"]) if spec.get("partials") else None
        self.sample_rate = int(spec.get("sample_rate", self.features.sample_rate))
        self.min_seconds = float(spec.get("min_seconds", 0.5))
        self.max_seconds = float(spec.get("max_seconds", 5.0))
        limit = spec.get("max_input_seconds")
        self.max_input_seconds = float(limit) if limit is not None else None
        self.single_seconds = single_seconds if single_seconds is not None else self.max_seconds + 1.0
        if self.max_input_seconds is not None:  # longer recordings are segmented, never given whole
            self.single_seconds = min(self.single_seconds, self.max_input_seconds)
        self.block_seconds = block_seconds
        self.vad_name = vad
        self._vad = None
        from emorec.voice.vad import SEGMENTERS

        if isinstance(vad, str) and vad not in SEGMENTERS:
            raise UsageError(f"vad {vad!r} unknown: use {', '.join(SEGMENTERS.list())}")

    @property
    def labels(self) -> list[str]:
        """Emotion names in output order: the card's, or the subset asked for with ``labels=``."""
        return self.subset.labels

    @property
    def card(self):
        return self.model.card

    def _get_vad(self):
        from emorec.voice.vad import get_vad

        if self._vad is None:
            try:
                self._vad = get_vad(self.vad_name)
            except (FileNotFoundError, ImportError):
                raise EmorecError("silero-vad is not installed: pip install --no-deps silero-vad, or use vad='energy'") from None
        return self._vad

    # -- core ---------------------------------------------------------------------------------
    def model_inputs(self, audio: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(features batch, further named inputs) of one utterance at 16 kHz, as the ONNX model takes them."""
        # One speech level for every input (the features are level-invariant; this keeps it so at the edges).
        x = normalize_loudness(audio, self.sample_rate)
        feats = extract(x, self.features)[None].astype(np.float32)
        if self.partials is None:
            return feats, {}
        # A fused model's second input: encoder windows of the same trimmed speech.
        trim_db = self.features.trim_db
        speech = trim_silence(x, self.sample_rate, trim_db) if trim_db is not None else x
        return feats, {self.partials.input: partial_windows(speech, self.partials)}

    def classify(self, audio: np.ndarray) -> np.ndarray:
        """Probabilities (n_labels,) for one utterance at 16 kHz (silence is trimmed inside)."""
        seconds = len(audio) / self.sample_rate
        if self.max_input_seconds is not None and seconds > self.max_input_seconds:
            raise InputError(f"an utterance of {seconds:.1f} s is longer than this model takes "
                             f"({self.max_input_seconds:g} s): use predict(), which segments long recordings")
        feats, extra = self.model_inputs(audio)
        return self.subset.apply(self.model.run(feats, **extra)[0])

    def _scores(self, probs: np.ndarray) -> dict[str, float]:
        return {k: round(float(p), 6) for k, p in zip(self.labels, probs)}

    def _segment(self, start: float, end: float, probs: np.ndarray) -> VoiceSegment:
        i = int(np.argmax(probs))
        return VoiceSegment(start, end, self.labels[i], round(float(probs[i]), 6), self._scores(probs))

    def _too_short(self, seconds: float) -> str:
        return (f"speech too short: {seconds:.2f} s, this model needs at least {self.min_seconds:.2f} s "
                "(clips are not padded)")

    def _utterance(self, x: np.ndarray, duration: float) -> VoiceResult:
        """A short recording as one utterance."""
        start, end = trim_bounds(x, self.sample_rate, self.features.trim_db or 40.0)
        speech = (end - start) / self.sample_rate
        if speech < self.min_seconds:
            return VoiceResult(None, None, {}, [], duration, error=self._too_short(speech))
        probs = self.classify(x[start:end])
        seg = self._segment(start / self.sample_rate, end / self.sample_rate, probs)
        return VoiceResult(seg.label, seg.score, seg.scores, [seg], duration)

    def _timeline(self, segments: Iterable, duration: float | None) -> VoiceResult:
        """Classify VAD segments as they arrive; only their scores are kept."""
        segs: list[VoiceSegment] = []
        total = None
        weight = 0.0
        short = 0
        for s in segments:
            seconds = s.end - s.start
            if seconds < self.min_seconds:
                short += 1
                continue
            probs = self.classify(s.audio)
            segs.append(self._segment(s.start, s.end, probs))
            total = probs * seconds if total is None else total + probs * seconds
            weight += seconds
        if not segs:
            reason = "no speech detected" if not short else (
                f"no speech segment reaches the model's minimum of {self.min_seconds:.2f} s")
            return VoiceResult(None, None, {}, [], duration, error=reason)
        probs = total / weight
        i = int(np.argmax(probs))
        return VoiceResult(self.labels[i], round(float(probs[i]), 6), self._scores(probs), segs, duration)

    # -- public API ---------------------------------------------------------------------------
    def predict(self, source: str | Path | bytes | np.ndarray, sample_rate: int | None = None, *,
                name: str | None = None) -> VoiceResult:
        """Emotion of a file (wav/flac/ogg/mp3), its bytes, or an array with its ``sample_rate``.

        ``name`` becomes the result's ``path`` (default: the file's path; None for arrays).
        """
        if isinstance(source, (str, Path)):
            result = self._predict_file(Path(source))
        elif isinstance(source, (bytes, bytearray, memoryview)):
            samples, rate = _decode_bytes(bytes(source), name or "audio bytes")
            result = self._predict_array(samples, rate)
        else:
            result = self._predict_array(source, sample_rate)
        if name is not None:
            result.path = name
        return result

    def _predict_array(self, x: Any, sample_rate: int | None) -> VoiceResult:
        from emorec.voice.vad import segment_array

        if sample_rate is None:
            raise InputError("an audio array needs its sample rate: predict(samples, sample_rate=...)")
        arr = np.asarray(x)
        if arr.dtype.kind in "iu":
            info = np.iinfo(arr.dtype)
            arr = (arr.astype(np.float32) - (info.max + info.min + 1) / 2) / (info.max + 1)
        elif arr.dtype.kind != "f":
            raise InputError(f"audio array has dtype {arr.dtype}: pass float or integer samples")
        if arr.ndim == 2 and arr.shape[0] <= 8 and arr.shape[0] < arr.shape[1]:
            arr = arr.T  # (channels, samples) -> (samples, channels)
        mono = to_mono(arr)
        check_signal(mono, "audio array")
        mono = normalize_loudness(resample(mono, int(sample_rate), self.sample_rate), self.sample_rate)
        duration = mono.size / self.sample_rate
        if duration <= self.single_seconds:
            return self._utterance(mono, duration)
        return self._timeline(segment_array(mono, self._get_vad(), self._vad_config(), self.block_seconds), duration)

    def _vad_config(self):
        from emorec.voice.vad import VadConfig

        return VadConfig(max_segment_s=self.max_seconds)

    def _predict_file(self, path: Path) -> VoiceResult:
        from emorec.voice.audio import read_audio, stream_audio
        from emorec.voice.vad import segment_stream

        info = audio_info(path)
        if info.duration <= self.single_seconds:
            x = normalize_loudness(read_audio(path, self.sample_rate), self.sample_rate)
            result = self._utterance(x, x.size / self.sample_rate)
        else:
            peak = 0.0

            def blocks():
                nonlocal peak
                for block in stream_audio(path, self.sample_rate, self.block_seconds):
                    peak = max(peak, float(np.max(np.abs(block))) if block.size else 0.0)
                    yield block

            result = self._timeline(segment_stream(blocks(), self._get_vad(), self._vad_config()), info.duration)
            if peak < SILENCE_PEAK:
                raise InputError(f"{path}: silent (peak below -60 dBFS): nothing to analyse")
        result.path = str(path)
        return result

    def predict_batch(self, paths: Iterable[str | Path | bytes], *, errors: str = "return") -> list[VoiceResult]:
        """Predict many inputs; with ``errors="return"`` (default) a bad one gives a result whose
        ``error`` says why and the batch goes on, with ``errors="raise"`` its InputError is raised."""
        check_error_policy(errors)
        results = []
        for p in paths:
            raw = isinstance(p, (bytes, bytearray, memoryview))
            try:
                results.append(self.predict(p if raw else Path(p)))
            except InputError as exc:
                if errors == "raise":
                    raise
                results.append(VoiceResult.failed(str(exc), None if raw else str(p)))
        return results


def _decode_bytes(data: bytes, name: str) -> tuple[np.ndarray, int]:
    """Samples and rate of an encoded audio file held in memory (wav, flac, ogg, mp3)."""
    import io

    import soundfile as sf

    if not data:
        raise InputError(f"{name}: empty: nothing to analyse")
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    except Exception as exc:  # soundfile raises its own LibsndfileError / RuntimeError
        raise InputError(f"{name}: not a readable audio file ({exc}): pass wav, flac, ogg or mp3") from None
    return samples, int(rate)
