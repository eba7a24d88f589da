"""Files are written whole or not at all, and killed writers' temporary files do not pile up."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from scalesearch.atomic import STALE_S, atomic_path, write_atomic
from scalesearch.errors import ScalesearchError


def test_write_replaces_the_target_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    target.write_text("{}")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "{}" and sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]
    with pytest.raises(ScalesearchError, match="refusing to write an empty file"):
        write_atomic(target, "")


def test_stale_temporary_files_of_killed_writers_are_swept(tmp_path: Path) -> None:
    target = tmp_path / "front.png"
    stale, fresh, other = (
        tmp_path / n for n in (".front.png.abc.tmp", ".front.png.def.tmp", ".x.png.abc.tmp")
    )
    for p in (stale, fresh, other):
        p.write_bytes(b"partial")
    old = time.time() - STALE_S - 60
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    write_atomic(target, b"png")
    assert not stale.exists()  # a killed writer's leftover
    assert fresh.exists()  # may belong to a writer still at work
    assert other.exists()  # another target's


def test_sigterm_stops_a_command_like_ctrl_c_so_its_temporary_file_goes(tmp_path: Path) -> None:
    import signal

    from scalesearch.cli.main import _sigterm_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    target = tmp_path / "report.html"
    with pytest.raises(KeyboardInterrupt), _sigterm_as_interrupt(), atomic_path(target) as tmp:
        tmp.write_text("half a page")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # never reached: the signal interrupts at once
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is before
