"""Write output files so that a reader never sees a half-written one.

The web server may serve `calendar.ics` while we rewrite it: we write a temporary file in the
same directory (so the rename stays on one file system), flush it to disk, then `os.replace` it
over the old file, which POSIX and Windows both do atomically. `Staging` does so for many files:
each written to its temporary file as soon as it is given (so it need not stay in memory), all
renamed only once every one is written, or none if the caller gives up.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import stat
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO, overload

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


class Staging:
    """Files written beside their targets under temporary names, put in place together.

    `add` writes one file's new bytes to a temporary file in the target's folder (nothing when
    the target already holds exactly these bytes: it keeps its inode and modification time), so
    the caller can let go of them at once; `commit` renames every temporary file over its target
    once all of them are written; `discard`, or leaving the `with` block without committing,
    removes them and leaves every target as it was. Outputs can thus be written one by one as
    they are rendered, without keeping them all in memory, and a reader still never sees a
    half-written file, nor a failed publication a mix of old and new files.

    A file added with `sync` is flushed to disk before its rename (as `atomic_write` does); the
    others are not (see `write_many` for that trade-off). Every folder is fsynced once after
    the renames.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[str, str]] = []  # (temporary, target)
        self._umask: int | None = None

    def add(self, path: Path | str, data: bytes | Sequence[bytes], *, sync: bool = False) -> bool:
        """Write `data` (bytes, or the parts to write one after the other: a big file need not
        be joined in memory) to a temporary file beside `path`, unless `path` holds exactly
        these bytes; return True if it will be replaced at `commit`. Raises `PublishError`."""
        name = os.fspath(path)
        mode = _mode_unless_same(name, data)
        if mode is None:
            log.debug("unchanged %s", name)
            return False
        if self._umask is None:
            self._umask = _umask()
        self._staged.append((_write_temporary(name, data, mode, self._umask, sync=sync), name))
        return True

    def __len__(self) -> int:
        return len(self._staged)

    def commit(self) -> list[str]:
        """Rename every staged file over its target, in the order added; return the targets.

        Raises `PublishError` if a rename fails; the files not renamed yet are then removed."""
        staged, self._staged = self._staged, []
        done = 0
        try:
            for tmp, name in staged:
                try:
                    os.replace(tmp, name)
                except OSError as exc:
                    raise PublishError(f"cannot write {name}: {_reason(exc)}") from exc
                done += 1
        finally:
            _remove(tmp for tmp, _ in staged[done:])
        names = [name for _, name in staged]
        for directory in sorted({os.path.dirname(name) for name in names}):
            _fsync_directory(Path(directory or "."))
        return names

    def discard(self) -> None:
        """Remove the temporary files: every target stays as it was."""
        staged, self._staged = self._staged, []
        _remove(tmp for tmp, _ in staged)

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()


