"""Slow clients against ``emorec serve``: do normal requests still get through?

Starts ``emorec serve`` on a free port, measures normal clients alone (``--clients``
threads with keep-alive connections sending 640x480 face photos and 4-second voice
clips, as benchmarks/serve_load.py does), then the same again while ``--slow``
attackers hold connections open sending one byte every ``--interval`` seconds
(half of them trickle the request body, half the request headers; each reconnects
as soon as the server drops it). Writes ``benchmarks/results/serve_slow.json``.

    python benchmarks/serve_slow.py --quick     # 200 face + 60 voice requests per run
    python benchmarks/serve_slow.py             # 1,000 face + 200 voice requests per run

Targets: no normal request fails while the slow clients run, and the normal
clients' p95 latency with 18 slow clients stays within 2x of the run without them.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections import Counter
from typing import Any

if __package__:  # `python -m benchmarks.NAME`, or imported as a module of the benchmarks package
    from benchmarks import common
    from benchmarks import serve_load
else:  # `python benchmarks/NAME.py`: this folder is already sys.path[0]
    import common
    import serve_load

NAME = "serve_slow"
FULL = {"face": 1000, "voice": 200}
QUICK = {"face": 200, "voice": 60}
P95_RATIO_TARGET = 2.0


class SlowClients:
    """``n`` connections that each send one byte every ``interval`` s, reconnecting when dropped."""

    def __init__(self, url: str, n: int, interval: float) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.address = (host, int(port))
        self.n, self.interval = n, interval
        self.outcomes: Counter[str] = Counter()
        self.held_seconds: list[float] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(n)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._halt.set()
        for t in self._threads:
            t.join(self.interval + 5)

    def _run(self, i: int) -> None:
        endpoint = "/v1/face" if i % 2 == 0 else "/v1/voice"
        trickle_body = (i // 2) % 2 == 0
        while not self._halt.is_set():
            outcome, held = self._one(endpoint, trickle_body)
            with self._lock:
                self.connections += 1
                self.outcomes[f"{'body' if trickle_body else 'headers'}: {outcome}"] += 1
                self.held_seconds.append(held)

    def _one(self, endpoint: str, trickle_body: bool) -> tuple[str, float]:
        start = time.perf_counter()
        try:
            sock = socket.create_connection(self.address, timeout=10)
        except OSError as exc:
            self._halt.wait(self.interval)
            return f"connect failed ({type(exc).__name__})", 0.0
        with sock:
            try:
                if trickle_body:
                    sock.sendall(
                        f"POST {endpoint} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/octet-stream"
                        f"\r\nContent-Length: 1000000\r\n\r\n".encode()
                    )
                else:
                    sock.sendall(f"POST {endpoint} HTTP/1.1\r\nHost: bench\r\nX-Slow: ".encode())
                while not self._halt.is_set():
                    ready, _, _ = select.select([sock], [], [], self.interval)
                    if ready:
                        data = sock.recv(4096)
                        status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "closed"
                        return f"HTTP {status}" if status != "closed" else "closed", time.perf_counter() - start
                    sock.sendall(b"\x00" if trickle_body else b"a")
            except OSError:
                return "closed", time.perf_counter() - start
        return "stopped", time.perf_counter() - start


def measure(
    url: str, bodies: dict[str, list[tuple[bytes, str]]], counts: dict[str, int], clients: int, pid: int | None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    progress = [0]
    for task, n in counts.items():
        cpu_before = serve_load.process_tree_cpu_s(pid)
        outcome = serve_load.run_phase(url, f"/v1/{task}", bodies[task], n, clients, progress)
        out[task] = serve_load.phase_figures(outcome, n, task)
        cpu_after = serve_load.process_tree_cpu_s(pid)
        if cpu_before is not None and cpu_after is not None:
            out[task]["server_cpu_ms_per_request"] = round((cpu_after - cpu_before) / n * 1000, 2)
    return out


def run_slow(
    *,
    counts: dict[str, int],
    clients: int,
    slow: int,
    interval: float,
    face_model: str | None = None,
    voice_model: str | None = None,
    threads: int | None = None,
    data: str | None = None,
    log=print,
) -> dict[str, Any]:
    photos = serve_load.face_photos()
    clips, source = serve_load.voice_clips(data=data)
    bodies = {
        "face": [serve_load.multipart(f"p{i}.jpg", p, "image/jpeg") for i, p in enumerate(photos)],
        "voice": [serve_load.multipart(f"c{i}.wav", c, "audio/wav") for i, c in enumerate(clips)],
    }
    server = serve_load.start_server(["face", "voice"], face_model, voice_model, threads, 1, max(16, clients * 2))
    figures: dict[str, Any] = {
        "kind": "speed",  # listed in the README's speed table
        "clients": clients,
        "slow_clients": slow,
        "slow_interval_s": interval,
        "voice_source": source,
        "server": {"command": " ".join(server.command[2:])},
    }
    try:
        for task in counts:  # warm-up: model sessions and allocators
            serve_load.run_phase(server.url, f"/v1/{task}", bodies[task], serve_load.WARMUP, clients, [0])
        log(f"[serve_slow] {clients} normal clients alone ...")
        figures["without_slow"] = measure(server.url, bodies, counts, clients, server.pid)
        attackers = SlowClients(server.url, slow, interval)
        attackers.start()
        time.sleep(max(2.0, interval * 1.5))  # let every slow connection get established
        _, body = serve_load._get(server.url, "/readyz")
        log(f"[serve_slow] {clients} normal clients with {slow} slow clients ...")
        try:
            figures["with_slow"] = measure(server.url, bodies, counts, clients, server.pid)
        finally:
            attackers.stop()
        held = sorted(attackers.held_seconds)
        figures["slow"] = {
            "connections": attackers.connections,
            "outcomes": dict(attackers.outcomes),
            "held_seconds": common.summarize(held) if held else None,
            "readyz_during_attack": body.decode(errors="replace")[:300],
        }
    finally:
        server.stop()
    figures["comparison"] = {}
    for task in counts:
        base = figures["without_slow"][task]["latency"]["p95_ms"]
        under = figures["with_slow"][task]["latency"]["p95_ms"]
        figures["comparison"][task] = {
            "p95_ms_without": base,
            "p95_ms_with": under,
            "ratio": round(under / base, 3) if base and under else None,
        }
    figures["failed_requests"] = sum(figures[run][t]["failed"] for run in ("without_slow", "with_slow") for t in counts)
    figures["targets"] = {
        "no_failures_with_slow_clients": {
            "value": sum(figures["with_slow"][t]["failed"] for t in counts),
            "target": "0",
            "met": all(figures["with_slow"][t]["failed"] == 0 for t in counts),
        },
        **{
            f"{t}_p95_ratio": {
                "value": figures["comparison"][t]["ratio"],
                "target": f"<= {P95_RATIO_TARGET:g}",
                "met": (figures["comparison"][t]["ratio"] or 99) <= P95_RATIO_TARGET,
            }
            for t in counts
        },
    }
    figures["headline"] = [
        common.headline(f"{t}: p95 with {slow} slow clients / without", figures["comparison"][t]["ratio"], "x")
        for t in counts
    ] + [
        common.headline(
            "requests failed with slow clients", figures["targets"]["no_failures_with_slow_clients"]["value"]
        )
    ]
    return figures


def main(argv: list[str] | None = None) -> int:
    p = common.parser("Normal clients' latency while slow clients hold connections to emorec serve.")
    p.add_argument("--clients", type=int, default=8, help="normal clients (default 8)")
    p.add_argument("--slow", type=int, default=18, help="slow clients (default 18)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between a slow client's bytes (default 2)")
    p.add_argument("--face-model", default=None)
    p.add_argument("--voice-model", default=None)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    for task in ("face", "voice"):
        if getattr(args, f"{task}_model") is None and not serve_load.packaged_model_exists(task):
            raise common.MissingPrerequisite(f"no packaged {task} model: pass --{task}-model")
    counts = dict(QUICK if args.quick else FULL)
    figures = run_slow(
        counts=counts,
        clients=args.clients,
        slow=args.slow,
        interval=args.interval,
        face_model=args.face_model,
        voice_model=args.voice_model,
        threads=args.threads,
        data=args.data,
    )
    met = all(t["met"] for t in figures["targets"].values())
    path = common.write_result(
        NAME,
        figures,
        quick=args.quick,
        title="emorec serve with slow clients",
        notes=[
            "Clients, attackers and server share this machine's cores.",
            "Slow clients: even ones trickle the body, odd ones the headers.",
        ],
        status="ok" if figures["failed_requests"] == 0 else "failed",
        extra_versions=("fastapi", "uvicorn"),
    )
    print(f"[serve_slow] wrote {path}")
    for name, t in figures["targets"].items():
        print(f"[serve_slow] target {name}: {t['value']} ({t['target']}) -> {'met' if t['met'] else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    common.run_main(main)
