"""Report generation on synthetic run directories, including bad input."""
from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from emorec.errors import InputError
from emorec.cli.report import report as report_command
from emorec.evaluation.report import GENERATOR_MARK, pct, write_report
from synthetic_runs import CARD, LABELS, write_kfold, write_single

DATA_URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


def _text_without_images(html: str) -> str:
    return DATA_URI.sub("data:image/png;base64,...", html)


def _assert_no_nan(*texts: str) -> None:
    for text in texts:
        assert not re.search(r"\bnan\b", text, re.I), "a NaN reached the report"
        assert not re.search(r"\binf\b", text, re.I)


def _assert_valid_png(data: bytes) -> None:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        assert img.size[0] > 100 and img.size[1] > 100


def test_single_run_report(tmp_path):
    run = tmp_path / "run"
    metrics = write_single(run)
    paths = write_report(run, n_resamples=200)
    assert paths.html == run / "report.html" and paths.markdown == run / "report.md"
    html, md = paths.html.read_text(), paths.markdown.read_text()

    # Figures: files beside the Markdown, all valid PNGs, all referenced; the same ones embedded in HTML.
    names = {p.name for p in paths.figures}
    assert {"report-confusion-counts.png", "report-confusion-normalised.png", "report-per-class.png",
            "report-curves.png", "report-reliability.png", "report-groups.png"} <= names
    for p in paths.figures:
        _assert_valid_png(p.read_bytes())
        assert f"]({p.name})" in md
    embedded = DATA_URI.findall(html)
    assert len(embedded) == len(paths.figures)
    import base64

    for data in embedded:
        _assert_valid_png(base64.b64decode(data))

    # Self-contained: no external resources.
    plain = _text_without_images(html)
    assert "<style>" in plain
    assert not re.search(r"<link|<script|src=\"(?!data:)", plain)

    # Numbers match metrics.json, in both formats.
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        assert pct(metrics[key]) in md and pct(metrics[key]) in plain
    for name in LABELS:
        c = metrics["per_class"][name]
        assert f"| {name} | {pct(c['precision'])} | {pct(c['recall'])} | {pct(c['f1'])} | {c['support']} |" in md
    assert "| neutral | " + " | ".join(str(v) for v in metrics["confusion_matrix"][0]) + " |" in md

    # Context: dataset, protocol, command, card fields; intervals and per-subject section.
    assert "ckplus48" in md and "subject-kfold" in md
    assert metrics["command"] in md and metrics["command"] in plain
    assert CARD["architecture"] in md and CARD["license"] in md
    assert "95% CI" in md and "resampling subjects" in md
    assert "## Accuracy per subject" in md and "S001" in md
    assert "expected calibration error" in md
    assert "## Missing" not in md
    assert GENERATOR_MARK in md and GENERATOR_MARK in html
    _assert_no_nan(md, plain)


def test_intervals_in_report_bracket_the_value(tmp_path):
    run = tmp_path / "run"
    write_single(run, n=300)
    md = write_report(run, n_resamples=300).markdown.read_text()
    rows = re.findall(r"\| (accuracy|balanced accuracy \(UAR\)|macro-F1) \| ([\d.]+)% \| \[([\d.]+), ([\d.]+)\]", md)
    assert len(rows) == 3
    for _, value, low, high in rows:
        assert float(low) <= float(value) <= float(high)


def test_kfold_report(tmp_path):
    run = tmp_path / "kfold"
    metrics = write_kfold(run, k=3)
    paths = write_report(run, n_resamples=200)
    md = paths.markdown.read_text()
    assert "## Folds" in md and "report-folds.png" in md
    for i, fm in enumerate(metrics["folds"], start=1):
        assert f"| fold_{i:02d} | {fm['n']} | {pct(fm['accuracy'])} | {pct(fm['balanced_accuracy'])} |" in md
    pooled = metrics["pooled"]
    assert f"| pooled | {pooled['n']} | {pct(pooled['accuracy'])} |" in md
    spread = metrics["across_folds"]["accuracy"]
    assert f"{pct(spread['mean'])} ± {pct(spread['std'])} | {pct(spread['min'])} | {pct(spread['max'])}" in md
    assert "(pooled over folds)" in md
    # Curves come from every fold's history.
    assert "| fold_03 | 4 |" in md
    _assert_no_nan(md, _text_without_images(paths.html.read_text()))


def test_kfold_report_flags_a_subject_in_two_test_folds(tmp_path):
    run = tmp_path / "kfold"
    write_kfold(run, k=2)
    # Put fold 2's subjects into fold 1's test side as well.
    f1 = run / "fold_01" / "predictions.npz"
    data = dict(np.load(f1))
    data["groups"] = np.array(["S003"] * len(data["groups"]))
    np.savez(f1, **data)
    md = write_report(run, n_resamples=50).markdown.read_text()
    assert "not group-independent" in md