def _remove(names: Iterable[str]) -> None:
    for name in names:
        with contextlib.suppress(OSError):
            os.unlink(name)


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

    Every temporary file is written before the first rename (`Staging`): if one cannot be
    written, none is renamed and the temporary files are removed, so the old files stay as they
    were; `proceed`, called once they are all written, can still call the writing off.
    """
    given: dict[str, Path | str] = {}
    with Staging() as staging:
        for path, data in files.items():
            if staging.add(path, data):
                given[os.fspath(path)] = path
        if proceed is not None and not proceed():
            return []  # called off: the temporary files are removed, nothing replaced
        written = staging.commit()
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


def _mode_unless_same(name: str, data: bytes | Sequence[bytes]) -> int | None:
    """None when the file `name` holds exactly `data` (read only when the size is the same,
    and piece by piece), else the mode to write it with: its own, or 0644 for a new file (one
    system call when it is missing: there are tens of thousands of these files)."""
    try:
        with open(name, "rb") as handle:
            stat = os.fstat(handle.fileno())
            if stat.st_size == _size(data) and _holds(handle, data):
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


# Files are compared with the bytes to write, and parts written, a megabyte at a time.
_CHUNK = 1 << 20


def _size(data: bytes | Sequence[bytes]) -> int:
    return len(data) if isinstance(data, bytes) else sum(map(len, data))


def _blocks(data: bytes | Sequence[bytes]) -> Iterator[bytes]:
    """`data` in blocks of about `_CHUNK` bytes (small parts joined, bytes sliced)."""
    if isinstance(data, bytes):
        if len(data) <= _CHUNK:
            yield data
        else:
            for start in range(0, len(data), _CHUNK):
                yield data[start : start + _CHUNK]
        return
    batch: list[bytes] = []
    size = 0
    for part in data:
        batch.append(part)
        size += len(part)
        if size >= _CHUNK:
            yield b"".join(batch)
            batch, size = [], 0
    if batch:
        yield b"".join(batch)


def _holds(handle: BinaryIO, data: bytes | Sequence[bytes]) -> bool:
    """Whether the rest of `handle` is exactly `data`."""
    for block in _blocks(data):
        if handle.read(len(block)) != block:
            return False
    return handle.read(1) == b""


def _write_temporary(
    name: str, data: bytes | Sequence[bytes], mode: int, umask: int, *, sync: bool = False
) -> str:
    """`data` in a new temporary file beside `name`, with `mode`; flushed to disk if `sync`."""
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
            for block in (data,) if isinstance(data, bytes) else _blocks(data):
                view = memoryview(block)
                while view:
                    view = view[os.write(fd, view) :]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise PublishError(f"cannot write {name}: {_reason(exc)}") from exc
    return tmp


# A temporary file this much older than a publication was left by one that died (killed, out
# of memory) before renaming it: a running publication renames its files within minutes.
_ABANDONED_SECONDS = 3600


def remove_abandoned(folder: Path, names: Iterable[str] | None = None) -> None:
    """Remove the temporary files (".<name>.<…>.tmp") a publication that died left in `folder`
    (`names`: its listing, if made already), which would otherwise stay there and be served
    with the site; best effort."""
    if names is None:
        try:
            names = os.listdir(folder)
        except OSError:
            return
    limit = time.time() - _ABANDONED_SECONDS
    for name in names:
        if not (name.startswith(".") and name.endswith(".tmp")):
            continue
        path = os.path.join(folder, name)
        try:
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) and info.st_mtime < limit:
                os.unlink(path)
                log.info("removed %s, left by a publication that did not finish", path)
        except OSError as exc:
            log.warning("cannot remove the abandoned temporary file %s: %s", path, _reason(exc))


def remove_stale(folder: Path, suffixes: str | tuple[str, ...], keep: set[str]) -> None:
    """Remove the files of `folder` with one of `suffixes` whose name is not in `keep` (files a
    previous publication wrote for what is no longer published), and the temporary files of a
    publication that died (`remove_abandoned`); raise `PublishError` if a stale file cannot be
    removed."""
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise PublishError(f"cannot list {folder}: {_reason(exc)}") from exc
    remove_abandoned(folder, names)
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


class PathList(Sequence[Path]):
    """Paths made a `Path` only when asked for: a publication lists tens of thousands of files,
    which its callers mostly count or turn back into strings (`strings`)."""

    def __init__(self, names: list[str], root: str = "") -> None:
        self._names = names
        self._root = root

    def strings(self) -> list[str]:
        """The paths as strings, as `str(path)` gives them."""
        root = self._root
        return [os.path.join(root, name) for name in self._names] if root else list(self._names)

    def __len__(self) -> int:
        return len(self._names)

    @overload
    def __getitem__(self, index: int) -> Path: ...
    @overload
    def __getitem__(self, index: slice) -> list[Path]: ...
    def __getitem__(self, index: int | slice) -> Path | list[Path]:
        root = self._root
        if isinstance(index, slice):
            return [Path(root, name) for name in self._names[index]]
        return Path(root, self._names[index])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PathList):
            return self.strings() == other.strings()
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PathList({len(self)} paths under {self._root or '.'!r})"


def write_in_background(
    write: Callable[..., list[Path]], files: Mapping[str, bytes], out_dir: Path
) -> BackgroundWrite:
    """Run `write(files, out_dir, proceed=...)` in a forked child; return its `BackgroundWrite`.

    The child creates every temporary file at once (the slow, I/O-bound part) while the caller
    goes on rendering, and then calls `proceed(said)`, which tells the parent it is ready
    (`said`, chunks of bytes for the parent, are handed one by one to `ready(receive)`) and
    waits: it renames the files into place only when told to commit, and removes them
    otherwise, so a publication that fails later leaves every file as it was. Only the names
    of `files` matter to the parent (the child may render the files itself). Where fork is
    unavailable, the work happens when the parent commits.
    """
    expected = PathList(sorted(files), os.fspath(out_dir))
    if not hasattr(os, "fork"):
        return _WriteLater(write, files, Path(out_dir), expected)
    go_read, go_write = os.pipe()
    result_read, result_write = os.pipe()
    # The parent's objects are left out of the child's collections: scanning them would cost
    # the child time and copy every page it touches (they are shared until written).
    gc.freeze()
    pid = -1
    try:
        pid = os.fork()
    finally:
        if pid != 0:
            gc.unfreeze()
    if pid == 0:  # the child: never returns
        os.close(go_write)
        os.close(result_read)
        status = 1
        try:

            def proceed(said: Iterable[bytes] = ()) -> bool:
                _write_all(result_write, _READY)
                for chunk in said:
                    if chunk:
                        _write_all(result_write, len(chunk).to_bytes(8, "big") + chunk)
                _write_all(result_write, bytes(8))
                return os.read(go_read, 1) == b"1"

            write(files, out_dir, proceed=proceed)
            status = 0
        except BaseException as exc:
            # A bug (not a file that cannot be written) is told with where it happened.
            told = str(exc) if isinstance(exc, PublishError) else _traceback(exc)
            _write_all(result_write, _FAILED + told.encode("utf-8", "replace")[-8192:])
        finally:
            os._exit(status)
    os.close(go_read)
    os.close(result_write)
    return _ForkedWrite(pid, go_write, result_read, expected, Path(out_dir))


# What the child says on the result pipe: every temporary file is written (followed by what
# it says then, chunk by chunk, each after its length, and a length of 0), or what failed.
_READY = b"+"
_FAILED = b"!"


def _traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)).rstrip()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, size: int) -> bytes:
    parts: list[bytes] = []
    while size > 0:
        part = os.read(fd, min(size, 1 << 20))
        if not part:
            raise OSError("the writer ended before saying everything")
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


class BackgroundWrite:
    """The files `write_in_background` writes: `ready()` waits until every temporary file is
    written (raising `PublishError` if the writing failed), then calling it with `commit` puts
    them in place (True: returns their paths) or removes them (False). Raises `PublishError`
    with the writer's message if it failed."""

    def ready(self, receive: Callable[[bytes], None] | None = None) -> None:
        raise NotImplementedError

    def tell(self, commit: bool) -> None:
        """Tell the writer whether to commit without waiting for it, so that several writers
        rename their files at once; calling it then waits for the answer. What is told is
        final: a writer told to commit is not called off by a later call with False."""

    def __call__(self, commit: bool) -> Sequence[Path]:
        raise NotImplementedError


