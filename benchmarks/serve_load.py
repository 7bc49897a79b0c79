"""Load test of ``emorec serve``: a fixed number of requests from concurrent clients on localhost.

Starts ``emorec serve`` on a free port (or uses ``--url``), sends face requests
(640x480 JPEG photos with a face) and then voice requests (4-second clips) from
``--clients`` threads with keep-alive connections, stops by itself, and writes
``benchmarks/results/serve_load.json``: throughput, p50/p95 latency, failures,
and the server's resident memory sampled during the run (flat or not).
Any failed request makes the run fail (exit code 1).

    python benchmarks/serve_load.py --quick      # 1,000 face + 150 voice requests
    python benchmarks/serve_load.py              # 10,000 face + 2,000 voice requests

Targets (2-core CPU, 8 clients): >= 50 face req/s with p95 <= 150 ms,
>= 20 voice req/s, memory flat over 10,000 requests.
"""
from __future__ import annotations

import http.client
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

if __package__:  # `python -m benchmarks.NAME`, or imported as a module of the benchmarks package
    from benchmarks import common
else:  # `python benchmarks/NAME.py`: this folder is already sys.path[0]
    import common

NAME = "serve_load"
EXAMPLE_PHOTO = common.REPO_ROOT / "examples" / "astronaut.jpg"
FULL = {"face": 10_000, "voice": 2_000}
QUICK = {"face": 1000, "voice": 150}
WARMUP = 16  # requests per task before measuring (model and allocator warm-up)
TARGETS = {"face_rps": 50.0, "face_p95_ms": 150.0, "voice_rps": 20.0, "memory_growth_mb": 25.0}


# ---------------------------------------------------------------- payloads


