"""Issue 11, inputs: non-regular files, sizes, symlink loops, permissions, 0x0 images,
truncated videos and control characters in names each get the right one-line message."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from emorec.errors import InputError
from emorec.inputs import check_input_file, escape_name, find_files, read_bytes

REPO = Path(__file__).resolve().parents[2]


def _png_0x0() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 0, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_dev_zero_is_refused_without_reading():
    from emorec.face.imageio import load_image

    with pytest.raises(InputError, match="is a device, not a regular"):
        load_image("/dev/zero")


def test_a_fifo_named_like_an_image_does_not_hang(tmp_path):
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(fifo)
    code = (
        "from emorec.face.imageio import load_image\n"
        "try:\n    load_image(%r)\nexcept Exception as e:\n    print(e)\n" % str(fifo)
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "named pipe (FIFO)" in done.stdout, done.stdout + done.stderr


def test_size_is_checked_before_reading(tmp_path):
    big = tmp_path / "big.jpg"
    with open(big, "wb") as fh:
        fh.truncate(10_000)  # sparse: costs nothing
    with pytest.raises(InputError, match="over the 1.0 KB limit"):
        read_bytes(big, max_bytes=1024)
    assert len(read_bytes(big, max_bytes=10_000)) == 10_000


def test_symlink_loop_and_broken_link_say_so(tmp_path):
    from emorec.face.imageio import load_image

    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop)
    with pytest.raises(InputError, match="symbolic link loop"):
        load_image(loop)
    broken = tmp_path / "broken.jpg"
    broken.symlink_to(tmp_path / "gone.jpg")
    with pytest.raises(InputError, match="broken symbolic link"):
        load_image(broken)


def test_permission_denied_is_reported_as_such(tmp_path, monkeypatch):
    """Simulated with os.access (tests may run as root, who can read anything)."""
    import soundfile as sf

    from emorec.voice.audio import audio_info

    wav = tmp_path / "clip.wav"
    sf.write(wav, np.zeros(1600, np.float32), 16000)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(wav) else real_access(p, mode))
    with pytest.raises(InputError, match="permission denied"):
        audio_info(wav)  # before: "not a readable audio file"
    found = find_files(tmp_path, [".wav"])
    assert found.files == [] and "permission denied" in found.problems[0][1]


def test_folder_search_counts_symlink_loops(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "loop.jpg").symlink_to(tmp_path / "loop.jpg")
    (tmp_path / "notes.txt").write_text("x")
    found = find_files(tmp_path, [".jpg"])
    assert found.files == [tmp_path / "a.jpg"]
    assert [(p.name, "symbolic link loop" in why) for p, why in found.problems] == [("loop.jpg", True)]
    assert found.skipped == 1


def test_output_folders_are_skipped_by_searches(tmp_path):
    from emorec.outputs import mark_output_folder

    (tmp_path / "a.jpg").write_bytes(b"x")
    mark_output_folder(tmp_path / "annotated")
    (tmp_path / "annotated" / "a_annotated.jpg").write_bytes(b"x")
    assert find_files(tmp_path, [".jpg"]).files == [tmp_path / "a.jpg"]


def test_zero_by_zero_png_says_empty(tmp_path):
    from emorec.face.imageio import load_image

    path = tmp_path / "empty.png"
    path.write_bytes(_png_0x0())
    with pytest.raises(InputError, match=r"image is empty \(0x0 pixels\)"):
        load_image(path)


def test_regular_files_pass():
    assert check_input_file(REPO / "examples" / "astronaut.jpg") > 1000


def test_escape_name():
    assert escape_name("plain é.jpg") == "plain é.jpg"
    assert escape_name("two\nlines.jpg") == "two\\nlines.jpg"
    assert escape_name("bell\x07\r.jpg") == "bell\\x07\\r.jpg"


def test_truncated_video_says_what_was_lost(tmp_path):
    import cv2

    from emorec.face.video import iter_frames

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(40):
        writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    whole: list[str] = []
    assert len(list(iter_frames(path, every=10, report=whole))) == 4 and whole == []
    cut = tmp_path / "cut.avi"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # header (and frame count) at the start
    report: list[str] = []
    frames = list(iter_frames(cut, every=10, report=report))
    assert 0 < len(frames) < 4
    assert len(report) == 1 and "breaks off" in report[0]
    assert f"{4 - len(frames)} of 4 sampled frames are missing" in report[0]
