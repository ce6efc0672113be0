"""Atomic output: write to a temporary file beside the target, then rename.

A crash, a full disk or Ctrl-C leaves either the old file or no file, never half a file.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import InputError


@contextlib.contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path in the target's directory; rename it onto ``path`` on success.

    Use for writers that insist on a file name (pysam, pyarrow).  The temporary file keeps
    ``suffix`` (e.g. ``.bam``) so that format detection by extension still works.

    Raises
    ------
    InputError
        If the output directory does not exist or is not writable.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"{path}: output directory {directory} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"{path}: cannot write in {directory}: {exc.strerror}") from exc
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file 0600; give it the mode a plain open() would (0666 & ~umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def output_directory(path):
    """Create the directory ``path`` (and missing parents) for a command's outputs, and yield it.

    If the body fails, the directories this call created are removed again when they are
    still empty, so a failed ``run`` leaves nothing behind.

    Raises
    ------
    InputError
        If ``path`` cannot be created (an existing file, a read-only place).
    """
    path = Path(path)
    created, p = [], path
    while not p.exists() and p != p.parent:
        created.append(p)  # deepest first
        p = p.parent
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{path}: cannot create output directory: {exc.strerror or exc}") from exc
    try:
        yield path
    except BaseException:
        for d in created:
            with contextlib.suppress(OSError):
                d.rmdir()  # only when empty
        raise


def write_text_atomic(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise InputError(f"{path}: write failed: {exc.strerror}") from exc


def write_bytes_atomic(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise InputError(f"{path}: write failed: {exc.strerror}") from exc
