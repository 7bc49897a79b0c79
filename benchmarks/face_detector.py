"""Face detector settings compared: recall, false boxes and time per 640x480 photo.

Writes benchmarks/results/face_detector.json. Every configuration runs on the same scenes:

  * recall scenes: 640x480 grayscale scenes, each with two real FER2013
    PrivateTest faces (48x48 crops upscaled to 56-200 px, the range of faces
    in ordinary photos) pasted at random places over a procedural background
    (gradients, shapes, lines, noise). A face counts as found when a box
    overlaps its pasted square with IoU >= 0.4; other boxes are false boxes.
    FER2013 includes turned, occluded and cartoon-like faces that no frontal
    detector finds, so recall is a comparison between settings, not an
    absolute figure;
  * the real photos of the serve load test (crops of examples/astronaut.jpg):
    faces found and milliseconds per photo, single-threaded (OpenCV and
    ONNX Runtime on one thread each, as each server thread runs them).

The packaged default is the first configuration; the others are the
alternatives considered (smaller search, fewer scales, another cascade)
and fer's full-size settings as a yardstick.

    python benchmarks/face_detector.py --quick   # 150 scenes
    python benchmarks/face_detector.py           # 1,000 scenes (2,000 faces)
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

NAME = "face_detector"
WIDTH, HEIGHT = 640, 480
FACE_SIDES = (56, 200)
IOU_MATCH = 0.4


def configurations() -> list[dict[str, Any]]:
    """(name, cascade file, HaarDetector options): the packaged default first."""
    from emorec.face.detect import CASCADE_DIR, CASCADE_PATH, HaarDetector

    defaults = HaarDetector.__init__.__kwdefaults__
    data = CASCADE_DIR
    base = {k: defaults[k] for k in ("max_side", "scale_factor", "min_neighbors", "min_size")}
    configs = [{"name": "packaged default", "cascade": CASCADE_PATH.name, **base}]
    for cascade in ("haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt2.xml"):
        if not (data / cascade).is_file():
            continue
        for changes in ({"scale_factor": 1.15, "min_neighbors": 4}, {"scale_factor": 1.15, "min_neighbors": 3},
                        {"scale_factor": 1.2, "min_neighbors": 4}, {"min_neighbors": 2}, {"min_size": 28},
                        {"max_side": 288, "min_size": 22}):
            cfg = {"name": f"{cascade.split('_', 2)[2].removesuffix('.xml')} " + (
                ", ".join(f"{k}={v}" for k, v in changes.items()) or "(default options)"),
                "cascade": cascade, **base, **changes}
            if not any(_same(cfg, other) for other in configs):
                configs.append(cfg)
    configs.append({"name": "fer-style full size (1.1 / 5 / 50 px)", "cascade": "haarcascade_frontalface_default.xml",
                    "max_side": None, "scale_factor": 1.1, "min_neighbors": 5, "min_size": 50})
    return configs


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("cascade", "max_side", "scale_factor", "min_neighbors", "min_size")
    return all(a[k] == b[k] for k in keys)


def build_detector(cfg: dict[str, Any]):
    from emorec.face.detect import CASCADE_DIR, HaarDetector

    return HaarDetector(CASCADE_DIR / cfg["cascade"], max_side=cfg["max_side"],
                        scale_factor=cfg["scale_factor"], min_neighbors=cfg["min_neighbors"],
                        min_size=cfg["min_size"])


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


def score_scene(found: list[tuple], truth: list[tuple]) -> tuple[int, int]:
    """(faces found, false boxes): greedy one-to-one matching by IoU."""
    unmatched = list(found)
    hits = 0
    for t in truth:
        best = max(unmatched, key=lambda b: iou(b, t), default=None)
        if best is not None and iou(best, t) >= IOU_MATCH:
            hits += 1
            unmatched.remove(best)
    return hits, len(unmatched)


# ------------------------------------------------------------------ measurement


def recall(cfg: dict[str, Any], scenes, photos: list[np.ndarray]) -> dict[str, Any]:
    det = build_detector(cfg)
    hits = false = 0
    for img, truth in scenes:
        h, f = score_scene(det.detect(img), truth)
        hits += h
        false += f
    n_faces = sum(len(t) for _, t in scenes)
    found_in_photos = [len(det.detect(p)) for p in photos]
    return {
        **cfg,
        "recall": round(hits / n_faces, 4),
        "faces": n_faces,
        "false_boxes_per_scene": round(false / len(scenes), 4),
        "photos_with_one_face": sum(n == 1 for n in found_in_photos),
        "photos": len(photos),
    }


def timings(configs: list[dict[str, Any]], photos: list[np.ndarray], rounds: int) -> list[dict[str, float]]:
    """Per-photo wall and CPU (thread) milliseconds, the configurations taking turns round by round
    so that other load on the machine slows them all alike."""
    detectors = [build_detector(cfg) for cfg in configs]
    for det in detectors:  # warm-up
        for photo in photos[:3]:
            det.detect(photo)
    wall: list[list[float]] = [[] for _ in configs]
    cpu: list[list[float]] = [[] for _ in configs]
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
    args = p.parse_args()
    import cv2

    import serve_load

    cv2.setNumThreads(1)
    paths, _ = common.fer2013_private_test(args.data, quick=args.quick)
    faces = [img for img in (cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) for path in paths) if img is not None]
    n_scenes = args.scenes or (150 if args.quick else 1000)
    scenes = make_scenes(faces, n_scenes)
    photos = [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_GRAYSCALE) for b in serve_load.face_photos()]
    load_before = common.machine()["load_average_1min"]
    configs = configurations()
    rows = [recall(cfg, scenes, photos) for cfg in configs]
    for row, timing in zip(rows, timings(configs, photos, rounds=3 if args.quick else 10)):
        row.update(timing)
    for row in rows:
        print(f"{row['name']:<45} recall {row['recall']:.3f}  false/scene {row['false_boxes_per_scene']:.3f}  "
              f"{row['photo_ms_median']:6.2f} ms (cpu {row['photo_cpu_ms_median']:6.2f})  ({row['photos_with_one_face']}/{row['photos']} photos: one face)")
    figures = {
        "kind": "detector",
        "scenes": n_scenes,
        "faces": sum(len(t) for _, t in scenes),
        "face_source": "FER2013 PrivateTest crops" + (" (every 6th per class)" if args.quick else ""),
        "face_sides_px": list(FACE_SIDES),
        "iou_match": IOU_MATCH,
        "timing": "single thread, median per 640x480 photo over the serve load test's photos "
                  "(wall and thread CPU time; configurations interleaved)",
        "configurations": rows,
        "load_average_1min_before": load_before,
    }
    path = common.write_result(NAME, figures, quick=args.quick)
    print(f"wrote {path}")


if __name__ == "__main__":
    common.run_main(main)
