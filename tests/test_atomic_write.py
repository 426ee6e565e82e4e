"""Atomic file replacement: the destination is the old file or the complete new one, never torn."""
import os
import stat

import pytest

from lstmcore._atomic import atomic_write


def test_replaces_whole_file(tmp_path):
    p = tmp_path / "f.txt"
    p.write_text("old")
    with atomic_write(p, "w") as f:
        f.write("new content")
    assert p.read_text() == "new content"
    assert sorted(os.listdir(tmp_path)) == ["f.txt"]  # no temporary file left


def test_failure_inside_block_keeps_old_file(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"good checkpoint")
    with pytest.raises(RuntimeError):
        with atomic_write(p) as f:
            f.write(b"half")
            raise RuntimeError("killed half-way")
    assert p.read_bytes() == b"good checkpoint"
    assert sorted(os.listdir(tmp_path)) == ["f.bin"]


def test_permissions_follow_umask(tmp_path):
    p = tmp_path / "f.bin"
    old = os.umask(0o022)
    try:
        with atomic_write(p) as f:
            f.write(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o644


def test_refuses_directory_and_bad_mode(tmp_path):
    with pytest.raises(ValueError, match="directory"):
        with atomic_write(tmp_path):
            pass
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(tmp_path / "x", "a"):
            pass
