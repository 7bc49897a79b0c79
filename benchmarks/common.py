"""Shared helpers for the benchmark scripts in this folder.

Every benchmark writes ``benchmarks/results/<name>.json`` through
:func:`write_result`, which adds the machine description, versions (with the
git commit), the command that reproduces the numbers, a UTC timestamp and the
mode (quick or full) around the benchmark's own ``figures``. Timing helpers
take medians after a warm-up; latency helpers report p50/p95.

Conventions read by ``scripts/update_readme.py`` (see benchmarks/README.md):
accuracy benchmarks put ``task`` ("face"/"voice"), ``dataset``, ``protocol``,
``n`` and ``accuracy``/``balanced_accuracy``/``macro_f1`` as
``{"value", "low", "high"}`` (see :func:`accuracy_figures`) into ``figures``.

Run from the repository root, e.g. ``python benchmarks/accuracy_face.py --quick``.
The results folder can be redirected with ``EMOREC_BENCH_RESULTS`` (tests do).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
SCHEMA_VERSION = 1
EXIT_MISSING = 3  # a prerequisite (model, data, network) is missing: run_all records "missing"


class MissingPrerequisite(Exception):
    """A benchmark cannot run here (no shipped model, no data, no network)."""


def results_dir() -> Path:
    return Path(os.environ.get("EMOREC_BENCH_RESULTS", BENCH_DIR / "results"))


# ---------------------------------------------------------------------------
# machine, versions, command


def machine() -> dict[str, Any]:
    """CPU model, logical/physical cores, RAM and OS of this machine."""
    cpu = platform.processor() or platform.machine()
    physical: int | None = None
    try:
        text = Path("/proc/cpuinfo").read_text()
        names = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")]
        if names:
            cpu = names[0]
        cores = {line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("core id")}
        packages = {line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("physical id")}
        if cores:
            physical = len(cores) * max(1, len(packages))
    except OSError:
        pass
    ram_bytes: int | None = None
    try:
        ram_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "physical_cores": physical,
        "usable_cores": usable,
        "ram_gb": round(ram_bytes / 2**30, 1) if ram_bytes else None,
        "os": platform.platform(),
        "arch": platform.machine(),
        # Other work on the machine skews timings; the 1-minute load shows whether it was idle.
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def _dist_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> dict[str, Any]:
    """HEAD commit of the checkout and whether tracked files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": head or None, "dirty": bool(dirty) if head else None}


def versions(extra: Sequence[str] = ()) -> dict[str, Any]:
    """Python, numpy, onnxruntime, torch (if installed; not imported), emorec and the git commit."""
    out: dict[str, Any] = {"python": platform.python_version()}
    for name in ("numpy", "onnxruntime", "torch", "opencv-python-headless", *extra):
        out[name] = _dist_version(name)
    try:
        import emorec

        out["emorec"] = emorec.__version__
    except ImportError:
        out["emorec"] = _dist_version("emorec")
    out.update(git_commit())
    return out


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command that reproduces this run, relative to the repository root."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0])
    try:
        script = script.resolve().relative_to(REPO_ROOT)
    except ValueError:
        pass
    return shlex.join(["python", str(script), *argv[1:]])


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


# ---------------------------------------------------------------------------
# results


