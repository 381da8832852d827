"""Parse each document in a child process with a time and memory budget.

Parsers run third-party code (icalendar, feedparser, html5lib, extruct, dateparser) on documents
from sites we do not control. Whatever input makes one of them loop, recurse or allocate without
end, the run must go on: `ParseSandbox.parse` sends the document to a worker process and waits at
most `timeout` seconds, watching the worker's resident memory: past its size when it started
plus `memory` bytes, the worker is killed. Backstops in the worker itself: its address space is
capped (`RLIMIT_AS`, with room to spare, since a parser may swallow the MemoryError it causes)
and its CPU time at the timeout plus a margin (should the parent die while it works). A document
that passes a budget ends as that source's failure (`ParseBudgetExceeded`) and the worker is
replaced; every other source is still parsed.

The worker is forked once and reused across sources (forking costs a few milliseconds; the
parsers are imported before the fork, so a replacement worker starts warm). It only ever sees
plain data: a document, a source and a context in, a `ParseResult` or an error out.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import resource
import signal
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Final

from aggregator import runlock
from aggregator.config import Source
from aggregator.errors import ParseBudgetExceeded, ParseError
from aggregator.models import FEED, HTML, ICAL, Document, ParseContext, ParseResult
from aggregator.parsers import get_parser, parse_document

__all__ = ["DEFAULT_MEMORY", "DEFAULT_TIMEOUT", "ParseSandbox"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT: Final = 60.0
"""Seconds one document may take to parse (a 10 MB page takes about 15 s on a slow machine)."""
DEFAULT_MEMORY: Final = 200 * 1024 * 1024
"""Bytes of resident memory one parse may add to the worker (a 10,000-event calendar needs
about 60 MB; the whole run stays under 300 MB)."""

_CPU_MARGIN: Final = 5  # seconds of CPU past the timeout before the kernel stops a lost worker
_POLL: Final = 0.02  # seconds between two looks at the worker's memory
_ADDRESS_SLACK: Final = 2  # RLIMIT_AS leaves this many times the budget, the watch acts first
_OK, _FAILED, _BUG, _MEMORY = "ok", "failed", "bug", "memory"


class ParseSandbox:
    """A reusable worker process that parses one document at a time within a budget.

    Use it as a context manager (the worker is stopped on exit). `parse` has the contract of
    `aggregator.parsers.parse_document`: a `ParseResult`, or a `ParseError` saying why not.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, memory: int = DEFAULT_MEMORY) -> None:
        if timeout <= 0 or memory <= 0:
            raise ValueError("the parse timeout and memory budget must be positive")
        self.timeout = timeout
        self.memory = memory
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._rss_limit = 0
        self.restarts = 0

    def __enter__(self) -> ParseSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def worker_pid(self) -> int | None:
        """The worker's process id, None before it started."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Fork the worker now (before the parent holds fetched documents in memory)."""
        if self._process is not None and self._process.is_alive():
            return
        # Import every adapter before forking, so a replacement worker starts warm.
        for kind in (ICAL, FEED, HTML):
            get_parser(kind)
        context = multiprocessing.get_context("fork")
        parent_end, child_end = context.Pipe(duplex=True)
        process = context.Process(
            target=_worker,
            args=(child_end, parent_end, self.memory, self.timeout),
            name="aggregator-parse",
            daemon=True,
        )
        process.start()
        child_end.close()
        self._process, self._conn = process, parent_end
        # Right after the fork the worker's resident size is the parent's (shared pages).
        self._rss_limit = (_resident(process.pid) or _resident(os.getpid())) + self.memory

    def close(self) -> None:
        """Stop the worker (politely when idle, by force otherwise)."""
        conn, process = self._conn, self._process
        self._conn = self._process = None
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(None)
            conn.close()
        if process is not None:
            process.join(timeout=1)
            if process.is_alive():
                process.kill()
                process.join()

    def parse(self, document: Document, source: Source, context: ParseContext) -> ParseResult:
        """Parse `document` in the worker; raise `ParseBudgetExceeded` past the time or memory
        budget, `ParseError` for a document the parser rejects."""
        if self._process is not None and not self._process.is_alive():
            self._replace("had stopped while idle")  # not this document's fault
        self.start()
        assert self._conn is not None and self._process is not None
        started = time.monotonic()
        try:
            try:
                self._conn.send((document, source, context))
            except BrokenPipeError:  # stopped just now, before reading anything of ours
                self._replace("had stopped while idle")
                self.start()
                assert self._conn is not None
                self._conn.send((document, source, context))
            self._wait(source, document, started)
            kind, payload = self._conn.recv()
        except (EOFError, OSError) as exc:
            code = self._process.exitcode if self._process is not None else None
            self._replace(f"died on source {source.id} ({exc!r})")
            raise ParseBudgetExceeded(
                source.id,
                f"the parser process stopped while reading the document ({_death(code)}); "
                "it probably needed more memory than its budget",
                url=document.url,
            ) from exc
        log.debug("%s: parsed in the worker in %.3f s", source.id, time.monotonic() - started)
        pid = self._process.pid if self._process is not None else None
        if pid is not None and _resident(pid) > self._rss_limit - self.memory // 2:
            # Memory the parse kept (Python rarely returns it) would shrink the next source's
            # budget: start the next one in a fresh worker.
            self._replace(f"kept memory after source {source.id}")
        if kind == _OK:
            result: ParseResult = payload
            return result
        if kind == _FAILED:
            raise ParseError(source.id, payload, url=document.url)
        if kind == _MEMORY:
            self._replace(f"out of memory on source {source.id}")
            raise ParseBudgetExceeded(source.id, self._memory_message(), url=document.url)
        raise ParseError(
            source.id, f"internal error while reading the document ({payload})", url=document.url
        )

    def _wait(self, source: Source, document: Document, started: float) -> None:
        """Wait for the worker's answer within the budget; kill it and raise past either."""
        assert self._conn is not None and self._process is not None
        deadline = started + self.timeout
        pid = self._process.pid
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._replace(f"timed out on source {source.id}")
                raise ParseBudgetExceeded(
                    source.id,
                    f"reading the document took longer than {self.timeout:g} s; it may be "
                    "pathological (deep nesting, runaway recurrence) or far too large",
                    url=document.url,
                )
            if self._conn.poll(min(_POLL, remaining)):
                return
            if pid is not None and _resident(pid) > self._rss_limit:
                self._replace(f"went past its memory budget on source {source.id}")
                raise ParseBudgetExceeded(source.id, self._memory_message(), url=document.url)

    def _memory_message(self) -> str:
        return (
            f"reading the document needed more than {self.memory >> 20} MB of memory; it may be "
            "pathological or far too large"
        )

    def _replace(self, why: str) -> None:
        """Kill the worker; the next parse forks a fresh one."""
        log.info("parse worker %s; replacing it", why)
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if process is not None and process.is_alive():
            process.kill()
        if process is not None:
            process.join()
        if conn is not None:
            conn.close()
        self.restarts += 1


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}" if exitcode is not None else "no exit status"


