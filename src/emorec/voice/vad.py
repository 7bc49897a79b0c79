"""Voice activity detection and segmentation of long recordings.

Silero VAD's ONNX model ships inside the ``silero_vad`` wheel; it is run here
with onnxruntime directly, *without importing the package* (its ``__init__``
imports torch). The batched "sequence" export (``silero_vad_16k_sequence.onnx``,
bit-exact with the streaming model, one ONNX call per ~16 s) is preferred, the
stock ``silero_vad.onnx`` (one call per 32 ms frame) is the second choice, and
an energy detector is the fallback when silero-vad is not installed.

:class:`StreamingSegmenter` consumes audio block by block and yields finished
speech segments (merged over short pauses, cut at ``max_segment_s``), holding
at most one segment of audio in memory.

>>> seg = StreamingSegmenter(EnergyVad())
>>> x = np.r_[np.zeros(16000), 0.3 * np.sin(np.arange(32000) / 5), np.zeros(16000)].astype("float32")
>>> [(round(s.start, 1), round(s.end, 1)) for s in seg.feed(x)] + [(round(s.start, 1), round(s.end, 1)) for s in seg.flush()]
[(0.9, 3.1)]
"""
from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from emorec.registry import Registry

SAMPLE_RATE = 16000
FRAME = 512  # 32 ms at 16 kHz: silero's frame
CONTEXT = 64


@dataclass(frozen=True)
class VadConfig:
    """Segmentation policy (seconds); saved in the recogniser's output metadata."""

    threshold: float = 0.5
    min_speech_s: float = 0.25  # shorter bursts are ignored
    min_silence_s: float = 0.35  # pauses shorter than this do not end a segment
    pad_s: float = 0.1  # context kept on both sides of a segment
    max_segment_s: float = 5.0  # longer speech is cut into utterance-sized pieces

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SpeechChunk:
    """A stretch of speech found by the segmenter, with its samples (not an emotion result)."""

    start: float  # seconds from the start of the recording
    end: float
    audio: np.ndarray  # the segment's samples (16 kHz mono)


Segment = SpeechChunk  # the older name


