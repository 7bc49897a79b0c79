"""The shared benchmark writer, timing helpers and the suite runner."""
from __future__ import annotations

import json
import math
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks import common, run_all


def test_write_result_has_every_expected_field(results_dir):
    path = common.write_result("demo", {"crops_per_s": np.float32(3100.5), "bad": float("nan"),
                                        "nested": {"n": np.int64(3), "arr": np.arange(3)}},
                               quick=True, command="python benchmarks/demo.py --quick", notes=["a note"])
    assert path == results_dir / "demo.json"
    doc = json.loads(path.read_text())
    assert common.validate_result(doc) == []
    assert doc["name"] == "demo" and doc["mode"] == "quick" and doc["status"] == "ok"
    assert doc["command"] == "python benchmarks/demo.py --quick"
    assert doc["figures"] == {"crops_per_s": 3100.5, "bad": None, "nested": {"n": 3, "arr": [0, 1, 2]}}
    m, v = doc["machine"], doc["versions"]
    assert m["cpu"] and m["logical_cores"] >= 1 and m["ram_gb"] > 0 and m["os"]
    for key in ("python", "numpy", "onnxruntime", "emorec", "commit"):
        assert key in v
    assert v["numpy"] == np.__version__
    assert doc["timestamp"].endswith("+00:00")
    assert not list(results_dir.glob("*.tmp"))


def test_validate_result_names_missing_fields():
    problems = common.validate_result({"name": "x", "figures": {}})
    assert "missing key 'machine'" in problems and "missing key 'command'" in problems


def test_command_line_is_relative_to_the_repository():
    script = str(common.BENCH_DIR / "accuracy_face.py")
    assert common.command_line([script, "--quick"]) == "python benchmarks/accuracy_face.py --quick"


def test_summarize_and_timing_helpers():
    s = common.summarize([0.001 * i for i in range(1, 101)])
    assert s["n"] == 100
    assert s["median_ms"] == pytest.approx(50.5)
    assert s["p95_ms"] == pytest.approx(95.05)
    assert common.summarize([])["p50_ms"] is None
    calls = []
    stats = common.time_calls(lambda: calls.append(1), repeats=5, warmup=2)
    assert len(calls) == 7 and stats["n"] == 5 and stats["warmup"] == 2
    tp = common.throughput(lambda: time.sleep(0.002), items_per_call=10, repeats=3, warmup=1)
    assert 0 < tp["items_per_s"] < 10 / 0.002


