"""Atomic output: a failed write leaves no file and no temporary behind."""
import pytest

from microchimera._atomic import atomic_path, write_text_atomic
from microchimera.errors import InputError


def test_atomic_path__failure_leaves_nothing(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path__success_replaces_old_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_path__missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        write_text_atomic(tmp_path / "nope" / "x.txt", "x")


def test_atomic_path__file_gets_default_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "x.txt", "x")
    finally:
        os.umask(umask)
    assert (tmp_path / "x.txt").stat().st_mode & 0o777 == 0o644
