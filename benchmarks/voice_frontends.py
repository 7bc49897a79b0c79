"""Frozen voice front ends against the log-mel baseline, with one classifier for all.

Every clip of RAVDESS (actors 01-20), EMOVO and URDU is read, silence-trimmed and
loudness-normalised, then turned into one vector per front end (see
:mod:`emorec.training.voice.frontends`). The same classifier (standardise, then a
class- and corpus-balanced multinomial logistic regression) is trained on each
front end and on their concatenations, under the protocols of
``benchmarks/accuracy_voice_cross.py``:

- leave-one-corpus-out: trained on two corpora, tested on the third with the
  argmax restricted to its classes; the regularisation strength is chosen by
  inner leave-one-corpus-out over the two training corpora (never on the
  held-out corpus);
- RAVDESS speaker-independent 5-fold (the same folds as the BiGRU rows), the
  regularisation chosen by inner speaker-grouped folds.

Balanced accuracy with 95 % speaker-bootstrap intervals per row. Vectors are
cached under ``.devdata/frontends`` (git-ignored).

    pip install resemblyzer torchcrepe==0.0.22
    python benchmarks/voice_frontends.py
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

if __package__:
    from benchmarks import common
else:
    import common

NAME = "voice_frontends"
CACHE = common.REPO_ROOT / ".devdata" / "frontends"
CORPORA = ("ravdess", "emovo", "urdu")
SINGLE = ("logmel_stats", "resemblyzer", "egemaps", "crepe")
COMBOS = (("logmel_stats", "crepe"), ("resemblyzer", "crepe"), ("logmel_stats", "resemblyzer"),
          ("logmel_stats", "resemblyzer", "crepe"), ("resemblyzer", "egemaps"), ("resemblyzer", "egemaps", "crepe"))


NEEDS = {"resemblyzer": "resemblyzer", "crepe": "torchcrepe", "egemaps": "opensmile"}  # front end -> package


def check_prerequisites(names) -> None:
    """The frozen front ends' packages (training-time only): a missing one is a missing prerequisite."""
    import importlib.util

    missing = sorted({NEEDS[n] for n in names if n in NEEDS and importlib.util.find_spec(NEEDS[n]) is None})
    if missing:
        raise common.MissingPrerequisite(f"front ends need {', '.join(missing)}: pip install "
                                         + " ".join("torchcrepe==0.0.22" if m == "torchcrepe" else m for m in missing))


def load_records(data: str | None):
    from emorec.training.voice_multi import load_corpus, resolve_corpus

    records = []
    for name in CORPORA:
        records.extend(load_corpus(*resolve_corpus(name, data)).records)
    return records