def test_run_measured_reports_child_peak_memory_and_exit_code():
    big = common.run_measured([sys.executable, "-c", "b = bytearray(150 * 2**20); b[::4096] = b'x' * len(b[::4096])"])
    small = common.run_measured([sys.executable, "-c", "pass"])
    assert big["returncode"] == 0 and small["returncode"] == 0
    assert big["peak_rss_mb"] > 150 > small["peak_rss_mb"]
    failed = common.run_measured([sys.executable, "-c", "import sys; print('boom'); sys.exit(4)"])
    assert failed["returncode"] == 4 and "boom" in failed["output_tail"]
    slow = common.run_measured([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.5)
    assert slow["timed_out"] and slow["seconds"] < 4


def test_history_epoch_seconds(tmp_path):
    (tmp_path / "fold_01").mkdir()
    (tmp_path / "fold_01" / "history.jsonl").write_text('{"seconds": 2.0}\n{"seconds": 4.0}\nnot json\n')
    stats = common.history_epoch_seconds(tmp_path)
    assert stats == {"epochs": 2, "median_s_per_epoch": 3.0, "total_s": 6.0}
    assert common.history_epoch_seconds(tmp_path / "none") is None


def test_accuracy_figures_shape():
    from emorec.evaluation.bootstrap import bootstrap_ci
    from emorec.evaluation.metrics import classification_metrics

    y, p = [0, 1, 1, 0, 1], [0, 1, 0, 0, 1]
    m = classification_metrics(y, p, ["happy", "sad"])
    f = common.accuracy_figures(m, bootstrap_ci(y, p, ["happy", "sad"], n_resamples=50), task="face",
                                dataset="X", protocol="Y")
    assert f["accuracy"]["value"] == pytest.approx(0.8)
    assert f["accuracy"]["low"] <= 0.8 <= f["accuracy"]["high"]
    assert f["task"] == "face" and f["n"] == 5


# --- the suite runner -------------------------------------------------------------------------

HEADER = f"import sys\nsys.path.insert(0, {str(common.BENCH_DIR)!r})\nimport common\n"


def _script(folder: Path, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text(HEADER + textwrap.dedent(body))


def _fake_suite(folder: Path) -> None:
    folder.mkdir()
    _script(folder, "good", """
        def main():
            p = common.parser("good")
            args = p.parse_args()
            common.write_result("good", {"value": 1, "quick": args.quick})
        common.run_main(main)
    """)
    _script(folder, "crashes", """
        def main():
            common.parser("x").parse_args()
            raise RuntimeError("model exploded")
        common.run_main(main)
    """)
    _script(folder, "needs_data", """
        def main():
            common.parser("x").parse_args()
            raise common.MissingPrerequisite("no EMOREC_DATA")
        common.run_main(main)
    """)
    _script(folder, "writes_nothing", """
        def main():
            common.parser("x").parse_args()
        common.run_main(main)
    """)
    _script(folder, "hangs", """
        import time
        def main():
            common.parser("x").parse_args()
            time.sleep(30)
        common.run_main(main)
    """)
    (folder / "helper_without_main.py").write_text("X = 1\n")
    (folder / "_private.py").write_text("def main(): pass  # --quick\n")
    (folder / "no_quick.py").write_text("def main():\n    pass\n")


def test_discover_picks_scripts_with_main_and_quick(tmp_path):
    _fake_suite(tmp_path / "bench")
    names = [p.stem for p in run_all.discover(tmp_path / "bench")]
    assert names == ["crashes", "good", "hangs", "needs_data", "writes_nothing"]
    real = [p.stem for p in run_all.discover()]
    assert "accuracy_face" in real and "fer_peer" in real and "common" not in real and "run_all" not in real


def test_run_all_records_failures_and_carries_on(tmp_path, results_dir, capsys):
    _fake_suite(tmp_path / "bench")
    rc = run_all.main(["--quick", "--bench-dir", str(tmp_path / "bench"), "--timeout", "3", "--only",
                       "good,crashes,needs_data,writes_nothing,hangs,not_there"])
    assert rc == 1
    summary = json.loads((results_dir / "summary.json").read_text())
    assert common.validate_result(summary) == []
    status = {b["benchmark"]: b for b in summary["figures"]["benchmarks"]}
    assert status["good"]["status"] == "ok" and status["good"]["results"] == ["good.json"]
    assert status["crashes"]["status"] == "failed" and "model exploded" in status["crashes"]["message"]
    assert status["needs_data"]["status"] == "missing" and "no EMOREC_DATA" in status["needs_data"]["message"]
    assert status["writes_nothing"]["status"] == "no-result"
    assert status["hangs"]["status"] == "timeout"
    assert status["not_there"]["status"] == "missing"
    assert summary["figures"]["counts"] == {"ok": 1, "failed": 1, "missing": 2, "no-result": 1, "timeout": 1}
    good = json.loads((results_dir / "good.json").read_text())
    assert good["figures"] == {"value": 1, "quick": True} and good["mode"] == "quick"


def test_run_all_succeeds_when_everything_passes(tmp_path, results_dir):
    _fake_suite(tmp_path / "bench")
    assert run_all.main(["--quick", "--bench-dir", str(tmp_path / "bench"), "--only", "good"]) == 0


def test_no_nan_in_written_json(results_dir):
    path = common.write_result("nan", {"x": float("inf"), "y": [float("nan"), 1.0]})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["figures"] == {"x": None, "y": [None, 1.0]}
    assert not math.isnan(1.0)
