"""What compact (int8/float16) voice weights cost in accuracy: writes benchmarks/results/voice_compact.json.

The shipped voice model is exported with ``emorec voice export --compact``. This
script repeats that for every fold of a speaker-independent k-fold run: each
fold's trained members are exported twice, as float32 ONNX and compact ONNX,
and both files score the fold's held-out speakers through the full inference
pipeline (``VoiceEmotionRecognizer``: file decode, VAD, features). Scores are
pooled over folds; label agreement and the largest probability difference
between the two exports are reported beside them, with the file sizes.

Needs the run's weights (``best.safetensors``; benchmarks/runs keeps no weights):

    emorec voice train --config configs/voice/ravdess_5fold.yaml --out runs/ravdess_5fold
    python benchmarks/voice_compact.py --run-dir runs/ravdess_5fold
    python benchmarks/voice_compact.py --run-dir runs/ravdess_5fold --quick   # first fold only
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

if __package__:  # `python -m benchmarks.NAME`, or imported as a module of the benchmarks package
    from benchmarks import common
else:  # `python benchmarks/NAME.py`: this folder is already sys.path[0]
    import common

NAME = "voice_compact"
DEFAULT_RUN = common.REPO_ROOT / "runs" / "ravdess_5fold"


def compare_fold(fold_dir: Path, work: Path, data: str | None) -> dict:
    """Export one fold both ways and predict its held-out clips with each export."""
    import json

    from emorec.training.config import load_config
    from emorec.training.voice.config import VoiceTrainConfig
    from emorec.training.voice.corpora import corpus_records
    from emorec.training.voice.export import export_voice
    from emorec.voice.recognizer import VoiceEmotionRecognizer

    speakers = json.loads((fold_dir / "metrics.json").read_text())["test_speakers"]
    cfg = load_config(VoiceTrainConfig, fold_dir.parent / "config.yaml", {"data": data} if data else {})
    _, records = corpus_records(cfg, speakers)
    out: dict = {"y": [r.label for r in records]}
    for kind in ("float32", "compact"):
        path = export_voice(fold_dir, work / f"{fold_dir.name}_{kind}.onnx", compact=kind == "compact")
        rec = VoiceEmotionRecognizer(path)
        out["labels"], out[f"{kind}_mb"] = rec.labels, common.file_size_mb(path)
        out[kind] = [rec.predict(r.path) for r in records]
    return out


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--run-dir", default=str(DEFAULT_RUN), help="k-fold run directory with weights")
    args = p.parse_args()
    from emorec.evaluation.metrics import classification_metrics

    run_dir = Path(args.run_dir)
    folds = sorted(d for d in run_dir.glob("fold_*") if (d / "metrics.json").is_file())
    if not folds or not any(folds[0].rglob("best.safetensors")):
        raise common.MissingPrerequisite(f"no trained folds with weights in {run_dir}: train it first (see --help)")
    if args.quick:
        folds = folds[:1]
    y: list[str] = []
    preds: dict[str, list[str]] = {"float32": [], "compact": []}
    sizes: dict[str, float] = {}
    max_diff = 0.0
    labels: list[str] = []
    with tempfile.TemporaryDirectory(prefix="emorec-voice-compact-") as tmp:
        for fold in folds:
            r = compare_fold(fold, Path(tmp), args.data)
            labels = r["labels"]
            sizes = {kind: r[f"{kind}_mb"] for kind in preds}
            for truth, a, b in zip(r["y"], r["float32"], r["compact"]):
                if a.label is None or b.label is None:  # no speech found: scored by neither
                    continue
                y.append(truth)
                preds["float32"].append(a.label)
                preds["compact"].append(b.label)
                max_diff = max(max_diff, max(abs(a.scores[k] - b.scores[k]) for k in a.scores))
            print(f"{fold.name}: {len(r['y'])} clips")
    agreement = float(np.mean([a == b for a, b in zip(preds["float32"], preds["compact"])]))
    figures: dict = {"run_dir": str(run_dir), "folds": [f.name for f in folds], "labels": labels,
                     "pipeline": "VoiceEmotionRecognizer.predict(file): decode, VAD, features, model",
                     "label_agreement": agreement, "max_probability_difference": max_diff, "model_mb": sizes}
    for kind, pred in preds.items():
        m = classification_metrics([labels.index(t) for t in y], [labels.index(q) for q in pred], labels)
        figures[kind] = {k: m[k] for k in ("n", "accuracy", "balanced_accuracy", "macro_f1")}
    figures["headline"] = [
        common.headline("float32 ONNX, pooled held-out accuracy", round(100 * figures["float32"]["accuracy"], 2), "%"),
        common.headline("compact ONNX, pooled held-out accuracy", round(100 * figures["compact"]["accuracy"], 2), "%"),
        common.headline("label agreement, compact vs float32", round(100 * agreement, 2), "%"),
        common.headline("model file, float32", sizes["float32"], "MB"),
        common.headline("model file, compact", sizes["compact"], "MB"),
    ]
    path = common.write_result(NAME, figures)
    print(f"float32 {figures['float32']['accuracy']:.4f} vs compact {figures['compact']['accuracy']:.4f}; "
          f"agreement {agreement:.4f}; -> {path}")


if __name__ == "__main__":
    common.run_main(main)
