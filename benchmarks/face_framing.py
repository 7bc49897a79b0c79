"""Framing pilot: how a face model scores on the ExpW development photos as the crop spec varies.

Development data only (ExpW photos/, never trained on). The packaged default
detector runs once per photo (at its default settings, as the pipeline does);
each labelled face is matched to a detection (IoU >= 0.4, one-to-one), and
every candidate crop spec frames the same matched detections. Reported per
spec: accuracy / balanced accuracy / macro-F1 over matched faces, and the
whole-pipeline accuracy where a missed face counts as wrong. Used to choose
the margin / offset / squareness recorded in the model card.

    python benchmarks/face_framing.py                       # the shipped model
    python benchmarks/face_framing.py --model run.onnx --name face_framing_run
"""
from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

try:
    from benchmarks.common import REPO_ROOT, MissingPrerequisite, run_main, write_result
except ImportError:  # run as a script from benchmarks/
    from common import REPO_ROOT, MissingPrerequisite, run_main, write_result  # type: ignore[no-redef]


def _ort_classify(model_path: Path, crops: np.ndarray, card: dict) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
    spec = card["input"]
    x = crops.astype(np.float32) * float(spec["scale"])
    x = (x - float(spec["mean"])) / float(spec["std"])
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    name = sess.get_inputs()[0].name
    out = np.concatenate([sess.run(None, {name: x[i:i + 256]})[0] for i in range(0, len(x), 256)])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(REPO_ROOT / "src/emorec/models/face.onnx"))
    p.add_argument("--data", default=None, help="data root (else $EMOREC_DATA)")
    p.add_argument("--margins", default="-0.1,0,0.1,0.2")
    p.add_argument("--offsets", default="0,0.1")
    p.add_argument("--square", default="1", help="comma list of 0/1")
    p.add_argument("--name", default="face_framing")
    args = p.parse_args(argv)

    from emorec.datasets.expw import faces_by_photo, load_expw_photos
    from emorec.evaluation.metrics import classification_metrics
    from emorec.face.crop import CropSpec, make_crop
    from emorec.paths import data_root
    from emorec.training.face.crops import default_detector, match_all, read_bgr

    root = data_root(args.data) / "expw"
    if not (root / "photos.csv").is_file():
        raise MissingPrerequisite(f"ExpW development photos not found under {root}")
    model = Path(args.model)
    card = json.loads(model.with_suffix(".json").read_text())
    labels = list(card["labels"])
    size = tuple(card["input"]["size"])
    channels = int(card["input"].get("channels", 1))
    photos = faces_by_photo(load_expw_photos(root))
    detector = default_detector()
    matched: list[tuple[np.ndarray, tuple, str]] = []  # image, det box, label
    n_faces, n_missed = 0, 0
    missed_labels: list[str] = []
    for path, faces in sorted(photos.items()):
        image = read_bgr(path)
        dets = detector.detect(image)
        pairs = match_all(dets, [f.box for f in faces])
        for face, j in zip(faces, pairs):
            n_faces += 1
            if j is None:
                n_missed += 1
                missed_labels.append(face.label)
            else:
                matched.append((image, dets[j].box, face.label))
    y_true = np.array([labels.index(lab) if lab in labels else -1 for _, _, lab in matched])
    rows = []
    for margin, offset, square in itertools.product(
            [float(v) for v in args.margins.split(",")], [float(v) for v in args.offsets.split(",")],
            [bool(int(v)) for v in args.square.split(",")]):
        spec = CropSpec(size=size, channels=channels, margin=margin, offset_y=offset, square=square, align=False)
        crops = np.stack([make_crop(img, box, None, spec) for img, box, _ in matched])
        pred = _ort_classify(model, crops, card).argmax(1)
        m = classification_metrics(y_true, pred, labels)
        whole = float((pred == y_true).sum() / n_faces)
        rows.append({"crop": spec.to_dict(), "matched_accuracy": m["accuracy"],
                     "matched_balanced_accuracy": m["balanced_accuracy"], "matched_macro_f1": m["macro_f1"],
                     "pipeline_accuracy": whole,
                     "recall_per_class": {k: v["recall"] for k, v in m["per_class"].items()}})
        print(f"margin={margin:+.2f} offset_y={offset:+.2f} square={square}: matched acc {m['accuracy']:.3f} "
              f"bal {m['balanced_accuracy']:.3f} pipeline acc {whole:.3f}", flush=True)
    best = max(rows, key=lambda r: r["matched_balanced_accuracy"])
    figures = {"dataset": "expw-photos (development)", "model": str(model.relative_to(REPO_ROOT)) if model.is_relative_to(REPO_ROOT) else str(model),
               "detector": repr(detector), "n_faces": n_faces, "n_matched": len(matched), "n_missed": n_missed,
               "detection_recall": len(matched) / n_faces, "rows": rows,
               "best_by_matched_balanced_accuracy": best["crop"]}
    print(write_result(args.name, figures))
    return 0


if __name__ == "__main__":
    run_main(main)
