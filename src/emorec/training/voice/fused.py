"""The voice model that ships: a BiGRU run fused with a frozen speaker encoder.

``benchmarks/voice_frontends.py`` measured frozen front ends against the log-mel
baseline on held-out corpora. Averaging the BiGRU's probabilities with those of a
logistic-regression head on Resemblyzer's utterance embedding won there, so the
shipped graph is both branches in one ONNX file:

- ``features`` (1, frames, dim): the BiGRU's log-mel input (card ``input.features``);
- ``partials`` (windows, 160, 40): mel power of 1.6 s windows (card ``input.partials``,
  cut by :mod:`emorec.voice.partials`), embedded by the frozen encoder, averaged,
  L2-normalised, standardised and classified by the head;
- ``probabilities`` (1, n_labels): the equal-weight mean of the two branches.

The head's regularisation strength is chosen by leave-one-corpus-out on the
training corpora, never on a test set.

    python -m emorec.training.voice.fused --run benchmarks/runs/voice_cross/base/all \\
        --out src/emorec/models/voice.onnx --overwrite
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emorec.datasets.audio_corpus import AudioRecord
from emorec.errors import EmorecError
from emorec.voice.features import FeatureConfig

C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3)
FRONTENDS_JSON = "benchmarks/results/voice_frontends.json"
FUSED_FRONTEND = "bigru|resemblyzer"
INT8_OPS = ("MatMul", "Conv")  # the encoder's LSTM stays float16: int8 LSTM weights wreck its embeddings
COMPACT_FUSED_NOTE = ("int8 dynamic quantisation of MatMul/Conv weights; the recurrent weights (the BiGRU and "
                      "the encoder's LSTM) stored as float16 and cast to float32 when the session loads")


# -- the classifier head -------------------------------------------------------------------------

def balanced_weights(corpus: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The BiGRU recipe's weights (corpus share sqrt(n_c), classes equal within a corpus), mean 1."""
    from emorec.training.voice.multi import corpus_class_weights

    return corpus_class_weights(corpus, y) * len(y)


def fit_head(X: np.ndarray, y: np.ndarray, w: np.ndarray, C: float, corpus: np.ndarray | None = None):
    """Standardise, then a multinomial logistic regression (scikit-learn pipeline). With ``corpus``,
    each clip's softmax runs over its corpus's classes only
    (:class:`emorec.training.voice.masked_head.MaskedLogisticRegression`)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from emorec.training.voice.masked_head import MaskedLogisticRegression, corpus_masks

    if corpus is None:
        model = Pipeline([("standardscaler", StandardScaler()),
                          ("logisticregression", LogisticRegression(C=C, max_iter=2000))])
        return model.fit(X, y, logisticregression__sample_weight=w)
    model = Pipeline([("standardscaler", StandardScaler()), ("logisticregression", MaskedLogisticRegression(C))])
    return model.fit(X, y, logisticregression__sample_weight=w, logisticregression__allowed=corpus_masks(corpus, y))


def restricted_probs(model, X: np.ndarray, allowed: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(label indices, probabilities renormalised over them) for the ``allowed`` classes the model has."""
    classes = list(model.classes_)
    cols = [classes.index(a) for a in allowed if a in classes]
    probs = model.predict_proba(X)[:, cols]
    return np.array([classes[c] for c in cols]), probs / np.maximum(probs.sum(1, keepdims=True), 1e-12)


