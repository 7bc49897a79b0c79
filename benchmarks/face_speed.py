"""Face inference speed and memory: writes benchmarks/results/face_speed.json.

Measures, on this machine:
  * face crops classified per second in batches (default batch 256), and
    single-crop latency p50/p95;
  * one 640x480 photo end to end: JPEG bytes -> decode -> detect -> classify
    (median/p95 ms, with a per-stage breakdown);
  * `emorec face predict one.jpg` wall time from a cold process (median of runs);
  * peak resident memory of an inference process (`emorec face predict` on a
    photo and the example video);
  * the model file's size.
Targets (issue 2): >= 3000 crops/s, <= 25 ms per photo, <= 2 s cold start, <= 500 MB.

Uses the packaged model (src/emorec/models/face.onnx) when present, else a
tiny synthetic linear model (said so in the JSON: its crop speed says
nothing about the real network). Other processes on the machine slow every
number down: the JSON records the load average before and after.

Usage:
    python benchmarks/face_speed.py            # full run, about a minute
    python benchmarks/face_speed.py --quick    # a few seconds
    python benchmarks/face_speed.py --model path/to/face.onnx --threads 2
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "face_speed.json"
EXAMPLE_PHOTO = REPO / "examples" / "astronaut.jpg"
EXAMPLE_VIDEO = REPO / "examples" / "astronaut_pan.mp4"
TARGETS = {"crops_per_second": 3000, "photo_median_ms": 25.0, "cold_start_s": 2.0, "peak_rss_mb": 500.0}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def timed(fn, repeats: int) -> list[float]:
    """Seconds per call, after one warm-up call."""
    fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    import cv2
    import onnxruntime

    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
    }


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def resolve_model(explicit: Path | None, workdir: Path) -> tuple[Path, str]:
    """(model path, source): the --model given, the packaged model, or a synthetic stand-in."""
    if explicit is not None:
        return explicit, "given"
    from emorec.errors import ModelError
    from emorec.runtime import packaged_model

    try:
        return packaged_model("face"), "packaged"
    except ModelError:
        spec = importlib.util.spec_from_file_location("face_synthetic", REPO / "tests" / "face" / "synthetic.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.make_face_model(workdir / "synthetic_face.onnx"), "synthetic"


def photo_640x480() -> bytes:
    """The example portrait on a 640x480 canvas (mirrored edges), as a quality-90 JPEG."""
    import cv2

    image = cv2.imread(str(EXAMPLE_PHOTO))
    square = cv2.resize(image, (480, 480), interpolation=cv2.INTER_AREA)
    canvas = cv2.copyMakeBorder(square, 0, 0, 80, 80, cv2.BORDER_REFLECT)
    assert canvas.shape == (480, 640, 3)
    ok, encoded = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return encoded.tobytes()


def bench_crops(rec, n_crops: int, batch_size: int, repeats: int, single_repeats: int) -> dict:
    rng = np.random.default_rng(0)
    h, w = rec.input_size
    crops = rng.integers(0, 256, (n_crops, h, w), dtype=np.uint8)
    batched = timed(lambda: rec.classify_crops(crops, batch_size=batch_size), repeats)
    one = crops[:1]
    single = timed(lambda: rec.classify_crops(one), single_repeats)
    best = min(batched)
    return {
        "batch_size": batch_size,
        "crops_per_call": n_crops,
        "crops_per_second": round(n_crops / statistics.median(batched), 1),
        "crops_per_second_best": round(n_crops / best, 1),
        "single_crop_ms_p50": round(percentile(single, 50) * 1000, 3),
        "single_crop_ms_p95": round(percentile(single, 95) * 1000, 3),
        "single_crops_per_second": round(1 / statistics.median(single), 1),
        "note": "classify_crops on uint8 crops: normalisation + ONNX Runtime, no detection",
    }


def bench_photo(rec, jpeg: bytes, repeats: int) -> dict:
    from emorec.face.imageio import decode_bytes

    faces = rec.predict(jpeg)
    cpu_start = time.process_time()
    total = timed(lambda: rec.predict(jpeg), repeats)
    cpu_ms = (time.process_time() - cpu_start) / (repeats + 1) * 1000  # all threads, warm-up call included
    gray = decode_bytes(jpeg, mode="gray")
    decode = timed(lambda: decode_bytes(jpeg, mode="gray"), repeats)
    detect = timed(lambda: rec.detector.detect(gray), repeats)
    found = rec.find_faces(gray)
    classify = timed(lambda: rec.classify_crops(found.crops), repeats)
    return {
        "image": "examples/astronaut.jpg on a 640x480 canvas, JPEG quality 90, %d bytes" % len(jpeg),
        "faces_found": len(faces),
        "median_ms": round(statistics.median(total) * 1000, 2),
        "p95_ms": round(percentile(total, 95) * 1000, 2),
        "best_ms": round(min(total) * 1000, 2),
        "cpu_ms_mean": round(cpu_ms, 2),
        "stages_median_ms": {
            "decode_gray": round(statistics.median(decode) * 1000, 2),
            "detect": round(statistics.median(detect) * 1000, 2),
            "classify": round(statistics.median(classify) * 1000, 3),
        },
        "detector": repr(rec.detector),
        "repeats": repeats,
    }


def emorec_command() -> list[str]:
    script = Path(sys.executable).with_name("emorec")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "emorec.cli"]


def bench_cold_start(jpeg: bytes, model_args: list[str], runs: int, workdir: Path) -> dict:
    one = workdir / "one.jpg"
    one.write_bytes(jpeg)
    cmd = [*emorec_command(), "face", "predict", str(one), *model_args]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"cold-start command failed ({proc.returncode}): {proc.stderr.strip()}")
    return {
        "command": " ".join(["emorec", "face", "predict", "one.jpg", *model_args]),
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
        "runs": runs,
        "output": proc.stdout.strip(),
        "note": "fresh process each run (Python start, imports, model load, decode, detect, classify); OS file cache warm",
    }


def bench_peak_rss(jpeg: bytes, model_args: list[str], workdir: Path) -> dict:
    photo = workdir / "rss.jpg"
    photo.write_bytes(jpeg)
    cmd = [*emorec_command(), "face", "predict", str(photo), str(EXAMPLE_VIDEO), "--every", "1", "--format", "json", *model_args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)  # rusage of exactly this child
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"peak-RSS command failed ({proc.returncode}): {stderr.strip()}")
    return {
        "command": " ".join(["emorec", "face", "predict", "one.jpg", "examples/astronaut_pan.mp4", "--every", "1", "--format", "json", *model_args]),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Face inference speed benchmark (writes JSON).")
    parser.add_argument("--quick", action="store_true", help="fewer repeats: a few seconds instead of about a minute")
    parser.add_argument("--model", type=Path, default=None, help="face .onnx with its .json card (default: packaged)")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: ONNX Runtime's choice)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON output (default: {RESULTS.relative_to(REPO)})")
    args = parser.parse_args(argv)

    from emorec.face.recognizer import FaceEmotionRecognizer

    quick = args.quick
    load_before = load_average()
    started = time.time()
    workdir = Path(tempfile.mkdtemp(prefix="emorec-face-bench-"))
    try:
        model_path, source = resolve_model(args.model, workdir)
        model_args = [] if source == "packaged" else ["--model", str(model_path)]
        rec = FaceEmotionRecognizer(model_path, threads=args.threads)
        jpeg = photo_640x480()
        crops = bench_crops(
            rec,
            n_crops=1024 if quick else 4096,
            batch_size=args.batch_size,
            repeats=3 if quick else 10,
            single_repeats=50 if quick else 300,
        )
        photo = bench_photo(rec, jpeg, repeats=15 if quick else 100)
        cold = bench_cold_start(jpeg, model_args, runs=2 if quick else 5, workdir=workdir)
        rss = bench_peak_rss(jpeg, model_args, workdir)
        model_bytes = model_path.stat().st_size
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    results = {
        "benchmark": "face_speed",
        "command": " ".join(["python", "benchmarks/face_speed.py", *(argv if argv is not None else sys.argv[1:])]),
        "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "quick": quick,
        "seconds": round(time.time() - started, 1),
        "machine": {**machine(), "load_average_before": load_before, "load_average_after": load_average()},
        "model": {
            "source": source,
            "path": str(model_path) if source != "synthetic" else "synthetic (tests/face/synthetic.py)",
            "name": rec.card.name,
            "architecture": rec.card.architecture,
            "file_bytes": model_bytes,
            "file_mb": round(model_bytes / 1e6, 3) if model_bytes else None,
            "note": (
                "SYNTHETIC stand-in (random linear layer): crop throughput is NOT that of the real network"
                if source == "synthetic"
                else ""
            ),
        },
        "threads": args.threads,
        "crops": crops,
        "photo_640x480": photo,
        "cold_start": cold,
        "memory": rss,
        "targets": TARGETS,
        "meets_targets": {
            "crops_per_second": crops["crops_per_second"] >= TARGETS["crops_per_second"],
            "photo_median_ms": photo["median_ms"] <= TARGETS["photo_median_ms"],
            "cold_start_s": cold["median_s"] <= TARGETS["cold_start_s"],
            "peak_rss_mb": rss["peak_rss_mb"] <= TARGETS["peak_rss_mb"],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"model {source} ({results['model']['file_mb']} MB) | "
        f"crops/s {crops['crops_per_second']:.0f} (batch {args.batch_size}), single p50 {crops['single_crop_ms_p50']} ms | "
        f"640x480 photo median {photo['median_ms']} ms p95 {photo['p95_ms']} ms "
        f"(decode {photo['stages_median_ms']['decode_gray']}, detect {photo['stages_median_ms']['detect']}, "
        f"classify {photo['stages_median_ms']['classify']}) | cold start {cold['median_s']} s | "
        f"peak RSS {rss['peak_rss_mb']} MB | load {load_before} -> {results['machine']['load_average_after']}"
    )
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
