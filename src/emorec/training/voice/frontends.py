"""Clip-level voice front ends compared by ``benchmarks/voice_frontends.py``.

Each front end turns a loudness-normalised 16 kHz clip into one vector:

- ``logmel_stats``: mean and standard deviation over frames of the log-mel
  energies with deltas (the baseline's own features, pooled per clip);
- ``resemblyzer``: the 256-d utterance embedding of Resemblyzer's frozen
  speaker-verification LSTM (Apache-2.0, weights in the wheel), averaged over
  1.6 s windows;
- ``egemaps``: the 88 eGeMAPS v02 functionals from openSMILE (no network);
- ``crepe``: pitch and voicing statistics (20 ms hop) from torchcrepe's frozen ``tiny``
  pitch network (MIT, weights in the wheel): F0 level, spread and movement
  in semitones, voiced fraction and periodicity.

The frozen networks are training-time dependencies (``pip install
resemblyzer torchcrepe``); nothing here is imported by inference code.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from emorec.errors import EmorecError
from emorec.registry import Registry

SAMPLE_RATE = 16000
FRONTENDS: Registry[Callable[[np.ndarray], np.ndarray]] = Registry("voice front end")


DEFAULT_CACHE = Path(".devdata") / "frontends"


def prepare_clip(path: str | Path) -> np.ndarray:
    """A clip as every front end sees it: 16 kHz mono, silence-trimmed, loudness-normalised."""
    from emorec.voice.audio import read_audio

    return prepare_audio(read_audio(path, SAMPLE_RATE, allow_silent=True))


def prepare_audio(x: np.ndarray) -> np.ndarray:
    """16 kHz mono samples as every front end sees them: silence-trimmed, loudness-normalised."""
    from emorec.voice.audio import trim_silence
    from emorec.voice.loudness import normalize_loudness

    return normalize_loudness(trim_silence(np.asarray(x, np.float32), SAMPLE_RATE, 40.0), SAMPLE_RATE)


def save_vectors(stored: dict[str, np.ndarray], path: Path) -> None:
    """Write a vector cache (``{key: array}``) atomically: a crash leaves the previous file."""
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **stored)
    tmp.replace(path)


def clip_vectors(records: Sequence, names: Sequence[str], cache: str | Path = DEFAULT_CACHE,
                 progress: bool = True) -> dict[str, np.ndarray]:
    """{front end: (n_clips, dim)} for ``records``, computed once and cached by file content hash."""
    from tqdm.auto import tqdm

    from emorec.training.voice.cache import file_sha256

    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    shas = [file_sha256(r.path) for r in records]
    out = {}
    for name in names:
        path = cache / f"{name}.npz"
        stored = dict(np.load(path)) if path.is_file() else {}
        fn = FRONTENDS.get(name)
        todo = [i for i, s in enumerate(shas) if s not in stored]
        for i in tqdm(todo, desc=name, disable=not progress):
            stored[shas[i]] = fn(prepare_clip(records[i].path))
        if todo:
            save_vectors(stored, path)
        out[name] = np.stack([stored[s] for s in shas]).astype(np.float32)
    return out


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EmorecError(f"front end needs {module}: pip install {module}") from exc


@FRONTENDS.register("logmel_stats")
def logmel_stats(x: np.ndarray) -> np.ndarray:
    from emorec.voice.features import FeatureConfig, sequence_features

    feats = sequence_features(x, FeatureConfig(normalize="scalar"))
    return np.concatenate([feats.mean(0), feats.std(0)]).astype(np.float32)


_ENCODER = None


def encoder():
    """Resemblyzer's frozen encoder (torch module: (windows, 160, 40) mel power -> (windows, 256))."""
    global _ENCODER
    if _ENCODER is None:
        res = _require("resemblyzer")
        _ENCODER = res.VoiceEncoder("cpu", verbose=False).eval()
    return _ENCODER


@FRONTENDS.register("resemblyzer")
def resemblyzer_embedding(x: np.ndarray) -> np.ndarray:
    """Mean of the encoder's window embeddings, L2-normalised (Resemblyzer's ``embed_utterance``,
    with the windows and mel frames cut by :mod:`emorec.voice.partials` as inference cuts them)."""
    torch = _require("torch")
    from emorec.voice.partials import PartialSpec, partial_windows

    with torch.no_grad():
        emb = encoder()(torch.from_numpy(partial_windows(x, PartialSpec()))).numpy().mean(0)
    return (emb / max(float(np.linalg.norm(emb)), 1e-8)).astype(np.float32)


