"""emorec.outputs: no output option ever writes over an input; files appear only when complete."""

from __future__ import annotations

import os

import pytest

from emorec.errors import EmorecError
from emorec.outputs import (
    InputSet,
    atomic_open,
    atomic_path,
    check_output_file,
    check_output_folder,
    is_output_folder,
    mark_output_folder,
)


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (d / name).write_bytes(b"\xff\xd8\xff original " + name.encode())
    return d


def test_an_input_found_in_a_folder_is_never_an_output(folder):
    inputs = InputSet(sorted(folder.glob("*.jpg")), [folder])
    for overwrite in (False, True):
        with pytest.raises(EmorecError, match="is one of the inputs"):
            check_output_file(folder / "b.jpg", option="--csv", inputs=inputs, overwrite=overwrite)
    assert (folder / "b.jpg").read_bytes().endswith(b"b.jpg")


def test_an_input_is_recognised_through_links_and_dots(folder, tmp_path):
    inputs = InputSet([folder / "a.jpg"])
    os.link(folder / "a.jpg", tmp_path / "hard.jpg")
    (tmp_path / "soft.jpg").symlink_to(folder / "a.jpg")
    for other in (tmp_path / "hard.jpg", tmp_path / "soft.jpg", folder / ".." / "photos" / "a.jpg"):
        with pytest.raises(EmorecError, match="is one of the inputs"):
            check_output_file(other, option="--csv", inputs=inputs, overwrite=True)


def test_existing_files_folders_and_missing_parents(folder, tmp_path):
    existing = tmp_path / "t.csv"
    existing.write_text("old")
    with pytest.raises(EmorecError, match="already exists: pass --overwrite"):
        check_output_file(existing, option="--csv")
    assert check_output_file(existing, option="--csv", overwrite=True) == existing
    with pytest.raises(EmorecError, match="is a folder"):
        check_output_file(folder, option="--csv", overwrite=True)
    with pytest.raises(EmorecError, match="folder .*nodir for --csv does not exist"):
        check_output_file(tmp_path / "nodir" / "x.csv", option="--csv")


def test_plot_suffix_and_fifo(tmp_path):
    with pytest.raises(EmorecError, match="ending in .png"):
        check_output_file(tmp_path / "x.wav", option="--plot", suffixes=(".png", ".svg"))
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(EmorecError, match="not a regular file"):
        check_output_file(fifo, option="--csv", overwrite=True)


def test_unwritable_folder(tmp_path, monkeypatch):
    # Simulated: the tests may run as root, for whom chmod does not deny anything.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(EmorecError, match="permission denied"):
        check_output_file(tmp_path / "x.csv", option="--csv")


def test_annotate_folder_rules(folder, tmp_path):
    inputs = InputSet(sorted(folder.glob("*.jpg")), [folder])
    with pytest.raises(EmorecError, match="is the input folder"):
        check_output_folder(folder, option="--annotate", inputs=inputs)
    with pytest.raises(EmorecError, match="is a file, not a folder"):
        check_output_folder(folder / "a.jpg", option="--annotate", inputs=inputs)
    inside = check_output_folder(folder / "annotated", option="--annotate", inputs=inputs)
    mark_output_folder(inside)
    assert is_output_folder(inside)


def test_atomic_write_replaces_only_when_complete(tmp_path):
    target = tmp_path / "t.csv"
    target.write_text("good old table")
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as fh:
            fh.write("half")
            raise RuntimeError("crash")
    assert target.read_text() == "good old table"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]  # no temporary left behind
    with atomic_open(target, "w") as fh:
        fh.write("new")
    assert target.read_text() == "new"


def test_atomic_path_keeps_the_suffix_and_commits_on_ctrl_c(tmp_path):
    target = tmp_path / "plot.png"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            assert tmp.suffix == ".png" and tmp.parent == tmp_path
            tmp.write_bytes(b"partial")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"partial"
