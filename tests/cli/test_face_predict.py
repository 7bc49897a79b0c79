"""`emorec face predict`: output formats, CSV, annotation, video, bad inputs and exit codes."""
from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from emorec.cli import app

from emorec.testing import FER_LABELS

RESULT_KEYS = {"path", "kind", "faces", "error", "reason"}
FACE_KEYS = {"box", "label", "score", "scores"}


def invoke(*args: str):
    return CliRunner().invoke(app, ["face", "predict", *map(str, args)])


def json_lines(result) -> list[dict]:
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def check_face(face: dict) -> None:
    assert FACE_KEYS <= set(face)
    assert len(face["box"]) == 4 and all(isinstance(v, int) for v in face["box"])
    assert face["label"] in FER_LABELS
    assert set(face["scores"]) == set(FER_LABELS)
    assert abs(sum(face["scores"].values()) - 1) < 1e-4
    assert face["score"] == max(face["scores"].values())


@pytest.fixture()
def photo(tmp_path, example_photo) -> Path:
    """A copy of the example photo, so tests can put bad files beside it."""
    path = tmp_path / "in" / "astronaut.jpg"
    path.parent.mkdir()
    path.write_bytes(example_photo.read_bytes())
    return path


@pytest.fixture()
def mixed_folder(tmp_path, example_photo) -> Path:
    """Good, faceless and bad files (every kind from issue 2), and a non-media file."""
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    photo = cv2.imread(str(example_photo))
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(folder / "a_photo.jpg"), photo)
    cv2.imwrite(str(folder / "b_gray.png"), gray)
    cv2.imwrite(str(folder / "c_rgba.png"), np.dstack([photo, np.full(gray.shape, 255, np.uint8)]))
    cv2.imwrite(str(folder / "d_16bit.png"), gray.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "e_noface.png"), np.full((240, 320, 3), 128, np.uint8))
    (folder / "f_empty.jpg").write_bytes(b"")
    (folder / "g_text.jpg").write_text("hello, not a picture")
    data = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8))[1].tobytes()
    (folder / "h_truncated.jpg").write_bytes(data[: len(data) // 3])
    cv2.imwrite(str(folder / "i_tiny.png"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(folder / "sub" / "j_nested.jpg"), photo)
    (folder / "notes.txt").write_text("not media, skipped inside folders")
    return folder


def test_text_output_one_line_per_face(face_model, photo):
    result = invoke(photo, "--model", face_model)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{photo}: face 1 at x=")
    assert any(f": {label} " in lines[0] for label in FER_LABELS)
    assert "1 of 1 inputs processed, 1 faces" in result.stderr
    assert "Traceback" not in result.output


def test_json_schema(face_model, photo):
    result = invoke(photo, "--model", face_model, "--format", "json")
    assert result.exit_code == 0, result.output
    (record,) = json_lines(result)
    assert set(record) == RESULT_KEYS
    assert record["path"] == str(photo) and record["kind"] == "image"
    assert record["error"] is None and record["reason"] is None
    assert len(record["faces"]) == 1
    check_face(record["faces"][0])


def test_no_face_is_an_empty_result_with_a_reason(face_model, tmp_path):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8))
    result = invoke(blank, "--model", face_model, "--format", "json")
    assert result.exit_code == 0  # processed, just no face
    (record,) = json_lines(result)
    assert record["faces"] == [] and record["error"] is None and record["reason"] == "no face found"
    text = invoke(blank, "--model", face_model)
    assert text.stdout.strip() == f"{blank}: no face found"


def test_folder_with_bad_files_carries_on(face_model, mixed_folder):
    result = invoke(mixed_folder, "--model", face_model, "--format", "json")
    assert result.exit_code == 0, result.output
    records = {Path(r["path"]).name: r for r in json_lines(result)}
    assert list(records) == sorted(records)  # sorted, one record per media file, notes.txt skipped
    assert set(records) == {
        "a_photo.jpg", "b_gray.png", "c_rgba.png", "d_16bit.png", "e_noface.png",
        "f_empty.jpg", "g_text.jpg", "h_truncated.jpg", "i_tiny.png", "j_nested.jpg",
    }
    for name in ("a_photo.jpg", "b_gray.png", "c_rgba.png", "d_16bit.png", "j_nested.jpg"):
        assert records[name]["error"] is None, records[name]
        assert len(records[name]["faces"]) == 1
        check_face(records[name]["faces"][0])
    assert records["e_noface.png"]["reason"] == "no face found"
    for name, fragment in [
        ("f_empty.jpg", "empty"),
        ("g_text.jpg", "not an image"),
        ("h_truncated.jpg", "truncated"),
        ("i_tiny.png", "too small"),
    ]:
        assert records[name]["faces"] == []
        assert fragment in records[name]["error"] and name in records[name]["error"]
    assert "6 of 10 inputs processed" in result.stderr and "4 failed" in result.stderr
    assert "1 non-image files in folders skipped" in result.stderr


def test_text_mode_reports_errors_on_stderr_one_line_each(face_model, mixed_folder):
    result = invoke(mixed_folder, "--model", face_model)
    assert result.exit_code == 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 4
    assert "Traceback" not in result.output
    assert sum("face 1 at" in line for line in result.stdout.splitlines()) == 5


def test_no_recursive(face_model, mixed_folder):
    result = invoke(mixed_folder, "--model", face_model, "--format", "json", "--no-recursive")
    names = [Path(r["path"]).name for r in json_lines(result)]
    assert "j_nested.jpg" not in names and "a_photo.jpg" in names


def test_nothing_processable_exits_1(face_model, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("nope")
    result = invoke(bad, tmp_path / "missing.png", "--model", face_model, "--format", "json")
    assert result.exit_code == 1
    records = json_lines(result)
    assert [r["error"] is not None for r in records] == [True, True]
    assert "not found" in records[1]["error"]
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    result = invoke(empty_dir, "--model", face_model)
    assert result.exit_code == 1
    assert "no image or video files" in result.stderr
    (record,) = json_lines(invoke(empty_dir, "--model", face_model, "--format", "json"))
    assert record["kind"] == "folder" and "no image or video files" in record["error"]


def test_missing_model_is_a_one_line_error_exit_2(tmp_path, photo):
    result = invoke(photo, "--model", tmp_path / "none.onnx")
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: ") and len(result.stderr.strip().splitlines()) == 1


def test_pixel_limit_option(face_model, photo):
    result = invoke(photo, "--model", face_model, "--format", "json", "--max-megapixels", "0.1")
    assert result.exit_code == 1
    assert "MP limit" in json_lines(result)[0]["error"]


def test_cropped_mode(face_model, tmp_path):
    crop = tmp_path / "crop.png"
    cv2.imwrite(str(crop), np.random.default_rng(1).integers(0, 256, (48, 48), dtype=np.uint8))
    result = invoke(crop, "--model", face_model, "--format", "json", "--cropped")
    (record,) = json_lines(result)
    assert record["faces"][0]["box"] == [0, 0, 48, 48]


def test_video_frames_and_timestamps(face_model, example_video):
    result = invoke(example_video, "--model", face_model, "--format", "json", "--every", "10")
    assert result.exit_code == 0, result.output
    (record,) = json_lines(result)
    assert set(record) == RESULT_KEYS | {"fps", "every", "frames"}
    assert record["kind"] == "video" and record["every"] == 10 and record["fps"] == 10
    assert [f["frame"] for f in record["frames"]] == [0, 10, 20, 30]
    assert [f["time"] for f in record["frames"]] == [0.0, 1.0, 2.0, 3.0]
    for frame in record["frames"]:
        assert len(frame["faces"]) == 1
        check_face(frame["faces"][0])
    assert len(record["faces"]) == 4
    assert [(f["frame"], f["time"]) for f in record["faces"]] == [(0, 0.0), (10, 1.0), (20, 2.0), (30, 3.0)]
    text = invoke(example_video, "--model", face_model, "--every", "20")
    assert [line.split(":")[0] for line in text.stdout.splitlines()] == [
        f"{example_video} @ 0.00s (frame 0)",
        f"{example_video} @ 2.00s (frame 20)",
    ]


def test_bad_video_is_reported_and_the_run_goes_on(face_model, tmp_path, example_video, photo):
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(example_video.read_bytes()[:20000])
    result = invoke(fake, cut, photo, "--model", face_model, "--format", "json")
    assert result.exit_code == 0
    records = json_lines(result)
    assert [r["kind"] for r in records] == ["video", "video", "image"]
    assert "cannot open as a video" in records[0]["error"]
    assert records[1]["error"] is not None and "cut.mp4" in records[1]["error"]
    assert records[2]["error"] is None and len(records[2]["faces"]) == 1


def test_csv_table(face_model, tmp_path, photo, example_video):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((100, 100), 0, np.uint8))
    table = tmp_path / "out.csv"
    result = invoke(photo, blank, example_video, "--model", face_model, "--csv", table, "--every", "20")
    assert result.exit_code == 0, result.output
    with open(table, newline="") as fh:
        rows = list(csv.DictReader(fh))
    header = list(rows[0])
    assert header == ["path", "frame", "time", "face", "x", "y", "w", "h", "label", "score", *FER_LABELS, "note"]
    assert [r["path"] for r in rows] == [str(photo), str(blank), str(example_video), str(example_video)]
    first = rows[0]
    assert first["face"] == "1" and first["frame"] == "" and first["note"] == ""
    assert abs(sum(float(first[k]) for k in FER_LABELS) - 1) < 1e-4
    assert float(first["score"]) == pytest.approx(float(first[first["label"]]))
    assert rows[1]["note"] == "no face found" and rows[1]["label"] == ""
    assert [(r["frame"], r["time"]) for r in rows[2:]] == [("0", "0.0000"), ("20", "2.0000")]


def test_csv_is_never_overwritten_without_permission(face_model, tmp_path, photo):
    table = tmp_path / "out.csv"
    table.write_text("precious\n")
    result = invoke(photo, "--model", face_model, "--csv", table)
    assert result.exit_code == 2
    assert "already exists" in result.stderr and "--overwrite" in result.stderr
    assert table.read_text() == "precious\n"
    result = invoke(photo, "--model", face_model, "--csv", table, "--overwrite")
    assert result.exit_code == 0
    assert table.read_text().startswith("path,frame,time")
    result = invoke(photo, "--model", face_model, "--csv", photo, "--overwrite")
    assert result.exit_code == 2 and "one of the inputs" in result.stderr


def test_annotate_writes_new_files_only(face_model, tmp_path, photo, example_video):
    out = tmp_path / "annotated"
    out.mkdir()
    (out / "astronaut.jpg").write_bytes(b"an older file that must survive")
    before = hashlib.sha256(photo.read_bytes()).hexdigest()
    result = invoke(photo, example_video, "--model", face_model, "--annotate", out, "--every", "20")
    assert result.exit_code == 0, result.output
    assert hashlib.sha256(photo.read_bytes()).hexdigest() == before
    assert (out / "astronaut.jpg").read_bytes() == b"an older file that must survive"
    written = sorted(p.name for p in out.iterdir() if p.name != ".emorec-output")  # the output-folder marker
    assert written == ["astronaut-1.jpg", "astronaut.jpg", "astronaut_pan_f000000.jpg", "astronaut_pan_f000020.jpg"]
    drawn = cv2.imread(str(out / "astronaut-1.jpg"))
    original = cv2.imread(str(photo))
    assert drawn.shape == original.shape
    assert np.abs(drawn.astype(int) - original.astype(int)).max() > 100  # a box was drawn
    # The same run again: new names, nothing replaced.
    invoke(photo, "--model", face_model, "--annotate", out)
    assert (out / "astronaut-2.jpg").exists()


def test_annotate_folder_inside_the_input_folder_is_not_re_read(face_model, photo):
    folder = photo.parent
    out = folder / "annotated"
    for _ in range(2):
        result = invoke(folder, "--model", face_model, "--annotate", out, "--format", "json")
        assert [Path(r["path"]).name for r in json_lines(result)] == ["astronaut.jpg"]


def test_usage_errors(face_model, photo):
    assert invoke(photo, "--model", face_model, "--format", "xml").exit_code == 2
    assert invoke(photo, "--model", face_model, "--every", "0").exit_code == 2
    result = invoke(photo, "--model", face_model, "--detect-size", "10")
    assert result.exit_code == 2 and "--detect-size" in result.stderr
    result = invoke(photo, "--model", face_model, "--detector", "nope")
    assert result.exit_code == 2 and "unknown face detector" in result.stderr


def test_detect_size_full_resolution(face_model, photo):
    result = invoke(photo, "--model", face_model, "--format", "json", "--detect-size", "0")
    assert len(json_lines(result)[0]["faces"]) == 1


# -- as a real process: exit codes, no traceback, light imports ---------------------------------------


def run_emorec(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "emorec.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def test_process_exit_codes_and_no_tracebacks(face_model, photo, tmp_path):
    ok = run_emorec("face", "predict", photo, "--model", face_model)
    assert ok.returncode == 0, ok.stderr
    assert "face 1 at" in ok.stdout
    bad = tmp_path / "bad.png"
    bad.write_text("x")
    nothing = run_emorec("face", "predict", bad, "--model", face_model)
    assert nothing.returncode == 1
    assert nothing.stderr.splitlines()[0].startswith("error: ")
    usage = run_emorec("face", "predict", photo, "--model", tmp_path / "none.onnx")
    assert usage.returncode == 2
    for proc in (ok, nothing, usage):
        assert "Traceback" not in proc.stderr


def test_cli_inference_does_not_import_torch_and_help_stays_light(face_model, photo):
    script = f"""
import sys
import emorec.cli.face
light = [m for m in ("cv2", "onnxruntime", "torch") if m in sys.modules]
import emorec.cli
try:
    emorec.cli.main(["face", "predict", {str(photo)!r}, "--model", {str(face_model)!r}, "--format", "json"])
except SystemExit as exc:
    assert not exc.code, exc.code
print("LIGHT", light, "TORCH", "torch" in sys.modules, file=sys.stderr)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "LIGHT [] TORCH False" in out.stderr
    assert json.loads(out.stdout.splitlines()[0])["faces"]


# -- the video reader and the annotation helpers used by the command ------------------------------------


def test_iter_frames_every_nth_with_timestamps(example_video):
    from emorec.face.video import iter_frames, probe_video

    info = probe_video(example_video)
    assert (info.fps, info.frame_count, info.width, info.height) == (10.0, 40, 320, 240)
    assert info.duration == pytest.approx(4.0)
    frames = list(iter_frames(example_video, every=15))
    assert [f.index for f in frames] == [0, 15, 30]
    assert [f.time for f in frames] == pytest.approx([0.0, 1.5, 3.0])
    assert frames[0].image.shape == (240, 320, 3) and frames[0].image.dtype == np.uint8
    assert len(list(iter_frames(example_video, every=1, max_frames=5))) == 5
    with pytest.raises(ValueError):
        list(iter_frames(example_video, every=0))


def test_bad_videos_raise_input_error(tmp_path, example_video):
    from emorec.errors import InputError
    from emorec.face.video import iter_frames

    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    fake = tmp_path / "fake.avi"
    fake.write_bytes(b"RIFF" + bytes(500))
    for path, fragment in [(tmp_path / "missing.mp4", "not found"), (empty, "empty"), (fake, "cannot open"), (tmp_path, "folder")]:
        with pytest.raises(InputError, match=fragment) as e:
            list(iter_frames(path))
        assert "\n" not in str(e.value)
    with pytest.raises(InputError, match="MP limit"):
        list(iter_frames(example_video, max_pixels=50_000))


def test_draw_predictions_leaves_the_input_alone_and_save_never_overwrites(tmp_path):
    from emorec.face.annotate import draw_predictions, save_annotated
    from emorec.face.recognizer import FacePrediction

    image = np.full((100, 120), 90, np.uint8)
    before = image.copy()
    face = FacePrediction(box=(10, 0, 50, 50), label="happy", score=0.9, scores={"happy": 0.9, "sad": 0.1})
    drawn = draw_predictions(image, [face], note="t=1.00s")
    np.testing.assert_array_equal(image, before)
    assert drawn.shape == (100, 120, 3) and (drawn != 90).any()
    first = save_annotated(drawn, tmp_path / "out", "x", ".png")
    second = save_annotated(drawn, tmp_path / "out", "x", ".png")
    assert (first.name, second.name) == ("x.png", "x-1.png")
    assert cv2.imread(str(first)).shape == (100, 120, 3)