class _ForkedWrite(BackgroundWrite):
    def __init__(self, pid: int, go: int, result: int, expected: PathList, out_dir: Path) -> None:
        self._pid = pid
        self._go = go
        self._result = result
        self._expected = expected
        self._out_dir = out_dir
        self._ready = False
        self._ended = False
        self._told: bool | None = None
        self._error: PublishError | None = None

    def ready(self, receive: Callable[[bytes], None] | None = None) -> None:
        if not self._ready and not self._ended:
            try:
                first = os.read(self._result, 1)
                if first == _READY:
                    while size := int.from_bytes(_read_exactly(self._result, 8), "big"):
                        chunk = _read_exactly(self._result, size)
                        if receive is not None:
                            receive(chunk)
                    self._ready = True
            except OSError:
                first = b""
            if not self._ready:
                self._end(first)
        if self._error is not None:
            raise self._error

    def tell(self, commit: bool) -> None:
        if not self._ended and self._told is None:
            self._told = commit
            with contextlib.suppress(OSError):
                os.write(self._go, b"1" if commit else b"0")

    def __call__(self, commit: bool) -> Sequence[Path]:
        if not self._ended:
            self.tell(commit)
            commit = bool(self._told)
            self._end(b"")
        if self._error is not None:
            raise self._error
        return self._expected if commit else []

    def _end(self, head: bytes) -> None:
        """Wait for the child to exit; keep its error, if it failed."""
        self._ended = True
        os.close(self._go)
        with os.fdopen(self._result, "rb") as pipe:
            said = head + pipe.read()
        _, status = os.waitpid(self._pid, 0)
        if status != 0:
            message = said.removeprefix(_READY).removeprefix(_FAILED).decode("utf-8", "replace")
            self._error = PublishError(message or f"writing the files under {self._out_dir} failed")


class _WriteLater(BackgroundWrite):
    """Without fork: `write` runs in this process when the files are committed."""

    def __init__(
        self,
        write: Callable[..., list[Path]],
        files: Mapping[str, bytes],
        out_dir: Path,
        expected: PathList,
    ) -> None:
        self._write = write
        self._files = files
        self._out_dir = out_dir
        self._expected = expected

    def ready(self, receive: Callable[[bytes], None] | None = None) -> None:
        pass

    def __call__(self, commit: bool) -> Sequence[Path]:
        if commit:
            self._write(self._files, self._out_dir)
            return self._expected
        return []