def face_photos(n: int = 12, width: int = 640, height: int = 480, seed: int = 0) -> list[bytes]:
    """640x480 JPEG photos cut from the example photo (a real face) at varied zoom, framing,
    brightness and mirroring, so every request holds one face in a real scene."""
    import cv2

    photo = cv2.imread(str(EXAMPLE_PHOTO), cv2.IMREAD_COLOR)
    if photo is None:
        raise common.MissingPrerequisite(f"{EXAMPLE_PHOTO} missing: run python examples/make_examples.py")
    rng = np.random.default_rng(seed)
    photos = []
    for i in range(n):
        side = int(rng.integers(width, int(width * 1.35)))
        img = cv2.resize(photo, (side, side), interpolation=cv2.INTER_CUBIC)
        x0 = int(rng.integers(0, side - width + 1))
        y0 = int(rng.integers(0, min(side - height, side // 8) + 1))  # keep the face in the frame
        img = img[y0 : y0 + height, x0 : x0 + width]
        if i % 2:
            img = img[:, ::-1]
        gain = float(rng.uniform(0.85, 1.15))
        img = np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        photos.append(buf.tobytes())
    return photos


def voice_clips(n: int = 12, seconds: float = 4.0, data: str | None = None, seed: int = 0) -> tuple[list[bytes], str]:
    """4-second 16 kHz WAV clips: RAVDESS speech when $EMOREC_DATA has it, else synthetic voiced audio."""
    import soundfile as sf

    sr = 16000
    length = int(seconds * sr)
    clips: list[np.ndarray] = []
    source = "synthetic formant-like speech"
    try:
        from emorec.paths import dataset_dir

        files = sorted(dataset_dir("ravdess", data).glob("*.flac"))[:: 37][:n]
    except Exception:  # no data folder: synthetic audio keeps the benchmark runnable
        files = []
    for path in files:
        x, rate = sf.read(str(path), dtype="float32", always_2d=True)
        x = x.mean(axis=1)
        if rate != sr:
            import soxr

            x = soxr.resample(x, rate, sr)
        clips.append(np.pad(x[:length], (0, max(0, length - len(x)))))
    if len(clips) == n:
        source = f"RAVDESS speech ({n} files), cropped/padded to {seconds:g} s"
    else:
        clips = [_synthetic_speech(seconds, sr, seed + i) for i in range(n)]
    out = []
    for x in clips:
        buf = io.BytesIO()
        sf.write(buf, x, sr, format="WAV", subtype="PCM_16")
        out.append(buf.getvalue())
    return out, source


def _synthetic_speech(seconds: float, sr: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = rng.uniform(110, 220) + 25 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(2.5, 4.5) * t) ** 2
    x = 0.25 * voiced * envelope + 0.01 * rng.normal(size=t.size)
    return (x / np.abs(x).max() * 0.6).astype(np.float32)


def multipart(filename: str, data: bytes, content_type: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# ---------------------------------------------------------------- server


from emorec.testing import free_port  # noqa: E402  (re-exported: serve_slow / serve_bomb use serve_load.free_port)


@dataclass
class Server:
    url: str
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    command: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def log_tail(self, lines: int = 15) -> str:
        if self.log_path is None or not self.log_path.is_file():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def packaged_model_exists(task: str) -> bool:
    from emorec.paths import PACKAGE_MODELS

    return (PACKAGE_MODELS / f"{task}.onnx").is_file()


def start_server(tasks: list[str], face_model: str | None, voice_model: str | None, threads: int | None,
                 workers: int, queue: int, ready_timeout: float = 120.0,
                 env: dict[str, str] | None = None) -> Server:
    """``emorec serve`` on a free port; ``env`` adds variables (e.g. EMOREC_SERVE_* settings)."""
    port = free_port()
    cmd = [sys.executable, "-m", "emorec.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--queue", str(queue), "--log-level", "warning"]
    for task in tasks:
        cmd += ["--task", task]
    if threads:
        cmd += ["--threads", str(threads)]
    if face_model:
        cmd += ["--face-model", str(face_model)]
    if voice_model:
        cmd += ["--voice-model", str(voice_model)]
    log_path = Path(tempfile.mkstemp(prefix="emorec-serve-", suffix=".log")[1])
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=common.REPO_ROOT,
                                env={**os.environ, **(env or {})})
    server = Server(f"http://127.0.0.1:{port}", proc, log_path, cmd)
    deadline = time.monotonic() + ready_timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"emorec serve exited ({proc.returncode}):\n{server.log_tail()}")
        status, body = _get(server.url, "/readyz")
        if status == 200:
            return server
        if status == 503 and b"failed" in body:
            server.stop()
            raise RuntimeError(f"emorec serve could not load its models: {body.decode(errors='replace')}")
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"emorec serve not ready after {ready_timeout:.0f} s:\n{server.log_tail()}")
        time.sleep(0.2)


def _get(url: str, path: str) -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").split(":")
    try:
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        return resp.status, body
    except OSError:
        return 0, b""


def process_tree_rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` plus its children (uvicorn workers), in MiB."""
    return common.process_tree_mb(pid, "VmRSS")


def process_tree_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds used so far by ``pid`` and its children (uvicorn workers)."""
    if pid is None:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    total = 0.0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return total


class RssSampler(threading.Thread):
    def __init__(self, pid: int, counter: Any, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.counter, self.every = pid, counter, every
        self.samples: list[dict[str, Any]] = []
        self.phase = "start"
        self._halt = threading.Event()
        self._t0 = time.perf_counter()

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.every)

    def sample(self) -> None:
        rss = process_tree_rss_mb(self.pid)
        if rss is not None:
            self.samples.append({"t": round(time.perf_counter() - self._t0, 2), "phase": self.phase,
                                 "requests": self.counter(), "rss_mb": round(rss, 1)})

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.sample()


# ---------------------------------------------------------------- clients


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    faces_found: int = 0
    labelled: int = 0
    seconds: float = 0.0


def run_phase(url: str, endpoint: str, bodies: list[tuple[bytes, str]], n_requests: int, clients: int,
              progress: list[int]) -> Outcome:
    """Send ``n_requests`` POSTs from ``clients`` threads; each thread keeps one connection alive."""
    host, port = url.removeprefix("http://").split(":")
    next_index = iter(range(n_requests))
    lock = threading.Lock()
    outcome = Outcome()

    def worker() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                break
            body, ctype = bodies[i % len(bodies)]
            start = time.perf_counter()
            try:
                conn.request("POST", endpoint, body=body, headers={"Content-Type": ctype})
                resp = conn.getresponse()
                payload = resp.read()
                elapsed = time.perf_counter() - start
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}: {payload[:200].decode(errors='replace')}")
                doc = json.loads(payload)
            except Exception as exc:  # every kind of failure is counted, never hidden
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
                with lock:
                    outcome.failures.append(f"request {i}: {type(exc).__name__}: {exc}"[:300])
                    progress[0] += 1
                continue
            with lock:
                outcome.latencies.append(elapsed)
                outcome.faces_found += int(bool(doc.get("faces")))
                outcome.labelled += int(bool(doc.get("label")))
                progress[0] += 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcome.seconds = time.perf_counter() - start
    return outcome


def phase_figures(outcome: Outcome, n_requests: int, task: str) -> dict[str, Any]:
    ok = len(outcome.latencies)
    fig: dict[str, Any] = {
        "requests": n_requests,
        "succeeded": ok,
        "failed": len(outcome.failures),
        "failures": outcome.failures[:10],
        "seconds": round(outcome.seconds, 3),
        "throughput_rps": n_requests / outcome.seconds if outcome.seconds else None,
        "latency": common.summarize(outcome.latencies),
    }
    if task == "face":
        fig["responses_with_a_face"] = outcome.faces_found
    else:
        fig["responses_with_a_label"] = outcome.labelled
    return fig


def memory_figures(samples: list[dict[str, Any]], phase: str) -> dict[str, Any]:
    """RSS at the start vs the end of a phase (medians of its first/last 10% of samples)."""
    rows = [s for s in samples if s["phase"] == phase]
    if len(rows) < 4:
        return {"samples": len(rows), "flat": None}
    k = max(2, len(rows) // 10)
    first = float(np.median([r["rss_mb"] for r in rows[:k]]))
    last = float(np.median([r["rss_mb"] for r in rows[-k:]]))
    req = np.array([r["requests"] for r in rows], dtype=np.float64)
    rss = np.array([r["rss_mb"] for r in rows], dtype=np.float64)
    slope = float(np.polyfit(req, rss, 1)[0] * 1000) if np.ptp(req) > 0 else None
    growth = last - first
    return {"samples": len(rows), "start_mb": round(first, 1), "end_mb": round(last, 1),
            "peak_mb": round(float(rss.max()), 1), "growth_mb": round(growth, 1),
            "slope_mb_per_1000_requests": round(slope, 3) if slope is not None else None,
            "flat": bool(growth <= TARGETS["memory_growth_mb"])}


# ---------------------------------------------------------------- main


def run_load(*, tasks: list[str], counts: dict[str, int], clients: int, url: str | None = None,
             face_model: str | None = None, voice_model: str | None = None, threads: int | None = None,
             workers: int = 1, data: str | None = None, log=print) -> dict[str, Any]:
    """Run the load test and return the ``figures`` of the result document."""
    bodies: dict[str, list[tuple[bytes, str]]] = {}
    payloads: dict[str, Any] = {}
    if "face" in tasks:
        photos = face_photos()
        bodies["face"] = [multipart(f"photo{i}.jpg", p, "image/jpeg") for i, p in enumerate(photos)]
        payloads["face"] = {"kind": "640x480 JPEG photo with one face (crops of examples/astronaut.jpg)",
                            "variants": len(photos), "mean_kb": round(np.mean([len(p) for p in photos]) / 1024, 1)}
    if "voice" in tasks:
        clips, source = voice_clips(data=data)
        bodies["voice"] = [multipart(f"clip{i}.wav", c, "audio/wav") for i, c in enumerate(clips)]
        payloads["voice"] = {"kind": "4-second 16 kHz mono WAV", "source": source, "variants": len(clips),
                             "mean_kb": round(np.mean([len(c) for c in clips]) / 1024, 1)}

    queue = max(16, clients * 2)  # the load test measures speed, not the 503 path
    server = Server(url) if url else start_server(tasks, face_model, voice_model, threads, workers, queue)
    progress = [0]
    sampler = RssSampler(server.pid, lambda: progress[0]) if server.pid else None
    figures: dict[str, Any] = {"clients": clients, "payloads": payloads,
                               "load_average_before": [round(v, 2) for v in os.getloadavg()],
                               "server": {"url": server.url, "started_here": server.proc is not None,
                                          "command": " ".join(server.command[2:]) if server.command else None,
                                          "workers": workers, "threads": threads}}
    try:
        status, body = _get(server.url, "/v1/models")
        if status == 200:  # which models were measured: the numbers mean nothing without this
            figures["models"] = {m["task"]: {k: (m.get("card") or {}).get(k) for k in
                                             ("name", "architecture", "onnx_sha256", "notes")}
                                 for m in json.loads(body)["models"]}
        if sampler:
            sampler.start()
        for task in tasks:
            endpoint = f"/v1/{task}"
            if sampler:
                sampler.phase = f"{task}-warmup"
            warm = run_phase(server.url, endpoint, bodies[task], WARMUP, clients, progress)
            if warm.failures:
                raise RuntimeError(f"{task} warm-up failed: {warm.failures[0]}\n{server.log_tail()}")
            if sampler:
                sampler.phase = task
                sampler.sample()
            log(f"[serve_load] {task}: {counts[task]} requests from {clients} clients ...")
            cpu_before = process_tree_cpu_s(server.pid)
            outcome = run_phase(server.url, endpoint, bodies[task], counts[task], clients, progress)
            cpu_after = process_tree_cpu_s(server.pid)
            if sampler:
                sampler.sample()
            figures[task] = phase_figures(outcome, counts[task], task)
            if cpu_before is not None and cpu_after is not None:
                # CPU per request is robust to other load on the machine, unlike throughput.
                figures[task]["server_cpu_ms_per_request"] = round((cpu_after - cpu_before) / counts[task] * 1000, 2)
            lat = figures[task]["latency"]
            log(f"[serve_load] {task}: {figures[task]['throughput_rps']:.1f} req/s, p50 {lat['p50_ms']:.1f} ms, "
                f"p95 {lat['p95_ms']:.1f} ms, {figures[task]['failed']} failed")
    finally:
        try:
            if sampler:
                sampler.stop()
        finally:
            server.stop()
    if sampler:
        figures["memory"] = {"method": "VmRSS of the server process tree, sampled every 0.5 s",
                             **{task: memory_figures(sampler.samples, task) for task in tasks},
                             "timeline": sampler.samples}
    figures["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    figures["failed_requests"] = sum(figures[t]["failed"] for t in tasks)
    figures["targets"] = targets(figures, tasks)
    figures["headline"] = headlines(figures, tasks)
    return figures


def headlines(figures: dict[str, Any], tasks: list[str]) -> list[dict[str, Any]]:
    """The rows the README's speed table shows for this benchmark."""
    rows = []
    for task in tasks:
        f = figures[task]
        what = "640x480 JPEG photos" if task == "face" else "4-second clips"
        rows.append(common.headline(f"{task}: {f['requests']:,} requests of {what}, {figures['clients']} clients",
                                    round(f["throughput_rps"], 1), "req/s"))
        rows.append(common.headline(f"{task}: latency p50", f["latency"]["p50_ms"], "ms"))
        rows.append(common.headline(f"{task}: latency p95", f["latency"]["p95_ms"], "ms"))
        rows.append(common.headline(f"{task}: failed requests", f["failed"]))
    mem = figures.get("memory") or {}
    for task in tasks:
        if isinstance(mem.get(task), dict) and mem[task].get("growth_mb") is not None:
            rows.append(common.headline(f"{task}: server memory growth over the run", mem[task]["growth_mb"], "MB"))
    return rows


def targets(figures: dict[str, Any], tasks: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "face" in tasks:
        rps = figures["face"]["throughput_rps"]
        p95 = figures["face"]["latency"]["p95_ms"]
        out["face_rps"] = {"value": rps, "target": f">= {TARGETS['face_rps']:g}", "met": rps >= TARGETS["face_rps"]}
        out["face_p95_ms"] = {"value": p95, "target": f"<= {TARGETS['face_p95_ms']:g}",
                              "met": p95 is not None and p95 <= TARGETS["face_p95_ms"]}
    if "voice" in tasks:
        rps = figures["voice"]["throughput_rps"]
        out["voice_rps"] = {"value": rps, "target": f">= {TARGETS['voice_rps']:g}",
                            "met": rps >= TARGETS["voice_rps"]}
    memory = figures.get("memory", {})
    main_task = "face" if "face" in tasks else tasks[0]
    # Judged only over a long run: a few hundred requests cannot show a slow leak.
    if memory.get(main_task, {}).get("flat") is not None and figures[main_task]["requests"] >= 1000:
        m = memory[main_task]
        out["memory_flat"] = {"value": m["growth_mb"], "requests": figures[main_task]["requests"],
                              "target": f"growth <= {TARGETS['memory_growth_mb']:g} MB", "met": m["flat"]}
    return out


def main(argv: list[str] | None = None) -> int:
    p = common.parser("Load test of emorec serve on localhost.")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    p.add_argument("--tasks", default="face,voice", help="comma-separated: face, voice")
    p.add_argument("--face-requests", type=int, default=None, help="default 10000 (1000 with --quick)")
    p.add_argument("--voice-requests", type=int, default=None, help="default 2000 (150 with --quick)")
    p.add_argument("--face-model", default=None, help="face .onnx (default: the packaged model)")
    p.add_argument("--voice-model", default=None, help="voice .onnx (default: the packaged model)")
    p.add_argument("--threads", type=int, default=None, help="server inference threads (default: its own)")
    p.add_argument("--workers", type=int, default=1, help="server worker processes")
    p.add_argument("--url", default=None, help="test an already running server instead of starting one")
    args = p.parse_args(argv)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks or set(tasks) - {"face", "voice"}:
        p.error("--tasks must list face and/or voice")
    notes = ["Client and server share this machine's cores; the clients' own CPU use is included.",
             "Each client keeps one HTTP/1.1 keep-alive connection and sends multipart uploads.",
             "server_cpu_ms_per_request is robust to other load on the machine; throughput is not "
             "(see load_average_before)."]
    missing = [t for t in tasks if getattr(args, f"{t}_model") is None and not packaged_model_exists(t)]
    if missing and not args.url:
        tasks = [t for t in tasks if t not in missing]
        if not tasks:
            raise common.MissingPrerequisite(f"no packaged {' or '.join(missing)} model: pass --face-model/--voice-model")
        notes.append(f"not measured: {', '.join(missing)} (no packaged model)")
        print(f"[serve_load] no packaged {', '.join(missing)} model: measuring {', '.join(tasks)} only",
              file=sys.stderr)
    base = QUICK if args.quick else FULL
    counts = {"face": args.face_requests or base["face"], "voice": args.voice_requests or base["voice"]}
    figures = run_load(tasks=tasks, counts=counts, clients=args.clients, url=args.url,
                       face_model=args.face_model, voice_model=args.voice_model, threads=args.threads,
                       workers=args.workers, data=args.data)
    status = "ok" if figures["failed_requests"] == 0 else "failed"
    path = common.write_result(NAME, figures, quick=args.quick, title="emorec serve under load",
                               notes=notes, status=status, extra_versions=("fastapi", "uvicorn"))
    print(f"[serve_load] wrote {path}")
    for name, t in figures["targets"].items():
        print(f"[serve_load] target {name}: {t['value']} ({t['target']}) -> {'met' if t['met'] else 'NOT met'}")
    if figures["failed_requests"]:
        print(f"[serve_load] FAILED: {figures['failed_requests']} requests failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    common.run_main(main)