@FRONTENDS.register("egemaps")
def egemaps_functionals(x: np.ndarray) -> np.ndarray:
    """The 88 eGeMAPS v02 functionals (openSMILE), the field's standard cross-corpus baseline."""
    from emorec.voice.features import egemaps

    return egemaps(np.asarray(x, dtype=np.float32), SAMPLE_RATE)


@FRONTENDS.register("crepe")
def crepe_pitch_stats(x: np.ndarray) -> np.ndarray:
    torch = _require("torch")
    crepe = _require("torchcrepe")
    audio = torch.from_numpy(np.asarray(x, dtype=np.float32))[None]
    with torch.no_grad():
        f0, period = crepe.predict(audio, SAMPLE_RATE, hop_length=320, fmin=50.0, fmax=550.0, model="tiny",
                                   batch_size=1024, device="cpu", return_periodicity=True)
    period = crepe.filter.median(period, 3)[0].numpy()
    f0 = f0[0].numpy()
    voiced = period > 0.21  # torchcrepe's recommended voicing threshold
    out = np.zeros(12, dtype=np.float32)
    out[0] = voiced.mean()
    out[1] = period.mean()
    if voiced.sum() >= 3:
        st = 12 * np.log2(np.maximum(f0[voiced], 1.0) / 55.0)
        p10, p50, p90 = np.percentile(st, [10, 50, 90])
        d = np.diff(st)
        out[2:12] = [st.mean(), st.std(), p10, p50, p90, p90 - p10, np.abs(d).mean(), d.std(),
                     period[voiced].mean(), float(np.sum(np.diff(voiced.astype(int)) == 1)) / (len(x) / SAMPLE_RATE)]
    return out



def _whisper_frontend(quant: str | None, stats: bool, doc: str):
    def frontend(x: np.ndarray) -> np.ndarray:
        _require("torch")
        from emorec.training.voice.whisper import layer_means

        return layer_means(x, quant=quant, stats=stats)

    frontend.__doc__ = doc
    return frontend


# Whisper base's frozen encoder (MIT; weights from the registry wheels named in
# emorec.training.voice.whisper), rounded by a plan of its QUANT_PLANS or not at all.
for _name, _quant, _stats, _doc in (
    ("whisper_layers", None, False, "Frame means of every hidden state of Whisper base's frozen encoder."),
    ("whisper_layers_int4", "int4", False,
     "``whisper_layers`` of the encoder with every matrix in 4 bits (plan ``int4``; the model shipped before)."),
    ("whisper_layers_mixed", "mixed", False,
     "``whisper_layers`` of the encoder as the shipped model stores it (plan ``mixed``: attention matrices in "
     "8 bits, the others in 4); its head is trained on these."),
    ("whisper_layers_mixed_stats", "mixed", True,
     "``whisper_layers_mixed`` with each state's standard deviation over frames beside its mean: (7 * 1024,)."),
):
    FRONTENDS.register(_name, _whisper_frontend(_quant, _stats, _doc))


@FRONTENDS.register("whisper_layers_channel")
def whisper_layer_means_channel(x: np.ndarray) -> np.ndarray:
    """``whisper_layers`` of one channel-augmented training copy of the clip (codec, band limit,
    reverberation, noise, speed, gain: :mod:`emorec.training.voice.channel_augment`), seeded by the
    clip's samples; loudness-normalised and trimmed again, as inference treats any input.
    Used on the training side of a split only."""
    import hashlib

    from emorec.training.voice.channel_augment import channel_augment
    from emorec.voice.audio import trim_silence
    from emorec.voice.loudness import normalize_loudness

    seed = int.from_bytes(hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes()).digest()[:8], "little")
    y = channel_augment(x, np.random.default_rng(seed))
    y = trim_silence(normalize_loudness(y, SAMPLE_RATE), SAMPLE_RATE, 40.0)
    return FRONTENDS.get("whisper_layers")(y)
