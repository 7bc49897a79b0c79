"""Accuracy of the shipped face model on FER2013 PrivateTest (3,589 images).

Reads the 48x48 crops with OpenCV, preprocesses them with
``emorec.face.preprocess`` as the model card says and classifies them with
``emorec.runtime.OnnxModel``: accuracy, balanced accuracy and macro-F1 with
95% percentile-bootstrap intervals (1,000 resamples, seed 0).

    python benchmarks/accuracy_face.py            # all 3,589 images
    python benchmarks/accuracy_face.py --quick    # every 6th image per class
    python benchmarks/accuracy_face.py --run-dir runs/fer-privatetest && emorec report runs/fer-privatetest
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__:  # `python -m benchmarks.NAME`, or imported as a module of the benchmarks package
    from benchmarks import common
else:  # `python benchmarks/NAME.py`: this folder is already sys.path[0]
    import common

NAME = "accuracy_face"


def read_gray(paths: list[Path]) -> tuple[list[np.ndarray], list[int], list[str]]:
    """Grayscale uint8 images; returns (images, indices kept, problems). One bad file never stops the run."""
    import cv2

    from emorec.face.preprocess import to_gray

    images, kept, problems = [], [], []
    for i, path in enumerate(paths):
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None or img.size == 0:
            problems.append(f"{path}: unreadable image")
            continue
        images.append(to_gray(img))
        kept.append(i)
    return images, kept, problems


def model_inputs(images: list[np.ndarray], spec: dict[str, Any]) -> np.ndarray:
    """The card's preprocessing: resize to its size, scale/mean/std, NCHW float32."""
    from emorec.face.preprocess import DEFAULT_INPUT, normalise, resize_face

    full = {**DEFAULT_INPUT, **spec}
    crops = np.stack([resize_face(img, full) for img in images])
    return normalise(crops, full).astype(np.float32)


def predict(model: Any, x: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate([model.run(x[i : i + batch]) for i in range(0, len(x), batch)])


def label_space(dataset_labels: list[str], model_labels: list[str]) -> list[str]:
    """Canonical order over the union, so a model label the test set lacks counts as an error, not a crash."""
    from emorec.labels import EMOTIONS

    union = set(dataset_labels) | set(model_labels)
    known = [e for e in EMOTIONS if e in union]
    return known + sorted(union - set(known))


def to_indices(names: list[str], labels: list[str]) -> np.ndarray:
    where = {name: i for i, name in enumerate(labels)}
    return np.array([where[n] for n in names], dtype=np.int64)


def evaluate(model_path: Path, paths: list[Path], true_names: list[str]) -> dict[str, Any]:
    """Run the model over ``paths``; returns metrics, intervals, predictions and timing."""
    from emorec.evaluation.bootstrap import bootstrap_ci
    from emorec.evaluation.metrics import classification_metrics
    from emorec.runtime import OnnxModel

    model = OnnxModel.load(model_path)
    start = time.perf_counter()
    images, kept, problems = read_gray(paths)
    x = model_inputs(images, model.card.input)
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    probs = predict(model, x)
    infer_s = time.perf_counter() - start
    labels = label_space(true_names, model.labels)
    y_true = to_indices([true_names[i] for i in kept], labels)
    y_pred = to_indices([model.labels[j] for j in probs.argmax(axis=1)], labels)
    metrics = classification_metrics(y_true, y_pred, labels)
    ci = bootstrap_ci(y_true, y_pred, labels, n_resamples=1000, seed=0)
    # Probabilities in the metrics' label order, for calibration in reports.
    full_probs = np.zeros((len(kept), len(labels)), dtype=np.float32)
    for j, name in enumerate(model.labels):
        full_probs[:, labels.index(name)] = probs[:, j]
    return {
        "model": model,
        "metrics": metrics,
        "ci": ci,
        "y_true": y_true,
        "probs": full_probs,
        "paths": [str(paths[i]) for i in kept],
        "problems": problems,
        "read_s": read_s,
        "infer_s": infer_s,
    }


def write_run_dir(run_dir: Path, result: dict[str, Any], command: str) -> None:
    """A run directory in the documented format, so `emorec report` can render it."""
    import json

    import yaml

    run_dir.mkdir(parents=True, exist_ok=True)
    card = result["model"].card
    metrics = dict(result["metrics"])
    metrics.update(dataset="fer2013", protocol="official PrivateTest", command=command,
                   model_card=json.loads(card.to_json()))
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (run_dir / "config.yaml").write_text(yaml.safe_dump(
        {"command": command, "model": str(result["model"].path), "dataset": "fer2013", "split": "PrivateTest"}))
    np.savez(run_dir / "predictions.npz", y_true=result["y_true"], probs=result["probs"],
             groups=np.array([""] * len(result["y_true"])), paths=np.array(result["paths"]))


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="ONNX model (default: the shipped face model)")
    p.add_argument("--run-dir", default=None, help="also write a run directory for `emorec report`")
    args = p.parse_args()
    from emorec.errors import ModelError
    from emorec.runtime import packaged_model

    try:
        model_path = Path(args.model) if args.model else packaged_model("face")
    except ModelError as exc:
        raise common.MissingPrerequisite(str(exc)) from None
    paths, names = common.fer2013_private_test(args.data, quick=args.quick)
    result = evaluate(model_path, paths, names)
    command = common.command_line()
    if args.run_dir:
        write_run_dir(Path(args.run_dir), result, command)
    m = result["metrics"]
    figures = common.accuracy_figures(
        m, result["ci"], task="face", dataset="FER2013", protocol="official PrivateTest" + (
            " (quick: every 6th image per class)" if args.quick else ""),
        extra={
            "model": str(model_path.relative_to(common.REPO_ROOT)) if model_path.is_relative_to(common.REPO_ROOT)
            else str(model_path),
            "model_sha256": result["model"].card.onnx_sha256 or None,
            "model_size_mb": common.file_size_mb(model_path),
            "unreadable_images": len(result["problems"]),
            "read_and_preprocess_s": result["read_s"],
            "inference_s": result["infer_s"],
        },
    )
    out = common.write_result(NAME, figures, quick=args.quick, command=command,
                              title="Shipped face model on FER2013 PrivateTest", notes=result["problems"][:20])
    print(f"accuracy {m['accuracy']:.4f}  balanced {m['balanced_accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}"
          f"  (n = {m['n']}) -> {out}")


if __name__ == "__main__":
    common.run_main(main)