def restricted_scores(yt: np.ndarray, yp: np.ndarray, groups: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """``{"metrics", "ci"}`` of predictions ``yp`` scored over the classes ``yt`` holds (a held-out
    corpus's own), intervals resampling ``groups``; a prediction outside them (none with the
    restricted argmax; -1 for an input the pipeline refused) counts as wrong."""
    from emorec.evaluation.bootstrap import bootstrap_ci
    from emorec.evaluation.metrics import classification_metrics

    sub = sorted(set(yt.tolist()))
    yt_s = np.array([sub.index(v) for v in yt])
    yp_s = np.array([sub.index(v) if v in sub else (t + 1) % len(sub) for v, t in zip(yp.tolist(), yt_s)])
    names = [labels[i] for i in sub]
    return {"metrics": classification_metrics(yt_s, yp_s, names), "ci": bootstrap_ci(yt_s, yp_s, names, groups=groups)}


def uar(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    classes = sorted(set(y_true.tolist()))
    return float(np.mean([np.mean(y_pred[y_true == k] == k) for k in classes]))


def c_scores(X: np.ndarray, y: np.ndarray, corpus: np.ndarray, groups: np.ndarray, train: np.ndarray,
             inner: str = "corpus", grid: tuple[float, ...] = C_GRID, masked: bool = False) -> dict[float, float]:
    """Mean UAR of every C in ``grid`` (default :data:`C_GRID`) on inner splits of ``train`` only: leave-one-corpus-out
    (``inner="corpus"``) or speaker-grouped 3-fold (``"groups"``); NaN where no split could score. ``masked``:
    the head's softmax per clip over its corpus's classes (:func:`fit_head`)."""
    from emorec.datasets.splits import grouped_kfold

    if inner == "corpus":
        splits = [(train[corpus[train] != c], train[corpus[train] == c]) for c in sorted(set(corpus[train].tolist()))]
    else:
        splits = [(train[a], train[b]) for a, b in grouped_kfold(groups[train], 3, 0)]
    scores = {}
    for C in grid:
        vals = []
        for a, b in splits:
            m = fit_head(X[a], y[a], balanced_weights(corpus[a], y[a]), C, corpus[a] if masked else None)
            ids, probs = restricted_probs(m, X[b], sorted(set(y[b].tolist())))
            if len(ids):  # a split whose test classes training never saw says nothing about C
                vals.append(uar(y[b], ids[probs.argmax(1)]))
        scores[C] = float(np.mean(vals)) if vals else float("nan")
    return scores


def best_c(scores: dict[float, float]) -> float:
    usable = {c: v for c, v in scores.items() if not np.isnan(v)}
    return max(usable, key=lambda c: usable[c]) if usable else C_GRID[len(C_GRID) // 2]


def choose_c(X: np.ndarray, y: np.ndarray, corpus: np.ndarray, groups: np.ndarray, train: np.ndarray,
             inner: str = "corpus") -> float:
    """C with the best mean UAR on inner splits of ``train`` only (see :func:`c_scores`)."""
    return best_c(c_scores(X, y, corpus, groups, train, inner))


# -- the fused graph -----------------------------------------------------------------------------

def attach_head(module: nn.Module, head, name: str = "head") -> None:
    """Give ``module`` the fitted scikit-learn ``head`` (StandardScaler + LogisticRegression) as
    buffers ``mean``/``scale`` and a linear layer ``name``: logits = layer((x - mean) / scale)."""
    scaler, lr = head.named_steps["standardscaler"], head.named_steps["logisticregression"]
    module.register_buffer("mean", torch.tensor(scaler.mean_, dtype=torch.float32))
    module.register_buffer("scale", torch.tensor(scaler.scale_, dtype=torch.float32))
    layer = nn.Linear(lr.coef_.shape[1], lr.coef_.shape[0])
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(lr.coef_, dtype=torch.float32))
        layer.bias.copy_(torch.tensor(lr.intercept_, dtype=torch.float32))
    setattr(module, name, layer)


class FusedVoiceModel(nn.Module):
    """BiGRU logits and encoder-head logits -> the mean of their softmaxes."""

    def __init__(self, sequence_model: nn.Module, encoder: nn.Module, head) -> None:
        super().__init__()
        self.sequence_model = sequence_model
        self.lstm, self.linear = encoder.lstm, encoder.linear
        attach_head(self, head)

    def embed(self, partials: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(partials)
        e = torch.relu(self.linear(hidden[-1]))
        e = e / torch.clamp(e.norm(dim=1, keepdim=True), min=1e-8)
        e = e.mean(0, keepdim=True)
        return e / torch.clamp(e.norm(dim=1, keepdim=True), min=1e-8)

    def forward(self, features: torch.Tensor, partials: torch.Tensor) -> torch.Tensor:
        p_seq = torch.softmax(self.sequence_model(features), -1)
        p_head = torch.softmax(self.head((self.embed(partials) - self.mean) / self.scale), -1)
        return 0.5 * (p_seq + p_head)


def embeddings(records: list[AudioRecord], progress: bool = True) -> np.ndarray:
    """Resemblyzer utterance embeddings of ``records`` (cached with the benchmark's vectors)."""
    from emorec.training.voice.frontends import clip_vectors

    return clip_vectors(records, ["resemblyzer"], progress=progress)["resemblyzer"]


def train_head(records: list[AudioRecord], labels: list[str]) -> tuple[Any, float]:
    """The head on every clip, C chosen by leave-one-corpus-out over the corpora."""
    X = embeddings(records)
    y = np.array([labels.index(r.label) for r in records])
    corpus = np.array([r.corpus for r in records])
    groups = np.array([r.speaker for r in records])
    idx = np.arange(len(y))
    C = choose_c(X, y, corpus, groups, idx, "corpus")
    return fit_head(X, y, balanced_weights(corpus, y), C), C


def export_fused(run_dir: str | Path, out: str | Path, data: str | None = None, compact: bool = True,
                 overwrite: bool = False, name: str = "emorec-voice-multicorpus-bigru-resemblyzer") -> Path:
    """Export the fused model (BiGRU of ``run_dir`` + encoder + head trained here) with its card."""
    from emorec.training.voice.export import load_run_model
    from emorec.training.voice.frontends import encoder
    from emorec.training.voice.multi import export_multi, load_corpus, resolve_corpus
    from emorec.voice.partials import PartialSpec

    run_dir, out = Path(run_dir), Path(out)
    if out.exists() and not overwrite:
        raise EmorecError(f"{out} exists: pass --overwrite to replace it")
    seq_model, cfg = load_run_model(run_dir)
    labels = list(cfg["labels"])
    records = [r for c in cfg["corpus"] for r in load_corpus(*resolve_corpus(c, data)).records if r.label in labels]
    head, C = train_head(records, labels)
    if len(head.classes_) != len(labels):
        raise EmorecError(f"the head saw {len(head.classes_)} of the run's {len(labels)} classes")
    fused = FusedVoiceModel(seq_model, encoder(), head).eval()

    # The card starts as the multi-corpus export's card of the BiGRU alone (made in a scratch folder).
    with tempfile.TemporaryDirectory() as tmp:
        alone = export_multi(run_dir, Path(tmp) / "bigru.onnx", None, name=name, compact=compact)
        card = json.loads(alone.with_suffix(".json").read_text(encoding="utf-8"))
    spec = PartialSpec()
    out.parent.mkdir(parents=True, exist_ok=True)
    parity = write_graph(fused, out, FeatureConfig.from_dict(cfg["features"]).dim, spec, compact)
    card_path = out.with_suffix(".json")
    card["input"]["partials"] = spec.to_dict()
    card["input"]["layout"] = "features (1, frames, dim) and partials (windows, 160, 40)"
    card["input"]["weights"] = COMPACT_FUSED_NOTE if compact else "float32"
    n_params = sum(p.numel() for p in fused.parameters())
    card["architecture"] = (f"fusion: mean of {card['architecture']} and a logistic-regression head (C={C}) on the "
                            f"frozen Resemblyzer speaker encoder (3-layer LSTM 256, Apache-2.0), 1.6 s windows "
                            f"averaged ({n_params} parameters in all)")
    card["training"]["head"] = {"frontend": "resemblyzer", "C": C, "C_grid": list(C_GRID),
                                "C_chosen_by": "leave-one-corpus-out over the training corpora",
                                "clips": len(records), "parity_max_diff": parity}
    card["training"]["command"] = (f"python -m emorec.training.voice.fused --run {run_dir} --out {out}"
                                   + (" --overwrite" if overwrite else ""))
    frontends = Path(FRONTENDS_JSON)
    if frontends.is_file():
        card["metrics"] = fused_metrics(frontends)
    card["license"] += "; encoder weights: Resemblyzer (Apache-2.0, Resemble AI)"
    card["notes"] += (" The encoder branch is Resemblyzer's frozen speaker encoder; the choice of this fusion was "
                      "made on the held-out corpora rows of benchmarks/voice_frontends.py (see the README).")
    from emorec.runtime import sha256_file

    card["onnx_sha256"] = sha256_file(out)
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return out


def write_graph(fused: FusedVoiceModel, out: Path, dim: int, spec, compact: bool = True) -> float:
    """Export ``fused`` to ``out`` (inputs ``features`` and ``spec.input``), check it against torch,
    then store compact weights; returns the float32 graph's max difference from torch."""
    from emorec.training.export import export_checked

    example = (torch.zeros(1, 120, dim), torch.zeros(2, spec.frames, fused.lstm.input_size))
    return export_checked(fused, example, out, input_names=["features", spec.input],
                          dynamic_axes={"features": {1: "frames"}, spec.input: {0: "windows"}},
                          parity=lambda path: _parity(path, fused, dim, spec), compact=compact, int8_ops=INT8_OPS)


def _parity(onnx_path: Path, fused: FusedVoiceModel, dim: int, spec) -> float:
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    feats = rng.standard_normal((1, 250, dim)).astype(np.float32)
    parts = np.abs(rng.standard_normal((3, spec.frames, fused.lstm.input_size))).astype(np.float32)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"features": feats, spec.input: parts})[0]
    with torch.no_grad():
        want = fused(torch.from_numpy(feats), torch.from_numpy(parts)).numpy()
    diff = float(np.abs(got - want).max())
    if diff > 1e-4:
        raise EmorecError(f"ONNX export of the fused model disagrees with torch (max diff {diff:.2e})")
    return diff


def fused_metrics(frontends_json: Path, recipe: str = FUSED_FRONTEND) -> dict[str, Any]:
    """A recipe's held-out rows from benchmarks/results/voice_frontends.json."""
    doc = json.loads(frontends_json.read_text(encoding="utf-8"))
    rows, command = {}, doc.get("command")
    for row in doc["figures"]["rows"]:
        if row.get("frontend") != recipe:
            continue
        command = row.get("made_by", {}).get("command") or command  # rows kept from an earlier --only run
        rows[f"{row['kind']}/{row['corpus']}"] = {
            "n": row["n"], "classes": len(row.get("labels") or []),
            **{m: row[m]["value"] for m in ("accuracy", "balanced_accuracy", "macro_f1")},
            "balanced_accuracy_ci95": [row["balanced_accuracy"].get("low"), row["balanced_accuracy"].get("high")],
            "protocol": row["protocol"]}
    return {"source": str(frontends_json), "command": command, "recipe": recipe, "rows": rows,
            "note": "held-out scores of the same recipe trained on the training side of each split; the shipped "
                    "model itself trained on everything"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="export the fused BiGRU + Resemblyzer voice model")
    p.add_argument("--run", required=True, help="a multi-corpus 'protocol: all' run dir (the BiGRU)")
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=None)
    p.add_argument("--float32", action="store_true", help="keep float32 weights (default: compact int8/float16)")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    print(export_fused(args.run, args.out, args.data, compact=not args.float32, overwrite=args.overwrite))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