def test_missing_history_predictions_and_card_fields(tmp_path):
    run = tmp_path / "run"
    write_single(run, history=False, predictions=False,
                 card={"name": "x", "task": "face", "labels": LABELS, "input": {}})
    paths = write_report(run)
    md = paths.markdown.read_text()
    assert "## Missing" in md
    assert "history.jsonl not found" in md
    assert "predictions.npz not found" in md
    assert "fields missing or empty: architecture, input, training, license" in md
    assert "Not available: the run has no history.jsonl." in md
    # What exists still renders: headline numbers with n/a intervals, confusion matrix.
    assert "| accuracy | " in md and "| n/a |" in md
    assert "report-confusion-counts.png" in md
    assert any("history.jsonl" in m for m in paths.missing)
    _assert_no_nan(md, _text_without_images(paths.html.read_text()))


def test_empty_test_set(tmp_path):
    run = tmp_path / "run"
    write_single(run, n=0)
    paths = write_report(run)
    md = paths.markdown.read_text()
    assert "empty (n = 0)" in md
    assert "| accuracy | n/a | n/a |" in md
    assert "report-confusion" not in md
    _assert_no_nan(md, _text_without_images(paths.html.read_text()))


def test_class_absent_from_test_set(tmp_path):
    run = tmp_path / "run"
    metrics = write_single(run, drop_class=2, grouped=False, card=None)
    assert metrics["absent_classes"] == ["sad"]
    paths = write_report(run, n_resamples=100)
    md = paths.markdown.read_text()
    assert "Classes absent from the test set" in md and "sad" in md
    assert "| sad | 0.00% | n/a | n/a | 0 |" in md
    assert "No model card recorded" in md and "model card: not recorded" in md
    assert "not grouped" in md
    _assert_no_nan(md, _text_without_images(paths.html.read_text()))


def test_nan_in_inputs_is_shown_as_na(tmp_path):
    run = tmp_path / "run"
    write_single(run)
    m = json.loads((run / "metrics.json").read_text())
    m["model_card"]["metrics"] = {"accuracy": float("nan")}
    m["per_class"]["happy"]["precision"] = float("nan")
    (run / "metrics.json").write_text(json.dumps(m))  # json writes NaN literally
    with (run / "history.jsonl").open("a") as fh:
        fh.write('{"epoch": 4, "train_loss": NaN, "val_acc": NaN, "seconds": 1.0}\n')
    paths = write_report(run, n_resamples=50)
    _assert_no_nan(paths.markdown.read_text(), _text_without_images(paths.html.read_text()))


def test_missing_metrics_json_rebuilt_from_predictions(tmp_path):
    run = tmp_path / "run"
    metrics = write_single(run)
    (run / "metrics.json").unlink()
    md = write_report(run, n_resamples=50).markdown.read_text()
    assert "metrics.json not found" in md
    assert "recomputed from predictions.npz" in md
    assert pct(metrics["accuracy"]) in md


def test_predictions_disagreeing_with_metrics_are_noted(tmp_path):
    run = tmp_path / "run"
    write_single(run)
    m = json.loads((run / "metrics.json").read_text())
    m["accuracy"] = 0.99
    m["confusion_matrix"][0][0] += 5
    m["n"] += 5
    (run / "metrics.json").write_text(json.dumps(m))
    md = write_report(run, n_resamples=50).markdown.read_text()
    assert "does not reproduce metrics.json" in md
    assert "99.00%" in md  # the table still shows metrics.json


def test_unreadable_files_are_reported_not_raised(tmp_path):
    run = tmp_path / "run"
    write_single(run)
    (run / "metrics.json").write_text("{not json")
    (run / "predictions.npz").write_bytes(b"garbage")
    (run / "config.yaml").write_text("a: [unclosed")
    md = write_report(run).markdown.read_text()
    assert "metrics.json is not valid JSON" in md
    assert "predictions.npz cannot be read" in md
    assert "config.yaml is not valid YAML" in md


def test_out_dir_and_refusal_to_overwrite_foreign_files(tmp_path):
    run = tmp_path / "run"
    write_single(run)
    out = tmp_path / "reports"
    paths = write_report(run, out, n_resamples=50)
    assert paths.html.parent == out and (out / "report-curves.png").is_file()
    write_report(run, out, n_resamples=50)  # our own report is regenerated
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "report.html").write_text("<html>my notes</html>")
    with pytest.raises(InputError, match="not written by `emorec report`"):
        write_report(run, foreign)
    assert (foreign / "report.html").read_text() == "<html>my notes</html>"


def test_missing_run_dir_raises_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        write_report(tmp_path / "nope")


def test_cli_command(tmp_path):
    run = tmp_path / "run"
    write_single(run, history=False)
    app = typer.Typer()

    @app.command()
    def other() -> None:  # a second command so `report` stays a sub-command
        pass

    app.command("report")(report_command)
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(tmp_path / "out"), "--resamples", "50"])
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output
    assert "history.jsonl not found" in result.output
    assert (tmp_path / "out" / "report.md").is_file()


def test_top_level_cli_has_report_and_turns_errors_into_one_line(tmp_path, capsys):
    import emorec.cli as emorec_cli

    assert any(c.name == "report" for c in emorec_cli.app.registered_commands)
    with pytest.raises(SystemExit) as exc:
        emorec_cli.main(["report", str(tmp_path / "missing")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: run directory") and len(err.strip().splitlines()) == 1
