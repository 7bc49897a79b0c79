"""Voice inference speed and memory: writes benchmarks/results/voice_speed.json.

Measures, on this machine:
  * real-time factor (processing seconds / audio seconds) of feature extraction
    plus ONNX inference on utterance-length clips (RAVDESS clips when
    ``$EMOREC_DATA`` is set, else the example speech), with and without file
    decoding and resampling; per-stage split (features vs model);
  * a 10-minute recording (the example dialogue repeated, with its pauses) to a
    full timeline: ``VoiceEmotionRecognizer.predict(file)`` wall time in-process
    and ``emorec voice predict long.wav --format json`` from a cold process;
  * peak resident memory (the child's VmHWM) of ``emorec voice predict`` on
    1-minute and 10-minute recordings: streaming keeps it flat;
  * the same for the sound track of a 10-minute video (MP4: a tiny 1 fps video
    stream + AAC at 44.1 kHz stereo), decoded through PyAV.
Targets (issue 3): real-time factor <= 0.02, 10-minute timeline <= 15 s, memory flat.

Uses the packaged model (src/emorec/models/voice.onnx) when present, else a
tiny synthetic linear model (said so in the JSON: then the model share of the
time says nothing about the real network). Other processes on the machine slow
every number down: the JSON records the load average.

Usage:
    python benchmarks/voice_speed.py            # full run, about a minute
    python benchmarks/voice_speed.py --quick    # fewer clips and repeats
    python benchmarks/voice_speed.py --model path/to/voice.onnx --threads 2
"""
from __future__ import annotations

import json
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

NAME = "voice_speed"
EXAMPLES = common.REPO_ROOT / "examples"
TARGETS = {"real_time_factor": 0.02, "ten_minute_timeline_s": 15.0}


def tiny_voice_model(path: Path) -> Path:
    """Max-pooled linear model over the default features, plus card (emorec.testing; no torch, no download)."""
    from emorec.testing import make_voice_model

    return make_voice_model(path, probabilities=False, name="tiny-voice (synthetic)", weight_std=0.3, bias_std=0.0)


def pick_model(explicit: str | None, work: Path) -> tuple[Path, bool]:
    if explicit:
        return Path(explicit), True
    packaged = common.REPO_ROOT / "src" / "emorec" / "models" / "voice.onnx"
    if packaged.is_file():
        return packaged, True
    return tiny_voice_model(work / "tiny_voice.onnx"), False