class SpeechStream(Protocol):
    """One recording's detector state: speech probability per 32 ms frame of the samples fed."""

    def probs(self, samples: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class SpeechDetector(Protocol):
    """A voice activity detector (like face detectors, found by name in :data:`SEGMENTERS`)."""

    def new_stream(self) -> SpeechStream: ...


def silero_model_path() -> Path | None:
    """The silero-vad ONNX file inside the installed wheel, found without importing it."""
    try:
        spec = importlib.util.find_spec("silero_vad")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        for name in ("silero_vad_16k_sequence.onnx", "silero_vad.onnx"):
            path = Path(location) / "data" / name
            if path.is_file():
                return path
    return None


class SileroVad:
    """Silero-vad on onnxruntime. The session is shared; each recording gets its own
    :class:`SileroStream` (LSTM state and context), so one detector serves many threads."""

    name = "silero"

    def __init__(self, path: str | Path | None = None, max_frames: int = 512) -> None:
        import onnxruntime as ort

        path = Path(path) if path else silero_model_path()
        if path is None:
            raise FileNotFoundError("silero-vad is not installed")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        self.path = path
        self.sequence = "h" in {i.name for i in self.session.get_inputs()}
        self.max_frames = max_frames

    def new_stream(self) -> SileroStream:
        return SileroStream(self)

    def probs(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability per 512-sample frame of one whole signal (fresh state)."""
        return self.new_stream().probs(samples)


class SileroStream:
    """Per-recording state of :class:`SileroVad`: ``probs`` continues where the last call stopped."""

    def __init__(self, vad: SileroVad) -> None:
        self.vad = vad
        self.context = np.zeros(CONTEXT, dtype=np.float32)
        self.h = np.zeros((1, 1, 128), dtype=np.float32)
        self.c = np.zeros((1, 1, 128), dtype=np.float32)
        self.state = np.zeros((2, 1, 128), dtype=np.float32)

    def probs(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability per 512-sample frame; ``samples.size`` must be a multiple of 512."""
        frames = samples.reshape(-1, FRAME).astype(np.float32, copy=False)
        if frames.shape[0] == 0:
            return np.zeros(0, dtype=np.float32)
        contexts = np.empty((frames.shape[0], CONTEXT), dtype=np.float32)
        contexts[0] = self.context
        contexts[1:] = frames[:-1, -CONTEXT:]
        self.context = frames[-1, -CONTEXT:].copy()
        block = np.concatenate([contexts, frames], axis=1)
        session, out = self.vad.session, []
        if self.vad.sequence:
            step = self.vad.max_frames
            for i in range(0, block.shape[0], step):
                p, self.h, self.c = session.run(
                    ["speech_probs", "hn", "cn"], {"input": block[i : i + step], "h": self.h, "c": self.c}
                )
                out.append(np.asarray(p).reshape(-1))
        else:
            sr = np.array(SAMPLE_RATE, dtype=np.int64)
            for row in block:
                p, self.state = session.run(None, {"input": row[None], "state": self.state, "sr": sr})
                out.append(np.asarray(p).reshape(-1))
        return np.concatenate(out).astype(np.float32)


class EnergyVad:
    """Fallback detector: frame energy above an adaptive noise floor (and above -50 dBFS)."""

    name = "energy"

    def __init__(self, margin_db: float = 12.0, gate_db: float = -50.0) -> None:
        self.margin_db = margin_db
        self.gate_db = gate_db
        self.floor: float | None = None

    def new_stream(self) -> EnergyVad:
        return EnergyVad(self.margin_db, self.gate_db)

    def probs(self, samples: np.ndarray) -> np.ndarray:
        frames = samples.reshape(-1, FRAME).astype(np.float64)
        db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
        out = np.empty(len(db), dtype=np.float32)
        for i, level in enumerate(db):
            # The floor follows drops at once and rises slowly (0.02 dB per 32 ms frame).
            self.floor = level if self.floor is None else min(level, self.floor + 0.02)
            out[i] = 1.0 if level > max(self.floor + self.margin_db, self.gate_db) else 0.0
        return out


def default_vad() -> SileroVad | EnergyVad:
    """Silero when its wheel is installed, else the energy detector."""
    try:
        return SileroVad()
    except (FileNotFoundError, ImportError):
        return EnergyVad()
    except Exception:  # a broken model file must not stop inference
        return EnergyVad()


# Speech detectors by name (``--vad NAME``); plug-ins through the ``emorec.segmenters`` entry points.
SEGMENTERS: Registry[Callable[[], SpeechDetector]] = Registry("speech segmenter", entry_point_group="emorec.segmenters")
SEGMENTERS.register("auto", default_vad)
SEGMENTERS.register("silero", SileroVad)
SEGMENTERS.register("energy", EnergyVad)


def get_vad(name: str | SpeechDetector = "auto") -> SpeechDetector:
    """A speech detector by registry name (or ``name`` itself if it already is one)."""
    if isinstance(name, str):
        return SEGMENTERS.get(name)()
    if not callable(getattr(name, "new_stream", None)):
        raise TypeError(f"{name!r} has no new_stream() method")
    return name


class StreamingSegmenter:
    """Turn blocks of 16 kHz audio into speech segments, one pass, bounded memory."""

    def __init__(self, vad: SpeechDetector | None = None, cfg: VadConfig = VadConfig()) -> None:
        self.vad = vad if vad is not None else default_vad()
        self.stream = self.vad.new_stream()  # this recording's detector state
        self.cfg = cfg
        self.pending = np.zeros(0, dtype=np.float32)  # samples not yet a whole frame
        self.buf = np.zeros(0, dtype=np.float32)  # audio kept for the open segment
        self.buf_start = 0  # sample index of buf[0]
        self.n = 0  # samples seen
        self.frame_index = 0
        self.active = False
        self.seg_start = 0
        self.speech_frames = 0
        self.silence_frames = 0
        self.pad = int(cfg.pad_s * SAMPLE_RATE)
        self.max_len = int(cfg.max_segment_s * SAMPLE_RATE)
        self.min_silence = max(1, int(round(cfg.min_silence_s * SAMPLE_RATE / FRAME)))
        self.min_speech = max(1, int(round(cfg.min_speech_s * SAMPLE_RATE / FRAME)))

    def _emit(self, start: int, end: int, speech_frames: int) -> SpeechChunk | None:
        start, end = max(start, 0), min(end, self.n)
        if speech_frames < self.min_speech or end <= start:
            return None
        audio = self.buf[start - self.buf_start : end - self.buf_start].copy()
        return SpeechChunk(start / SAMPLE_RATE, end / SAMPLE_RATE, audio)

    def _trim_buffer(self, keep_from: int) -> None:
        keep_from = max(keep_from, self.buf_start)
        if keep_from > self.buf_start:
            self.buf = self.buf[keep_from - self.buf_start :]
            self.buf_start = keep_from

    def feed(self, block: np.ndarray) -> list[SpeechChunk]:
        """Add samples; return the segments that ended inside them."""
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        self.buf = np.concatenate([self.buf, block])
        self.n += block.size
        data = np.concatenate([self.pending, block])
        usable = data.size - data.size % FRAME
        self.pending = data[usable:]
        probs = self.stream.probs(data[:usable])
        out: list[Segment] = []
        thr, low = self.cfg.threshold, max(self.cfg.threshold - 0.15, 0.01)
        for p in probs:
            i = self.frame_index
            self.frame_index += 1
            frame_start, frame_end = i * FRAME, (i + 1) * FRAME
            if not self.active:
                if p >= thr:
                    self.active = True
                    self.seg_start = max(0, frame_start - self.pad)
                    self.speech_frames, self.silence_frames = 1, 0
                continue
            if p < low:
                self.silence_frames += 1
                if self.silence_frames >= self.min_silence:
                    end = frame_end - self.silence_frames * FRAME + self.pad
                    seg = self._emit(self.seg_start, end, self.speech_frames)
                    if seg:
                        out.append(seg)
                    self.active = False
            else:
                self.silence_frames = 0
                self.speech_frames += 1
            if self.active and frame_end + FRAME - self.seg_start > self.max_len:  # next frame would overflow
                seg = self._emit(self.seg_start, frame_end, self.speech_frames)
                if seg:
                    out.append(seg)
                self.seg_start, self.speech_frames, self.silence_frames = frame_end, 0, 0
        # Keep only the audio a future segment can still need.
        keep = self.seg_start if self.active else self.frame_index * FRAME - self.pad
        self._trim_buffer(keep)
        return out

    def flush(self) -> list[SpeechChunk]:
        """End of the recording: close an open segment."""
        out: list[Segment] = []
        if self.active:
            end = self.n if self.silence_frames < self.min_silence else self.frame_index * FRAME - self.silence_frames * FRAME + self.pad
            seg = self._emit(self.seg_start, end, self.speech_frames + (1 if self.pending.size else 0))
            if seg:
                out.append(seg)
            self.active = False
        self.buf = self.buf[:0]
        return out


def segment_stream(blocks: Iterable[np.ndarray], vad=None, cfg: VadConfig = VadConfig()) -> Iterator[SpeechChunk]:
    """Speech segments of a recording given as blocks (see :func:`emorec.voice.audio.stream_audio`)."""
    seg = StreamingSegmenter(vad, cfg)
    for block in blocks:
        yield from seg.feed(block)
    yield from seg.flush()


def segment_array(x: np.ndarray, vad=None, cfg: VadConfig = VadConfig(), block_seconds: float = 20.0) -> list[SpeechChunk]:
    """Speech segments of an in-memory 16 kHz signal."""
    step = int(block_seconds * SAMPLE_RATE)
    return list(segment_stream((x[i : i + step] for i in range(0, max(x.size, 1), step)), vad, cfg))
