"""Run every benchmark in this folder and write benchmarks/results/summary.json.

A benchmark is any ``benchmarks/*.py`` (other than this file, ``common.py`` and
``_private.py`` helpers) that defines ``main`` and accepts ``--quick``. Each
runs in its own process; a missing prerequisite (exit code 3), a failure, a
timeout or a script that wrote no result is recorded in the summary and the
suite carries on.

    python benchmarks/run_all.py --quick        # a few minutes, day-to-day
    python benchmarks/run_all.py                # full, for releases
    python benchmarks/run_all.py --only accuracy_face,fer_peer
"""
from __future__ import annotations

import ast
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

if __package__:  # `python -m benchmarks.NAME`, or imported as a module of the benchmarks package
    from benchmarks import common
else:  # `python benchmarks/NAME.py`: this folder is already sys.path[0]
    import common

SKIP_FILES = {"common.py", "run_all.py"}


def is_benchmark(path: Path) -> bool:
    """True when the file defines a top-level ``main`` and accepts ``--quick``."""
    if path.name in SKIP_FILES or path.name.startswith("_") or path.suffix != ".py":
        return False
    try:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
    except (OSError, SyntaxError, UnicodeDecodeError):
        return True  # broken benchmarks are run anyway so the failure is recorded
    has_main = any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body)
    accepts_quick = "--quick" in source or "common.parser(" in source or "parser(" in source
    return has_main and accepts_quick


def discover(folder: Path = common.BENCH_DIR) -> list[Path]:
    return sorted(p for p in folder.glob("*.py") if is_benchmark(p))


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS  # --bench-dir exists for tests


def _tail(text: str, lines: int = 6) -> str:
    kept = [line for line in text.replace("\r", "\n").strip().splitlines()
            if line.strip() and "it/s" not in line and "s/it" not in line]  # no progress bars
    return "\n".join(kept[-lines:])


def run_one(script: Path, quick: bool, timeout: float, results: Path) -> dict[str, Any]:
    """Run one benchmark script and classify the outcome."""
    before = {p: p.stat().st_mtime_ns for p in results.glob("*.json")}
    cmd = [sys.executable, str(script), *(["--quick"] if quick else [])]
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    outcome = common.run_measured(cmd, timeout=timeout, env=env, cwd=common.REPO_ROOT, sample_rss=False)
    written = sorted(
        p.name for p in results.glob("*.json")
        if p.name != "summary.json" and before.get(p) != p.stat().st_mtime_ns
    )
    problems: list[str] = []
    for name in written:
        try:
            problems += [f"{name}: {msg}" for msg in common.validate_result(json.loads((results / name).read_text()))]
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(f"{name}: unreadable ({exc})")
    rc = outcome["returncode"]
    if outcome["timed_out"]:
        status = "timeout"
    elif rc == common.EXIT_MISSING:
        status = "missing"
    elif rc != 0:
        status = "failed"
    elif not written:
        status = "no-result"
    elif problems:
        status = "invalid-result"
    else:
        status = "ok"
    return {
        "benchmark": script.stem,
        "script": str(script.relative_to(common.REPO_ROOT)) if script.is_relative_to(common.REPO_ROOT)
        else str(script),
        "command": common.command_line([str(script), *(["--quick"] if quick else [])]),
        "status": status,
        "returncode": rc,
        "seconds": round(outcome["seconds"], 2),
        "results": written,
        "problems": problems,
        "message": "" if status == "ok" else _tail(outcome["output_tail"]),
    }


def main(argv: list[str] | None = None) -> int:
    p = common.parser("Run every benchmark and write benchmarks/results/summary.json.")
    p.add_argument("--only", default="", help="comma-separated benchmark names to run (default: all)")
    p.add_argument("--skip", default="", help="comma-separated benchmark names to leave out")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds per benchmark (default: 300 quick, 3 hours full)")
    p.add_argument("--bench-dir", default=str(common.BENCH_DIR), help=argparse_hidden())
    args = p.parse_args(argv)
    bench_dir = Path(args.bench_dir)
    if args.data:
        os.environ["EMOREC_DATA"] = args.data
    timeout = args.timeout or (300.0 if args.quick else 3 * 3600.0)
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    skip = {n.strip() for n in args.skip.split(",") if n.strip()}
    found = discover(bench_dir)
    scripts = [s for s in found if (not only or s.stem in only) and s.stem not in skip]
    unknown = only - {s.stem for s in found}
    results = common.results_dir()
    results.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    for name in sorted(unknown):
        runs.append({"benchmark": name, "script": None, "command": None, "status": "missing", "returncode": None,
                     "seconds": 0.0, "results": [], "problems": [], "message": f"no benchmarks/{name}.py"})
    start = time.perf_counter()
    for script in scripts:
        print(f"[bench] {script.stem} ...", flush=True)
        record = run_one(script, args.quick, timeout, results)
        runs.append(record)
        line = f"[bench] {script.stem}: {record['status']} in {record['seconds']:.1f} s"
        if record["status"] != "ok" and record["message"]:
            line += " -- " + record["message"].splitlines()[-1]
        print(line, flush=True)
    counts: dict[str, int] = {}
    for r in runs:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    figures = {"total_seconds": round(time.perf_counter() - start, 2), "counts": counts, "benchmarks": runs}
    path = common.write_result("summary", figures, quick=args.quick, title="benchmark suite summary",
                               command=common.command_line([__file__, *(argv if argv is not None else sys.argv[1:])]))
    print(f"[bench] summary: {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))} -> {path}")
    return 0 if all(r["status"] == "ok" for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
