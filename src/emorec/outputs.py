"""Output files that never destroy what the user gave us.

Every output option (``--csv``, ``--plot``, ``--annotate``, ``--out``, ``--json``) is
checked here *before* any work is done, against every input, named on the command line
or found inside a folder:

* an output is never one of the inputs, with or without ``--overwrite``
  (compared by resolved path and by inode, so hard links and symlinks count);
* an existing file is replaced only with ``--overwrite``, and never a folder,
  a FIFO or a device;
* the folder it goes into must exist and be writable;
* a file's suffix must be one the writer can produce (``--plot x.wav`` is refused);
* an ``--annotate`` folder may not be an input folder, and is marked
  (:data:`OUTPUT_MARKER`) so that a later run over its parent skips emorec's own copies.

Files are written to a temporary name beside the target and renamed over it only when
complete (:func:`atomic_path`, :func:`atomic_open`): a crash or Ctrl-C never leaves a
half-written table in place of a good one.

Example:
    >>> from pathlib import Path
    >>> check_output_file(Path("table.csv"), option="--csv", inputs=[Path("photo.jpg")])  # doctest: +SKIP
    PosixPath('table.csv')
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from emorec.errors import UsageError

OUTPUT_MARKER = ".emorec-output"  # a folder holding this file is skipped when inputs are searched
PLOT_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg")


def _same(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name the same file (same resolved path, or same inode)."""
    try:
        if a.resolve() == b.resolve():
            return True
    except (OSError, RuntimeError):  # symlink loops
        pass
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _identities(paths: Iterable[Path]) -> tuple[set[Path], set[tuple[int, int]]]:
    resolved: set[Path] = set()
    inodes: set[tuple[int, int]] = set()
    for p in paths:
        try:
            resolved.add(Path(p).resolve())
        except (OSError, RuntimeError):
            pass
        try:
            st = os.stat(p)
            inodes.add((st.st_dev, st.st_ino))
        except OSError:
            pass
    return resolved, inodes


class InputSet:
    """The inputs of a run (files named or found in folders, and the folders given),
    for fast "is this output one of them?" checks."""

    def __init__(self, files: Iterable[Path] = (), folders: Iterable[Path] = ()) -> None:
        self.files = [Path(p) for p in files]
        self.folders = [Path(p) for p in folders]
        self._resolved, self._inodes = _identities(self.files)

    def contains(self, path: Path) -> bool:
        try:
            if path.resolve() in self._resolved:
                return True
        except (OSError, RuntimeError):
            pass
        try:
            st = os.stat(path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) in self._inodes


def _as_inputs(inputs: InputSet | Iterable[Path]) -> InputSet:
    return (
        inputs
        if isinstance(inputs, InputSet)
        else InputSet([p for p in inputs if not Path(p).is_dir()], [p for p in inputs if Path(p).is_dir()])
    )


def check_output_file(
    path: Path,
    *,
    option: str,
    inputs: InputSet | Iterable[Path] = (),
    overwrite: bool = False,
    suffixes: tuple[str, ...] | None = None,
) -> Path:
    """Validate an output file before any work; return it, or raise a one-line UsageError."""
    path = Path(path)
    inputs = _as_inputs(inputs)
    if inputs.contains(path):
        raise UsageError(
            f"{option} {path} is one of the inputs: choose another file name "
            "(inputs are never overwritten, even with --overwrite)"
        )
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise UsageError(f"{option} {path}: use a file name ending in {', '.join(suffixes)}")
    if path.is_dir():
        example = path / ("out" + (suffixes[0] if suffixes else ""))
        raise UsageError(f"{option} {path} is a folder: give a file name inside it, e.g. {example}")
    if path.exists():
        if not path.is_file():
            raise UsageError(f"{option} {path} is not a regular file (a device or a pipe): choose a file name")
        if not overwrite:
            raise UsageError(f"{option} {path} already exists: pass --overwrite to replace it, or choose another name")
    _check_parent(path, option)
    return path


def check_output_folder(path: Path, *, option: str, inputs: InputSet | Iterable[Path] = ()) -> Path:
    """Validate an output folder (e.g. ``--annotate``) before any work; it may not exist yet."""
    path = Path(path)
    inputs = _as_inputs(inputs)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is a file, not a folder: choose a folder name")
    for folder in inputs.folders:
        if _same(path, folder):
            raise UsageError(
                f"{option} {path} is the input folder: its copies would be mixed with the "
                f"inputs; choose another folder (e.g. {path.parent / (path.name + '_annotated')})"
            )
    if inputs.contains(path):
        raise UsageError(f"{option} {path} is one of the inputs: choose another folder")
    if not path.exists():
        _check_parent(path, option, create_hint=True)
    elif not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: permission denied: choose a folder you can write to")
    return path


def mark_output_folder(path: Path) -> None:
    """Create ``path`` (if needed) and mark it as emorec's output, so input searches skip it."""
    path.mkdir(parents=True, exist_ok=True)
    marker = path / OUTPUT_MARKER
    if not marker.exists():
        marker.write_text(
            "Files written by emorec (annotated copies). emorec skips this folder "
            "when it searches folders for inputs.\n",
            encoding="utf-8",
        )


def is_output_folder(path: Path) -> bool:
    return (Path(path) / OUTPUT_MARKER).is_file()


def _check_parent(path: Path, option: str, create_hint: bool = False) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        what = "create it first" if not create_hint else "create it first, or choose another place"
        raise UsageError(f"folder {parent} for {option} does not exist: {what}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: permission denied in {parent}: choose a folder you can write to")


@contextlib.contextmanager
def atomic_path(path: Path, *, commit_on_interrupt: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); rename it over ``path`` on success.

    On an error the temporary file is removed and ``path`` is untouched. On Ctrl-C the
    partial file is kept under its name (``commit_on_interrupt``) so what was done survives.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
    except KeyboardInterrupt:
        if commit_on_interrupt and tmp.exists():
            os.replace(tmp, path)
        else:
            tmp.unlink(missing_ok=True)
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if tmp.exists():
        _keep_mode(path, tmp)
        os.replace(tmp, path)


def _keep_mode(path: Path, tmp: Path) -> None:
    """The new file gets the permissions of the one it replaces, or the usual umask default."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    with contextlib.suppress(OSError):
        os.chmod(tmp, mode)


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """``open()`` for writing through :func:`atomic_path`: the target appears only when complete."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