def utterance_files(n: int, data: str | None) -> tuple[list[Path], str]:
    root = data or os.environ.get("EMOREC_DATA")
    if root and (Path(root) / "ravdess").is_dir():
        files = sorted((Path(root) / "ravdess").glob("*.flac"))
        step = max(1, len(files) // n)
        return files[::step][:n], "RAVDESS clips (16 kHz FLAC)"
    files = sorted(EXAMPLES.glob("speech_*.wav"))
    if not files:
        raise common.MissingPrerequisite("no RAVDESS ($EMOREC_DATA) and no examples/speech_*.wav to time")
    return (files * n)[:n], "examples/speech_*.wav"


def long_recording(path: Path, minutes: float) -> Path:
    """The example dialogue (speech with pauses) repeated to ``minutes``, 16-bit WAV."""
    import soundfile as sf

    source = EXAMPLES / "speech_dialogue.wav"
    if source.is_file():
        x, sr = sf.read(str(source), dtype="float32")
    else:  # formant-like bursts with pauses
        sr = 16000
        t = np.arange(sr * 3) / sr
        burst = (0.3 * np.sin(2 * np.pi * 140 * t) * np.sin(2 * np.pi * 2 * t) ** 2).astype(np.float32)
        x = np.concatenate([burst, np.zeros(sr, np.float32)])
    reps = int(np.ceil(minutes * 60 * sr / x.size))
    with sf.SoundFile(str(path), "w", sr, 1, subtype="PCM_16") as fh:  # written in pieces: no big array
        for _ in range(reps):
            fh.write(x)
    return path


def long_video(wav: Path, path: Path) -> Path:
    """An MP4 (tiny 1 fps video + AAC sound track at 44.1 kHz stereo) holding ``wav``'s audio, written in pieces."""
    import av
    import soundfile as sf
    import soxr

    with sf.SoundFile(str(wav)) as src, av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("mpeg4", rate=1)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        a = out.add_stream("aac", rate=44100)
        a.layout = "stereo"
        resampler = soxr.ResampleStream(src.samplerate, 44100, 1, dtype="float32")
        pts, second = 0, 0
        while True:
            block = src.read(src.samplerate, dtype="float32")
            last = block.shape[0] < src.samplerate
            y = resampler.resample_chunk(block, last=last)
            stereo = np.repeat(np.clip(y, -1, 1)[None], 2, 0).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(stereo), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 44100, pts
            pts += y.size
            for packet in a.encode(frame):
                out.mux(packet)
            image = av.VideoFrame.from_ndarray(np.full((48, 64, 3), second % 255, np.uint8), format="rgb24")
            image.pts = second
            second += 1
            for packet in vs.encode(image):
                out.mux(packet)
            if last:
                break
        for stream in (a, vs):
            for packet in stream.encode(None):
                out.mux(packet)
    return path


def rtf_clips(rec, files: list[Path], repeats: int) -> dict:
    from emorec.voice.audio import read_audio

    audio = [read_audio(f) for f in files]
    seconds = sum(a.size for a in audio) / 16000
    feats_t, model_t, file_t = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        inputs = [rec.model_inputs(a) for a in audio]  # features (and a fused model's encoder windows)
        t1 = time.perf_counter()
        for f, extra in inputs:
            rec.model.run(f, **extra)
        t2 = time.perf_counter()
        for f in files:
            rec.predict(f)
        t3 = time.perf_counter()
        feats_t.append(t1 - t0)
        model_t.append(t2 - t1)
        file_t.append(t3 - t2)
    fe, mo, fi = statistics.median(feats_t), statistics.median(model_t), statistics.median(file_t)
    return {
        "clips": len(files),
        "audio_seconds": round(seconds, 2),
        "real_time_factor": (fe + mo) / seconds,
        "real_time_factor_from_file": fi / seconds,
        "features_rtf": fe / seconds,
        "model_rtf": mo / seconds,
        "ms_per_clip_features_plus_model": 1000 * (fe + mo) / len(files),
        "ms_per_clip_from_file": 1000 * fi / len(files),
        "repeats": repeats,
    }


def cli_predict(path: Path, model: Path, threads: int | None) -> dict:
    cmd = [sys.executable, "-m", "emorec.cli", "voice", "predict", str(path), "--model", str(model), "--format", "json"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    out = common.run_measured(cmd, timeout=600, env=env, cwd=common.REPO_ROOT)
    segments = None
    for line in out.get("output_tail", "").splitlines():
        if line.startswith("{"):
            try:
                segments = len(json.loads(line)["segments"])
            except (json.JSONDecodeError, KeyError):
                pass
    return {"wall_s": out["seconds"], "peak_rss_mb": out["peak_rss_mb"], "returncode": out["returncode"],
            "segments": segments}


def headlines(figures: dict) -> list[dict]:
    """The rows the README's speed table shows for this benchmark."""
    u, t, m = figures["utterances"], figures["ten_minute_timeline"], figures["memory"]
    return [
        common.headline("real-time factor, features + model (RAVDESS clips)", u["real_time_factor"]),
        common.headline("real-time factor from the file (decode, VAD, features, model)", u["real_time_factor_from_file"]),
        common.headline("10-minute recording to a full timeline, in process", t["in_process_s"], "s"),
        common.headline("10-minute recording to a full timeline, `emorec voice predict` cold", t["cli_cold_wall_s"], "s"),
        common.headline("peak memory, 1-minute recording", m["one_minute_peak_rss_mb"], "MB"),
        common.headline("peak memory, 10-minute recording", m["ten_minute_peak_rss_mb"], "MB"),
    ] + ([
        common.headline("10-minute video (MP4, AAC 44.1 kHz stereo) to a timeline, in process",
                        figures["ten_minute_video"]["in_process_s"], "s"),
        common.headline("10-minute video, `emorec voice predict` cold", figures["ten_minute_video"]["cli_cold_wall_s"], "s"),
        common.headline("peak memory, 1-minute video", figures["ten_minute_video"]["one_minute_peak_rss_mb"], "MB"),
        common.headline("peak memory, 10-minute video", figures["ten_minute_video"]["ten_minute_peak_rss_mb"], "MB"),
    ] if "ten_minute_video" in figures else [])


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="ONNX voice model (default: packaged, else a tiny synthetic one)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    args = p.parse_args()
    quick = args.quick
    from emorec.voice.recognizer import VoiceEmotionRecognizer
    from emorec.voice.vad import default_vad

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        try:
            model, real = pick_model(args.model, work)
            files, source = utterance_files(12 if quick else 60, args.data)
        except common.MissingPrerequisite as exc:
            print(f"missing: {exc}", file=sys.stderr)
            sys.exit(common.EXIT_MISSING)
        rec = VoiceEmotionRecognizer(model, threads=args.threads)
        figures: dict = {"model": str(model.relative_to(common.REPO_ROOT)) if real and model.is_relative_to(common.REPO_ROOT)
                         else str(model) if real else "tiny synthetic model (no shipped voice.onnx)",
                         "real_model": real, "vad": type(default_vad()).__name__, "utterances_from": source}
        figures["utterances"] = rtf_clips(rec, files, 1 if quick else 3)

        long10 = long_recording(work / "ten_minutes.wav", 10.0)
        long1 = long_recording(work / "one_minute.wav", 1.0)
        walls = []
        result = None
        for _ in range(1 if quick else 2):
            t = time.perf_counter()
            result = rec.predict(long10)
            walls.append(time.perf_counter() - t)
        figures["ten_minute_timeline"] = {
            "audio_seconds": result.duration, "segments": len(result.segments),
            "in_process_s": min(walls), "in_process_runs_s": walls,
            "real_time_factor": min(walls) / result.duration,
        }
        cold10 = cli_predict(long10, model, args.threads)
        cold1 = cli_predict(long1, model, args.threads)
        figures["ten_minute_timeline"]["cli_cold_wall_s"] = cold10["wall_s"]
        figures["memory"] = {
            "one_minute_peak_rss_mb": cold1["peak_rss_mb"], "ten_minute_peak_rss_mb": cold10["peak_rss_mb"],
            "difference_mb": (cold10["peak_rss_mb"] or 0) - (cold1["peak_rss_mb"] or 0),
            "ten_minutes_of_float32_audio_mb": round(600 * 16000 * 4 / 2**20, 1),
            "cli_runs": {"one_minute": cold1, "ten_minutes": cold10},
        }
        video10 = long_video(long10, work / "ten_minutes.mp4")
        video1 = long_video(long1, work / "one_minute.mp4")
        t = time.perf_counter()
        vres = rec.predict(video10)
        vwall = time.perf_counter() - t
        vcold10 = cli_predict(video10, model, args.threads)
        vcold1 = cli_predict(video1, model, args.threads)
        figures["ten_minute_video"] = {
            "container": "mp4: mpeg4 64x48 at 1 fps + AAC 44.1 kHz stereo", "file_mb": common.file_size_mb(video10),
            "audio_seconds": vres.duration, "segments": len(vres.segments), "in_process_s": vwall,
            "cli_cold_wall_s": vcold10["wall_s"], "one_minute_peak_rss_mb": vcold1["peak_rss_mb"],
            "ten_minute_peak_rss_mb": vcold10["peak_rss_mb"],
            "difference_mb": (vcold10["peak_rss_mb"] or 0) - (vcold1["peak_rss_mb"] or 0),
            "cli_runs": {"one_minute": vcold1, "ten_minutes": vcold10},
        }
        figures["targets"] = TARGETS
        figures["meets"] = {
            "real_time_factor": figures["utterances"]["real_time_factor"] <= TARGETS["real_time_factor"],
            "ten_minute_timeline": figures["ten_minute_timeline"]["in_process_s"] <= TARGETS["ten_minute_timeline_s"],
            "ten_minute_timeline_cold_cli": (cold10["wall_s"] or 1e9) <= TARGETS["ten_minute_timeline_s"],
            "memory_flat": figures["memory"]["difference_mb"] < 25.0,
            "ten_minute_video_timeline": figures["ten_minute_video"]["in_process_s"] <= TARGETS["ten_minute_timeline_s"],
            "ten_minute_video_cold_cli": (vcold10["wall_s"] or 1e9) <= TARGETS["ten_minute_timeline_s"],
            "video_memory_flat": figures["ten_minute_video"]["difference_mb"] < 25.0,
        }
    notes = [] if real else ["no shipped voice model: a tiny linear model stands in, so model time is not representative"]
    figures["headline"] = headlines(figures)
    path = common.write_result(NAME, figures, quick=quick, title="Voice inference speed and memory", notes=notes,
                               extra_versions=("soundfile", "soxr", "silero-vad"))
    u, t = figures["utterances"], figures["ten_minute_timeline"]
    print(f"real-time factor {u['real_time_factor']:.4f} (features {u['features_rtf']:.4f}, model {u['model_rtf']:.4f}); "
          f"from file {u['real_time_factor_from_file']:.4f}")
    print(f"10-minute timeline: {t['in_process_s']:.1f} s in process, {t['cli_cold_wall_s']:.1f} s cold CLI, "
          f"{t['segments']} segments")
    print(f"peak RSS: 1 min {figures['memory']['one_minute_peak_rss_mb']:.0f} MB, "
          f"10 min {figures['memory']['ten_minute_peak_rss_mb']:.0f} MB")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
