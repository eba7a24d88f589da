"""Files written atomically: a temporary file beside the target, renamed onto it on success.

A crash or kill mid-write leaves the old file (or none), never a half-written one. The temporary
file of a writer killed outright (SIGKILL) is removed by the next write of the same target, once it
is older than :data:`STALE_S`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from scalesearch.errors import ScalesearchError


def _file_mode(target: Path) -> int:
    """The mode a new file would get (mkstemp's files are 0600); an existing target keeps its own."""
    if target.exists():
        return target.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


STALE_S = 3600.0
"""A temporary file this old belongs to no live writer (writes take seconds)."""


def _sweep(target: Path) -> None:
    """Remove temporary files that killed writers of ``target`` left beside it."""
    cutoff = time.time() - STALE_S
    for tmp in target.parent.glob(f".{target.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        if os.path.getsize(tmp) == 0:
            raise ScalesearchError(f"refusing to write an empty file to {target}")
        os.chmod(tmp, _file_mode(target))
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` to ``path`` atomically (UTF-8 for text) and return the path."""
    with atomic_path(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
    return Path(path)