def _statm(pid: int | str, field: int) -> int:
    """A size from /proc/<pid>/statm in bytes (Linux; 0 where /proc is missing)."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
            return int(statm.read().split()[field]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


def _resident(pid: int) -> int:
    return _statm(pid, 1)


def _address_space() -> int:
    return _statm("self", 0)


def _worker(conn: Connection, parent_end: Connection, memory: int, timeout: float) -> None:
    """The worker's loop: receive (document, source, context), answer (kind, payload)."""
    parent_end.close()
    runlock.close_inherited()
    # Ctrl-C reaches the whole process group; the parent decides, the worker only stops with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    base = _address_space()
    if base:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = base + _ADDRESS_SLACK * memory
        if hard == resource.RLIM_INFINITY or limit < hard:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if request is None:
            return
        used = resource.getrusage(resource.RUSAGE_SELF)
        cpu = int(used.ru_utime + used.ru_stime + timeout) + _CPU_MARGIN
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, resource.RLIM_INFINITY))
        answer = _parse_one(*request)
        try:
            conn.send(answer)
        except MemoryError:  # the result itself does not fit: the document was too much
            conn.send((_MEMORY, None))
            return
        except (OSError, ValueError):
            return
        if answer[0] == _MEMORY:
            return  # a worker that ran out of memory may be in a bad state: start afresh


def _parse_one(document: Document, source: Source, context: ParseContext) -> tuple[str, Any]:
    try:
        return _OK, parse_document(document, source, context)
    except ParseError as exc:
        return _FAILED, exc.reason
    except MemoryError:
        return _MEMORY, None
    except RecursionError:
        return _FAILED, "the document is nested too deeply to be read"
    except Exception as exc:  # a parser bug must not stop the other sources
        log.exception("unexpected error while parsing source %s", source.id)
        return _BUG, f"{type(exc).__name__}: {exc}"