def _clean(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN/inf to None, paths to str."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, Path):
        return str(value)
    return value


def build_result(
    name: str,
    figures: Mapping[str, Any],
    *,
    quick: bool | None = None,
    command: str | None = None,
    title: str = "",
    notes: Sequence[str] = (),
    status: str = "ok",
    extra_versions: Sequence[str] = (),
) -> dict[str, Any]:
    """The standard result document (what :func:`write_result` saves).

    ``quick`` defaults to whether ``--quick`` is on this process's command line.
    """
    if quick is None:
        quick = "--quick" in sys.argv[1:]
    return _clean({
        "schema": SCHEMA_VERSION,
        "name": name,
        "title": title or name,
        "status": status,
        "mode": "quick" if quick else "full",
        "command": command or command_line(),
        "timestamp": now_utc(),
        "machine": machine(),
        "versions": versions(extra_versions),
        "figures": dict(figures),
        "notes": list(notes),
    })


def write_result(name: str, figures: Mapping[str, Any], **kwargs: Any) -> Path:
    """Write ``<results>/<name>.json`` atomically and return its path.

    >>> write_result("demo", {"crops_per_s": 3100.0}, quick=True)  # doctest: +SKIP
    PosixPath('benchmarks/results/demo.json')
    """
    doc = build_result(name, figures, **kwargs)
    out_dir = results_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=False, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


REQUIRED_KEYS = ("schema", "name", "status", "mode", "command", "timestamp", "machine", "versions", "figures")


def validate_result(doc: Mapping[str, Any]) -> list[str]:
    """Problems with a result document (empty list when it has every expected field)."""
    problems = [f"missing key {k!r}" for k in REQUIRED_KEYS if k not in doc]
    for k in ("cpu", "logical_cores", "ram_gb", "os"):
        if k not in doc.get("machine", {}):
            problems.append(f"machine lacks {k!r}")
    for k in ("python", "numpy", "onnxruntime", "emorec", "commit"):
        if k not in doc.get("versions", {}):
            problems.append(f"versions lacks {k!r}")
    if not isinstance(doc.get("figures"), Mapping):
        problems.append("figures is not an object")
    return problems


# ---------------------------------------------------------------------------
# timing and memory


def summarize(samples_s: Sequence[float]) -> dict[str, Any]:
    """Median, p50, p95, mean, min and max of timings in seconds, reported in milliseconds."""
    arr = np.asarray(samples_s, dtype=np.float64) * 1000.0
    if arr.size == 0:
        return {"n": 0, "median_ms": None, "p50_ms": None, "p95_ms": None, "mean_ms": None,
                "min_ms": None, "max_ms": None}
    return {
        "n": int(arr.size),
        "median_ms": float(np.median(arr)),
        "p50_ms": float(np.percentile(arr, 50)),
        "p95_ms": float(np.percentile(arr, 95)),
        "mean_ms": float(arr.mean()),
        "min_ms": float(arr.min()),
        "max_ms": float(arr.max()),
    }


def time_calls(fn: Callable[[], Any], repeats: int, warmup: int = 3) -> dict[str, Any]:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times timed; returns :func:`summarize`."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    out = summarize(samples)
    out["warmup"] = int(warmup)
    return out


def throughput(fn: Callable[[], Any], items_per_call: int, repeats: int, warmup: int = 2) -> dict[str, Any]:
    """Items per second from the median call time after a warm-up."""
    stats = time_calls(fn, repeats=repeats, warmup=warmup)
    median_s = stats["median_ms"] / 1000.0 if stats["median_ms"] else None
    return {
        "items_per_s": items_per_call / median_s if median_s else None,
        "items_per_call": int(items_per_call),
        "call": stats,
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / 2**20


def _vm_hwm_mb(pid: int) -> float | None:
    return process_tree_mb(pid, "VmHWM", children=False)


def process_tree_mb(pid: int, field: str = "VmRSS", *, children: bool = True) -> float | None:
    """``field`` of /proc/PID/status (VmRSS now, VmHWM peak) summed over ``pid`` and its children, in MiB.

    Children are the server's uvicorn workers; None when nothing could be read (process gone, not Linux).
    """
    pids = [pid]
    if children:
        try:
            pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            pass
    total, found = 0.0, False
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1]) / 1024.0
                    found = True
        except (OSError, ValueError, IndexError):
            continue
    return total if found else None


def run_measured(cmd: Sequence[str], *, timeout: float = 600, env: Mapping[str, str] | None = None,
                 cwd: str | Path | None = None, sample_rss: bool = True) -> dict[str, Any]:
    """Run a subprocess; return wall seconds, exit code, peak RSS (MiB) and the output tail.

    Peak RSS is the child's own high-water mark (``VmHWM``, sampled every few ms
    while it runs). ``wait4``'s ru_maxrss is only a fallback: on Linux it
    starts from the parent's RSS at fork, which inflates small children.
    Sampling costs a few ms of CPU; pass ``sample_rss=False`` for pure timings.
    """
    import tempfile
    import threading

    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT,
                                env=dict(env) if env is not None else None, cwd=cwd)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        hwm: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                value = _vm_hwm_mb(proc.pid)
                if value is not None:
                    hwm.append(value)
                done.wait(0.002)

        sampler = threading.Thread(target=sample, daemon=True)
        if sample_rss:
            sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)  # blocking: exact wall time
        finally:
            timer.cancel()
            done.set()
        seconds = time.perf_counter() - start
        if sample_rss:
            sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        tail = out.read()[-4000:].decode("utf-8", errors="replace")
    return {
        "seconds": seconds,
        "returncode": proc.returncode,
        "peak_rss_mb": max(hwm) if hwm else usage.ru_maxrss / 1024.0,
        "peak_rss_method": "VmHWM sampled" if hwm else "wait4 ru_maxrss (upper bound)",
        "output_tail": tail,
        "timed_out": seconds >= timeout,
    }


def file_size_mb(path: str | Path) -> float | None:
    p = Path(path)
    return p.stat().st_size / 2**20 if p.is_file() else None


