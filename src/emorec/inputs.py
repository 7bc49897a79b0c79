"""Opening user files safely, with messages that say what is really wrong.

* Only regular files are read: ``/dev/zero``, a FIFO named ``fifo.jpg`` or a socket are
  refused before anything is read (a FIFO is never opened for reading, so nothing hangs).
* The size is checked before reading (``max_bytes``), and reading stops one byte past it.
* A symbolic link loop says so (not "file not found"), a dangling link names its target,
  and a file we may not read says "permission denied".
* :func:`find_files` walks a folder and reports the entries it could not use (symlink
  loops, dangling links, unreadable files) instead of dropping them silently, and skips
  folders that hold emorec's own outputs (:data:`emorec.outputs.OUTPUT_MARKER`).
* :func:`escape_name` makes a file name safe for one-line text output.

Example:
    >>> escape_name("a\\nb.jpg")
    'a\\\\nb.jpg'
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from emorec.errors import InputError

DEFAULT_MAX_FILE_BYTES = 1 << 30  # 1 GiB: larger "images" are refused before reading


def path_problem(path: str | os.PathLike[str], label: str | None = None, what: str = "file") -> str | None:
    """Why ``path`` cannot be read as a regular file, as one line, or None when it can."""
    label = label or str(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        return _os_problem(Path(path), label, exc)
    if stat.S_ISDIR(st.st_mode):
        return f"{label}: is a folder, not a {what}"
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a named pipe (FIFO)"
            if stat.S_ISFIFO(st.st_mode)
            else "a device"
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "not a regular file"
        )
        return f"{label}: is {kind}, not a regular {what}: copy the data into a file first"
    if not os.access(path, os.R_OK):
        return f"{label}: permission denied: make the file readable (chmod +r) or run as its owner"
    return None


def _os_problem(path: Path, label: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return f"{label}: symbolic link loop (the link points back to itself): fix or remove the link"
    if exc.errno == errno.ENOENT:
        if path.is_symlink():
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            return f"{label}: broken symbolic link (points to {target}, which does not exist)"
        return f"{label}: file not found: check the path"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{label}: permission denied: make the file (and its folders) readable"
    if exc.errno == errno.ENAMETOOLONG:
        return f"{label}: the file name is too long for this system"
    return f"{label}: cannot read the file ({exc.strerror or exc}): check the disk or copy it elsewhere"


def check_input_file(
    path: str | os.PathLike[str], label: str | None = None, what: str = "file", max_bytes: int | None = None
) -> int:
    """Raise InputError unless ``path`` is a readable regular file within ``max_bytes``; its size."""
    problem = path_problem(path, label, what)
    if problem:
        raise InputError(problem)
    size = os.stat(path).st_size
    if max_bytes is not None and size > max_bytes:
        raise InputError(f"{label or path}: the file is {_fmt(size)}, over the {_fmt(max_bytes)} limit for a {what}")
    return size


def read_bytes(
    path: str | os.PathLike[str], label: str | None = None, what: str = "file", max_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``, or one-line InputError."""
    label = label or str(path)
    check_input_file(path, label, what, max_bytes)
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO after the check, open still returns at once.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(_os_problem(Path(path), label, exc)) from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(f"{label}: is not a regular {what}: copy the data into a file first")
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise InputError(_os_problem(Path(path), label, exc)) from None
    if len(data) > max_bytes:
        raise InputError(f"{label}: the file is over the {_fmt(max_bytes)} limit for a {what}")
    return data


def _fmt(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_name(name: str) -> str:
    """A file name for one-line text output: control characters written as escapes."""
    if not any(ord(c) < 0x20 or c == "\x7f" for c in name):
        return name
    return "".join(_ESCAPES.get(c, f"\\x{ord(c):02x}") if ord(c) < 0x20 or c == "\x7f" else c for c in name)


@dataclass
class Found:
    """What a folder search found: usable files, and entries that could not be used (with why)."""

    files: list[Path] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)
    skipped: int = 0  # other files (wrong extension)


def find_files(folder: Path, extensions: Iterable[str], recursive: bool = True, exclude: Iterable[Path] = ()) -> Found:
    """Files under ``folder`` with one of ``extensions``, sorted; hidden entries, ``exclude``
    folders, symlinked folders (no loops) and emorec output folders are skipped. Matching
    names that cannot be used (symlink loops, broken links, unreadable) are reported."""
    from emorec.outputs import OUTPUT_MARKER

    wanted = {e.lower() for e in extensions}
    excluded = set()
    for p in exclude:
        try:
            excluded.add(Path(p).resolve())
        except (OSError, RuntimeError):
            pass
    found = Found()
    for root, dirs, names in os.walk(folder):  # does not follow symlinked folders
        root_path = Path(root)
        keep = []
        for d in sorted(dirs):
            sub = root_path / d
            if d.startswith(".") or not recursive:
                continue
            try:
                if sub.resolve() in excluded or (sub / OUTPUT_MARKER).is_file():
                    continue
            except (OSError, RuntimeError):
                continue
            keep.append(d)
        dirs[:] = keep
        for n in sorted(names):
            if n.startswith("."):
                continue
            path = root_path / n
            if path.suffix.lower() not in wanted:
                found.skipped += 1
                continue
            problem = path_problem(path)
            if problem is None:
                found.files.append(path)
            elif "is a folder" in problem:  # a symlink to a folder: not followed, not an error
                continue
            else:
                found.problems.append((path, problem))
    found.files.sort(key=lambda p: p.relative_to(folder).parts)
    found.problems.sort(key=lambda item: item[0].relative_to(folder).parts)
    return found


def declared_image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height written in a PNG, GIF or BMP header (for files PIL refuses, e.g. 0x0)."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
            return int(w), int(h)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            w, h = struct.unpack("<HH", data[6:10])
            return int(w), int(h)
        if data[:2] == b"BM" and len(data) >= 26:
            w, h = struct.unpack("<ii", data[18:26])
            return abs(int(w)), abs(int(h))
    except struct.error:
        return None
    return None
