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
from collections.abc import Callable, Mapping
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


def write_many(
    files: Mapping[Path, bytes] | Mapping[str, bytes], *, proceed: Callable[[], bool] | None = None
) -> list[Path | str]:
    """Write many small files, each atomically and only if its bytes changed; return the keys of
    `files` written.

    For the per-event calendars (one file per event, tens of thousands). Each file still goes
    through a temporary file and `os.replace`, so a reader never sees a half-written one. What is
    given up is the fsync of every file before its rename, which cost more than the rendering
    (two fsyncs a file: over 20 s for 20,000 files); each directory is fsynced once after the
    renames. After a power cut a just-written file might be empty on disk: the next publication
    sees that its bytes differ and writes it again, since these files are only derived from the
    store. Files that already hold the same bytes are not touched.

    Every temporary file is written before the first rename: if one cannot be written, none is
    renamed and the temporary files are removed, so the old files stay as they were.
    """
    staged: list[tuple[str, str]] = []  # (temporary, final)
    written: list[str] = []
    given: dict[str, Path | str] = {}
    try:
        umask = _umask()
        for path, data in files.items():
            name = os.fspath(path)
            mode = _mode_unless_same(name, data)
            if mode is None:
                continue
            given[name] = path
            staged.append((_write_temporary(name, data, mode, umask), name))
        if proceed is not None and not proceed():
            return []  # called off: the temporary files are removed below, nothing replaced
        for tmp, name in staged:
            try:
                os.replace(tmp, name)
            except OSError as exc:
                raise PublishError(f"cannot write {name}: {_reason(exc)}") from exc
            written.append(name)
    finally:
        for tmp, _ in staged[len(written) :]:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    for directory in sorted({os.path.dirname(name) for name in written}):
        _fsync_directory(Path(directory or "."))
    log.debug("wrote %d of %d files", len(written), len(files))
    return [given[name] for name in written]


def _umask() -> int:
    """The process's umask where the system tells it without changing it (Linux), else all
    bits set (then every file's mode is set after creating it)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o777


def _mode_unless_same(name: str, data: bytes) -> int | None:
    """None when the file `name` holds exactly `data` (read only when the size is the same),
    else the mode to write it with: its own, or 0644 for a new file (one system call when it is
    missing: there are tens of thousands of these files)."""
    try:
        with open(name, "rb") as handle:
            stat = os.fstat(handle.fileno())
            if stat.st_size == len(data) and handle.read() == data:
                return None
            return stat.st_mode & 0o777
    except FileNotFoundError:
        return DEFAULT_MODE
    except OSError:
        # Unreadable: write it (and report that failure if any), keeping its mode if known.
        try:
            return os.stat(name).st_mode & 0o777
        except OSError:
            return DEFAULT_MODE


def _write_temporary(name: str, data: bytes, mode: int, umask: int) -> str:
    """`data` in a new temporary file beside `name`, with `mode`; no fsync."""
    folder, base = os.path.split(name)
    tmp = os.path.join(folder, f".{base}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        # Left by a process that died with our pid: take a fresh name rather than guess.
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=folder or ".")
        except OSError as exc:
            raise PublishError(f"cannot write {name}: {_reason(exc)}") from exc
        umask = 0o777  # mkstemp's 0600: always set the mode
    except OSError as exc:
        raise PublishError(f"cannot write {name}: {_reason(exc)}") from exc
    try:
        try:
            if mode & umask:  # the umask narrowed the mode given to os.open
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise PublishError(f"cannot write {name}: {_reason(exc)}") from exc
    return tmp


def remove_stale(folder: Path, suffixes: str | tuple[str, ...], keep: set[str]) -> None:
    """Remove the files of `folder` with one of `suffixes` whose name is not in `keep` (files a
    previous publication wrote for what is no longer published); raise `PublishError` if one
    cannot be removed."""
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise PublishError(f"cannot list {folder}: {_reason(exc)}") from exc
    for name in names:
        if name.endswith(suffixes) and not name.startswith(".") and name not in keep:
            stale = Path(folder) / name
            if not stale.is_file():
                continue
            try:
                stale.unlink()
            except OSError as exc:
                raise PublishError(f"cannot remove the stale file {stale}: {_reason(exc)}") from exc
            log.info("removed %s", stale)


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


def write_in_background(
    write: Callable[..., list[Path]], files: dict[str, bytes], out_dir: Path
) -> Callable[[bool], list[Path]]:
    """Run `write(files, out_dir, proceed=...)` in a forked child; return `finish(commit)`.

    The child creates every temporary file at once (the slow, I/O-bound part) while the caller
    goes on rendering; it renames them into place only when `finish(True)` is called, and
    removes them on `finish(False)`, so a publication that fails later leaves every file as it
    was. `finish` returns the files' paths or raises `PublishError` with the child's message.
    Where fork is unavailable, the work happens in `finish`.
    """
    expected = [Path(out_dir) / name for name in sorted(files)]
    if not hasattr(os, "fork"):

        def finish_here(commit: bool) -> list[Path]:
            return write(files, out_dir) if commit else []

        return finish_here
    go_read, go_write = os.pipe()
    result_read, result_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(go_write)
        os.close(result_read)
        status = 1
        try:

            def proceed() -> bool:
                return os.read(go_read, 1) == b"1"

            write(files, out_dir, proceed=proceed)
            status = 0
        except BaseException as exc:
            os.write(result_write, str(exc).encode("utf-8", "replace")[:8192])
        finally:
            os._exit(status)
    os.close(go_read)
    os.close(result_write)

    def finish(commit: bool) -> list[Path]:
        with contextlib.suppress(OSError):
            os.write(go_write, b"1" if commit else b"0")
        os.close(go_write)
        with os.fdopen(result_read, "rb") as pipe:
            message = pipe.read().decode("utf-8", "replace")
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise PublishError(message or f"writing the files under {out_dir} failed")
        return expected if commit else []

    return finish