def history_epoch_seconds(run_dir: str | Path) -> dict[str, Any] | None:
    """Median seconds per training epoch from a run directory's history.jsonl (folds included)."""
    run_dir = Path(run_dir)
    files = [run_dir / "history.jsonl", *sorted(run_dir.glob("fold_*/history.jsonl"))]
    seconds = []
    for f in files:
        if f.is_file():
            for line in f.read_text().splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict) and isinstance(row.get("seconds"), (int, float)):
                    seconds.append(float(row["seconds"]))
    if not seconds:
        return None
    return {"epochs": len(seconds), "median_s_per_epoch": float(np.median(seconds)),
            "total_s": float(np.sum(seconds))}


# ---------------------------------------------------------------------------
# accuracy helpers


def accuracy_figures(
    metrics: Mapping[str, Any],
    ci: Mapping[str, Any] | None = None,
    *,
    task: str,
    dataset: str,
    protocol: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Standard ``figures`` for an accuracy benchmark (what the README tables read).

    ``metrics`` is a ``classification_metrics`` dict; ``ci`` a ``bootstrap_ci`` result.
    """
    out: dict[str, Any] = {"task": task, "dataset": dataset, "protocol": protocol, "n": metrics.get("n")}
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        c = (ci or {}).get(key) or {}
        out[key] = {"value": metrics.get(key), "low": c.get("low"), "high": c.get("high")}
    if ci:
        out["ci"] = {k: ci.get(k) for k in ("n_resamples", "confidence", "seed", "unit", "n_units")}
    out["labels"] = list(metrics.get("labels", []))
    out["per_class"] = metrics.get("per_class")
    out["confusion_matrix"] = metrics.get("confusion_matrix")
    if extra:
        out.update(extra)
    return out


def headline(label: str, value: Any, unit: str = "") -> dict[str, Any]:
    """One README row; put a list of these in ``figures["headline"]`` to choose what the speed table shows."""
    return {"label": label, "value": value, "unit": unit}


def fer2013_private_test(data: str | None = None, quick: bool = False, quick_every: int = 6
                         ) -> tuple[list[Path], list[str]]:
    """Paths and canonical labels of FER2013 PrivateTest (3,589 images), sorted.

    Quick mode keeps every ``quick_every``-th image of each class (about 600),
    deterministic and stratified.
    """
    from emorec.labels import canonical
    from emorec.paths import dataset_dir

    try:
        root = dataset_dir("fer2013", data) / "test"
    except Exception as exc:  # DatasetError: no EMOREC_DATA or folder
        raise MissingPrerequisite(str(exc)) from None
    paths: list[Path] = []
    labels: list[str] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(folder.glob("PrivateTest_*"))
        if quick:
            files = files[::quick_every]
        paths += files
        labels += [canonical(folder.name)] * len(files)
    if not paths:
        raise MissingPrerequisite(f"no PrivateTest_* images under {root}")
    return paths, labels


def parser(description: str) -> argparse.ArgumentParser:
    """Argument parser with the options every benchmark accepts (--quick, --data)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="fast mode for day-to-day use (fewer items/repeats)")
    p.add_argument("--data", default=None, help="data root (default: $EMOREC_DATA)")
    return p


def run_main(main: Callable[[], Any]) -> None:
    """Run a benchmark's main and exit with the code it returns (None = 0); a missing prerequisite
    exits with EXIT_MISSING and one line."""
    try:
        code = main()
    except MissingPrerequisite as exc:
        print(f"missing: {exc}", file=sys.stderr)
        sys.exit(EXIT_MISSING)
    if code:
        sys.exit(code)


def kfold_run_figures(run_dir: str | Path, *, task: str, dataset: str, protocol: str,
                      trained_by: str) -> dict[str, Any]:
    """Figures for a k-fold run directory: pooled metrics, bootstrap CIs by group, fold spread."""
    import json as _json

    from emorec.evaluation.bootstrap import bootstrap_ci

    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        raise MissingPrerequisite(f"{metrics_path} not found: train it first ({trained_by})")
    metrics = _json.loads(metrics_path.read_text())
    pooled = metrics["pooled"]
    preds = np.load(run_dir / "predictions.npz")
    ci = bootstrap_ci(preds["y_true"], preds["probs"].argmax(1), pooled["labels"], groups=preds["groups"])
    config = (run_dir / "config.yaml").read_text() if (run_dir / "config.yaml").is_file() else ""
    shown = str(run_dir.relative_to(REPO_ROOT)) if run_dir.resolve().is_relative_to(REPO_ROOT) else str(run_dir)
    return accuracy_figures(pooled, ci, task=task, dataset=dataset, protocol=protocol, extra={
        "across_folds": metrics.get("across_folds"),
        "fold_accuracy": [f.get("accuracy") for f in metrics.get("folds", [])],
        "run_dir": shown,
        "trained_by": trained_by,
        "run_config": config,
    })
