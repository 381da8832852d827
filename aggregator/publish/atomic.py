"""Write output files so that a reader never sees a half-written one.

The web server may serve `calendar.ics` while we rewrite it: we write a temporary file in the
same directory (so the rename stays on one file system), flush it to disk, then `os.replace` it
over the old file, which POSIX and Windows both do atomically.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

from aggregator.errors import PublishError

log = logging.getLogger(__name__)

# Published files are read by a web server running as another user: mkstemp's 0600 would hide them.
DEFAULT_MODE = 0o644


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically; raise `PublishError` if it cannot be done.

    On any failure the temporary file is removed and the previous file, if any, is left intact.
    The new file keeps the old file's permissions, or gets 0644.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = DEFAULT_MODE
    except OSError as exc:
        raise PublishError(f"cannot write {path}: {_reason(exc)}") from exc

    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise PublishError(f"cannot write {path}: {_reason(exc)}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise PublishError(f"cannot write {path}: {_reason(exc)}") from exc
        raise
    _fsync_directory(path.parent)
    log.debug("wrote %s (%d bytes)", path, len(data))


def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically write `data` unless `path` already holds exactly these bytes.

    Skipping an identical file keeps its modification time, so the web server's Last-Modified and
    ETag stay the same and calendar clients get a cheap 304. Returns True if the file was written.
    """
    path = Path(path)
    try:
        if path.read_bytes() == data:
            log.debug("unchanged %s", path)
            return False
    except OSError:
        pass  # missing or unreadable: try to write it, and report that failure if any
    atomic_write(path, data)
    return True


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; best effort, as not every system can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
