"""Audio decompression bombs against ``emorec serve``: peak server memory with 4 at once.

The bomb (as in issue 11): a FLAC of 59 s, 8 channels at 384 kHz, about 2 MB on the
wire, that decodes to 181 M samples (725 MB as float32). It is inside the upload-size
and duration limits. Two runs, each on a fresh ``emorec serve --task voice``:

* ``defaults``: the server's limits as shipped; the bomb is refused from its header
  (``max_audio_samples``) with 413 before any sample is decoded;
* ``decoded``: the sample limit raised above the bomb (EMOREC_SERVE_MAX_AUDIO_SAMPLES),
  so the server really decodes all four, in blocks, mixed down and resampled as a stream.

For each: the server's resident memory before, its peak (VmHWM of the process tree)
and the answers. Writes ``benchmarks/results/serve_bomb.json``.

    python benchmarks/serve_bomb.py            # 4 concurrent bombs (--bombs N to change)

Target: peak server memory under 600 MB with 4 concurrent bombs.
"""

from __future__ import annotations

import http.client
import io
import threading
import time
from typing import Any

import numpy as np

if __package__:  # `python -m benchmarks.NAME`, or imported as a module of the benchmarks package
    from benchmarks import common
    from benchmarks import serve_load
else:  # `python benchmarks/NAME.py`: this folder is already sys.path[0]
    import common
    import serve_load

NAME = "serve_bomb"
PEAK_TARGET_MB = 600.0


def flac_bomb(seconds: float = 59.0, rate: int = 384_000, channels: int = 8) -> bytes:
    """Mostly silence with a short 440 Hz burst every second: compresses to about 2 MB."""
    import soundfile as sf

    buf = io.BytesIO()
    block = rate  # one second at a time: the generator itself stays small
    burst = (np.sin(2 * np.pi * 440 * np.arange(rate // 20) / rate) * 2000).astype(np.int16)
    second = np.zeros(rate, np.int16)
    second[: burst.size] = burst
    frame = np.repeat(second[:, None], channels, axis=1)
    with sf.SoundFile(buf, "w", samplerate=rate, channels=channels, format="FLAC", subtype="PCM_16") as fh:
        for _ in range(int(seconds)):
            fh.write(frame[:block])
    return buf.getvalue()


def vm_hwm_mb(pid: int) -> float | None:
    """Peak resident memory of ``pid`` plus its children (VmHWM), in MiB."""
    return common.process_tree_mb(pid, "VmHWM")


def post(url: str, body: bytes, ctype: str, timeout: float = 120) -> tuple[int, str, float]:
    host, port = url.removeprefix("http://").split(":")
    start = time.perf_counter()
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("POST", "/v1/voice", body=body, headers={"Content-Type": ctype})
        resp = conn.getresponse()
        payload = resp.read().decode(errors="replace")
        return resp.status, payload[:200], time.perf_counter() - start
    except OSError as exc:
        return 0, f"{type(exc).__name__}: {exc}", time.perf_counter() - start
    finally:
        conn.close()


def one_run(
    label: str, bomb: bytes, bombs: int, env: dict[str, str], voice_model: str | None, threads: int | None, log=print
) -> dict[str, Any]:
    body, ctype = serve_load.multipart("bomb.flac", bomb, "audio/flac")
    server = serve_load.start_server(["voice"], None, voice_model, threads, 1, 16, env=env)
    try:
        assert server.pid is not None
        time.sleep(1.0)
        before = serve_load.process_tree_rss_mb(server.pid)
        hwm_before = vm_hwm_mb(server.pid)
        answers: list[tuple[int, str, float]] = []
        lock = threading.Lock()

        def client() -> None:
            answer = post(server.url, body, ctype)
            with lock:
                answers.append(answer)

        log(f"[serve_bomb] {label}: {bombs} bombs at once ...")
        sampled: list[float] = []
        workers = [threading.Thread(target=client) for _ in range(bombs)]
        for w in workers:
            w.start()
        while any(w.is_alive() for w in workers):
            rss = serve_load.process_tree_rss_mb(server.pid)
            if rss is not None:
                sampled.append(rss)
            time.sleep(0.05)
        for w in workers:
            w.join()
        peak = vm_hwm_mb(server.pid)
        statuses: dict[str, int] = {}
        for status, _, _ in answers:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        return {
            "env": env,
            "rss_before_mb": round(before or 0, 1),
            "peak_before_requests_mb": round(hwm_before or 0, 1),
            "peak_mb": round(peak or 0, 1),
            "sampled_max_rss_mb": round(max(sampled), 1) if sampled else None,
            "growth_mb": round((peak or 0) - (before or 0), 1),
            "answers": statuses,
            "example_answer": answers[0][1] if answers else None,
            "seconds": common.summarize([a[2] for a in answers]),
        }
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    p = common.parser("Peak memory of emorec serve under concurrent audio decompression bombs.")
    p.add_argument("--bombs", type=int, default=4)
    p.add_argument("--seconds", type=float, default=59.0, help="bomb length (default 59 s)")
    p.add_argument("--voice-model", default=None)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.voice_model is None and not serve_load.packaged_model_exists("voice"):
        raise common.MissingPrerequisite("no packaged voice model: pass --voice-model")
    bomb = flac_bomb(args.seconds)
    samples = int(args.seconds) * 384_000 * 8
    figures: dict[str, Any] = {
        "kind": "speed",  # listed in the README's speed table
        "bomb": {
            "format": "FLAC 16-bit",
            "seconds": int(args.seconds),
            "channels": 8,
            "sample_rate": 384_000,
            "upload_mb": round(len(bomb) / 2**20, 2),
            "decoded_samples": samples,
            "decoded_float32_mb": round(samples * 4 / 2**20, 1),
        },
        "bombs_at_once": args.bombs,
        "method": "VmHWM (peak resident set) of the server process tree, read after the requests",
    }
    figures["defaults"] = one_run("defaults", bomb, args.bombs, {}, args.voice_model, args.threads)
    figures["decoded"] = one_run(
        "decoded",
        bomb,
        args.bombs,
        {"EMOREC_SERVE_MAX_AUDIO_SAMPLES": str(samples + 1), "EMOREC_SERVE_REQUEST_TIMEOUT": "120"},
        args.voice_model,
        args.threads,
    )
    figures["targets"] = {
        run: {
            "value": figures[run]["peak_mb"],
            "target": f"peak < {PEAK_TARGET_MB:g} MB",
            "met": 0 < figures[run]["peak_mb"] < PEAK_TARGET_MB,
        }
        for run in ("defaults", "decoded")
    }
    figures["headline"] = [
        common.headline(
            f"serve: peak memory, {args.bombs} audio bombs at once (refused by the sample limit)",
            figures["defaults"]["peak_mb"],
            "MB",
        ),
        common.headline(
            f"serve: peak memory, {args.bombs} audio bombs at once (decoded in blocks)",
            figures["decoded"]["peak_mb"],
            "MB",
        ),
    ]
    ok = all(t["met"] for t in figures["targets"].values())
    path = common.write_result(
        NAME,
        figures,
        quick=args.quick,
        title="emorec serve under audio bombs",
        status="ok" if ok else "failed",
        extra_versions=("fastapi", "uvicorn", "soundfile"),
    )
    print(f"[serve_bomb] wrote {path}")
    for name, t in figures["targets"].items():
        print(
            f"[serve_bomb] {name}: {t['value']} MB ({t['target']}) -> {'met' if t['met'] else 'NOT met'}; "
            f"answers {figures[name]['answers']}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    common.run_main(main)
