"""The face pipeline (library side of `emorec face predict` and of POST /v1/face)."""
from __future__ import annotations

import shutil

import pytest

from emorec.face.pipeline import FacePipeline, FileResult, Item, expand_inputs, image_record


def test_crops_of_several_images_go_in_one_onnx_call(recognizer, example_photo, tmp_path, monkeypatch) -> None:
    for i in range(3):
        shutil.copy(example_photo, tmp_path / f"p{i}.jpg")
    (tmp_path / "notes.txt").write_text("x")
    items, skipped = expand_inputs([tmp_path])
    assert [i.path.name for i in items] == ["p0.jpg", "p1.jpg", "p2.jpg"] and skipped == 1
    calls = []
    real = recognizer.classify_crops
    monkeypatch.setattr(recognizer, "classify_crops", lambda crops, **kw: calls.append(len(crops)) or real(crops, **kw))
    results: list[FileResult] = []
    pipe = FacePipeline(recognizer, results.append, batch_size=256)
    for item in items:
        pipe.run(item)
    pipe.close()
    assert [r.path for r in results] == [str(i.path) for i in items]  # input order
    assert calls == [3]  # one batch for the three faces
    assert all(len(r.faces) == 1 and r.reason is None for r in results)


def test_record_is_the_same_for_cli_and_server(recognizer, example_photo) -> None:
    results: list[FileResult] = []
    pipe = FacePipeline(recognizer, results.append)
    pipe.run(Item(example_photo, "image"))
    pipe.close()
    via_pipeline = results[0].to_dict()
    via_server = image_record(str(example_photo), recognizer.predict(example_photo))
    assert via_pipeline == via_server
    assert list(via_pipeline) == ["path", "kind", "faces", "error", "reason"]
    assert image_record("empty.jpg", [])["reason"] == "no face found"


def test_video_frames_are_sampled_every_n(recognizer, example_video) -> None:
    results: list[FileResult] = []
    pipe = FacePipeline(recognizer, results.append, every=10)
    pipe.run(Item(example_video, "video"))
    pipe.close()
    record = results[0].to_dict()
    assert record["every"] == 10 and record["fps"] > 0
    frames = [f["frame"] for f in record["frames"]]
    assert frames == list(range(0, 10 * len(frames), 10)) and len(frames) >= 2
    assert all(f["time"] == pytest.approx(f["frame"] / record["fps"], abs=1e-3) for f in record["frames"])


def test_bad_inputs_become_error_records(recognizer, tmp_path) -> None:
    missing = tmp_path / "missing.jpg"
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    items, _ = expand_inputs([missing, bad])
    results: list[FileResult] = []
    pipe = FacePipeline(recognizer, results.append)
    for item in items:
        pipe.run(item)
    pipe.close()
    assert [r.error is not None for r in results] == [True, True]
    assert "not found" in results[0].error and results[1].to_dict()["faces"] == []