def real_time_factors(records, names, n: int = 30) -> dict[str, float]:
    """Seconds of compute per second of audio for each front end on ``n`` clips (one thread)."""
    import time

    from emorec.training.voice.frontends import FRONTENDS, prepare_clip

    clips = [prepare_clip(r.path) for r in records[:: max(1, len(records) // n)][:n]]
    audio_s = sum(c.size for c in clips) / 16000
    out = {}
    for name in names:
        fn = FRONTENDS.get(name)
        fn(clips[0])  # load the network outside the timing
        t0 = time.perf_counter()
        for c in clips:
            fn(c)
        out[name] = (time.perf_counter() - t0) / audio_s
    return out


def bigru_probs(records, labels: list[str], protocol: str) -> np.ndarray:
    """The BiGRU recipe's held-out probabilities (benchmarks/runs/voice_cross/base), aligned to
    ``records`` and ``labels``; NaN rows for clips it has no prediction for."""
    import yaml

    run = common.REPO_ROOT / "benchmarks" / "runs" / "voice_cross" / "base" / protocol
    out = np.full((len(records), len(labels)), np.nan, dtype=np.float64)
    if not (run / "config.yaml").is_file():
        return out
    run_labels = yaml.safe_load((run / "config.yaml").read_text())["labels"]
    where = {str(r.path.resolve()): i for i, r in enumerate(records)}
    cols = [run_labels.index(lab) if lab in run_labels else None for lab in labels]
    for f in sorted(run.glob("*/predictions.npz")):
        with np.load(f) as p:
            for path, row in zip(p["paths"], p["probs"]):
                i = where.get(str(Path(str(path)).resolve()))
                if i is not None:
                    out[i] = [row[c] if c is not None else 0.0 for c in cols]
    return out


def evaluate(X, y, corpus, groups, labels, split_list, inner: str, fuse: np.ndarray | None = None) -> dict[str, Any]:
    """Pooled held-out metrics; with ``fuse`` (BiGRU probabilities per clip) the two models'
    probabilities over the allowed classes are averaged with equal weight (nothing tuned)."""
    from emorec.evaluation.bootstrap import bootstrap_ci
    from emorec.evaluation.metrics import classification_metrics
    from emorec.training.voice.fused import balanced_weights, choose_c, fit_head, restricted_probs

    yt_all, yp_all, g_all, chosen = [], [], [], []
    for tr, te in split_list:
        C = choose_c(X, y, corpus, groups, tr, inner)
        chosen.append(C)
        m = fit_head(X[tr], y[tr], balanced_weights(corpus[tr], y[tr]), C)
        allowed = sorted(set(y[te].tolist()) & set(y[tr].tolist()))
        yt_all.append(y[te])
        ids, probs = restricted_probs(m, X[te], allowed)
        if fuse is not None:
            other = fuse[te][:, ids]
            if np.isnan(other).any():
                raise RuntimeError("BiGRU predictions missing for some test clips: run accuracy_voice_cross --train")
            probs = 0.5 * probs + 0.5 * other / other.sum(1, keepdims=True)
        yp_all.append(ids[probs.argmax(1)])
        g_all.append(groups[te])
    yt, yp, g = np.concatenate(yt_all), np.concatenate(yp_all), np.concatenate(g_all)
    sub = sorted(set(yt.tolist()))
    yt_s = np.array([sub.index(v) for v in yt])
    yp_s = np.array([sub.index(v) if v in sub else -1 for v in yp])
    wrong = yp_s < 0  # a class the test corpus lacks: cannot happen with the restricted argmax
    yp_s[wrong] = (yt_s[wrong] + 1) % len(sub)
    names = [labels[i] for i in sub]
    metrics = classification_metrics(yt_s, yp_s, names)
    ci = bootstrap_ci(yt_s, yp_s, names, groups=g)
    return {"metrics": metrics, "ci": ci, "C": chosen}


def main() -> None:
    ap = common.parser(__doc__.splitlines()[0])
    args = ap.parse_args()
    from emorec.training.voice.frontends import clip_vectors
    from emorec.training.voice_multi import MultiData, corpus_kfold

    check_prerequisites(SINGLE)
    records = load_records(args.data)
    feats = clip_vectors(records, SINGLE, CACHE)
    labels = sorted({r.label for r in records})
    y = np.array([labels.index(r.label) for r in records])
    corpus = np.array([r.corpus for r in records])
    groups = np.array([r.speaker for r in records])
    # the BiGRU rows' RAVDESS folds: corpus_kfold over the three corpora, RAVDESS test clips only
    md = MultiData(records, labels, list(CORPORA), {}, [], [], [])
    folds = corpus_kfold(md, 5)
    fused = {p: bigru_probs(records, labels, p) for p in ("leave-corpus-out", "corpus-kfold")}
    rows: list[dict[str, Any]] = []
    for combo in [(s,) for s in SINGLE] + list(COMBOS):
        X = np.concatenate([feats[n] for n in combo], axis=1)
        name = "+".join(combo)
        for held in CORPORA:
            idx = np.arange(len(y))
            tr, te = idx[corpus != held], idx[corpus == held]
            res = evaluate(X, y, corpus, groups, labels, [(tr, te)], "corpus")
            fig = common.accuracy_figures(res["metrics"], res["ci"], task="voice", dataset=held,
                                          protocol=f"leave-one-corpus-out, {name} + logistic regression")
            fig.update(frontend=name, kind="leave-corpus-out", corpus=held, C=res["C"])
            rows.append(fig)
            print(f"{name:36s} LOCO {held:8s} UAR {fig['balanced_accuracy']['value']:.3f}", flush=True)
            if not np.isnan(fused["leave-corpus-out"][te]).any():
                res = evaluate(X, y, corpus, groups, labels, [(tr, te)], "corpus", fuse=fused["leave-corpus-out"])
                fig = common.accuracy_figures(res["metrics"], res["ci"], task="voice", dataset=held,
                                              protocol=f"leave-one-corpus-out, BiGRU averaged with {name} + LR")
                fig.update(frontend=f"bigru|{name}", kind="leave-corpus-out", corpus=held, C=res["C"])
                rows.append(fig)
                print(f"{'bigru|' + name:36s} LOCO {held:8s} UAR {fig['balanced_accuracy']['value']:.3f}", flush=True)
        splits = [(tr, te[corpus[te] == "ravdess"]) for tr, te in folds]
        variants = [(name, None)]
        ravdess_test = np.concatenate([te for _, te in splits])
        if not np.isnan(fused["corpus-kfold"][ravdess_test]).any():
            variants.append((f"bigru|{name}", fused["corpus-kfold"]))
        for label, fuse in variants:
            res = evaluate(X, y, corpus, groups, labels, splits, "groups", fuse=fuse)
            fig = common.accuracy_figures(res["metrics"], res["ci"], task="voice", dataset="ravdess",
                                          protocol=f"speaker-independent 5-fold (all three corpora in training), {label}")
            fig.update(frontend=label, kind="corpus-kfold", corpus="ravdess", C=res["C"])
            rows.append(fig)
            print(f"{label:36s} 5-fold RAVDESS acc {fig['accuracy']['value']:.3f} "
                  f"UAR {fig['balanced_accuracy']['value']:.3f}", flush=True)
    rtf = real_time_factors(records, SINGLE)
    print("real-time factors:", {k: round(v, 4) for k, v in rtf.items()}, flush=True)
    common.write_result(NAME, {"rows": rows, "n_clips": len(records), "corpora": list(CORPORA),
                               "real_time_factor": rtf},
                        extra_versions=["scikit-learn", "resemblyzer", "torchcrepe"])


if __name__ == "__main__":
    common.run_main(main)
