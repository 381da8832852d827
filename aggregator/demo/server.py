"""A real HTTP server on 127.0.0.1, for the demo command and the end-to-end tests.

`LoopbackServer` runs the standard library's `ThreadingHTTPServer` in a background thread on a free
port. It serves files from an optional root folder plus routes registered with `add()`, and can
play every behaviour the fetcher must cope with: ETag / Last-Modified validators and 304s, slow
answers, server errors for the next n requests, redirects, gzip, and huge streamed bodies that are
never held in memory. It records what it saw (hits per path, request headers, the most requests
in flight at once, bytes actually sent) so tests can assert on the client's behaviour over a real
socket instead of a mock.

    with LoopbackServer(root=Path("demo/files")) as server:
        server.add("/feed.xml", b"<rss/>", content_type="application/rss+xml")
        fetch(server.url("/feed.xml"))
        assert server.hits("/feed.xml") == 1
"""

from __future__ import annotations

import contextlib
import enum
import gzip as gzip_module
import hashlib
import ipaddress
import logging
import socket
import socketserver
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Final
from urllib.parse import unquote, urlsplit

__all__ = ["AUTO", "CONTENT_TYPES", "LoopbackServer", "Route"]

logger = logging.getLogger(__name__)


class _Auto(enum.Enum):
    """Sentinel type: let the server compute the value (an ETag from the body's SHA-1)."""

    AUTO = "auto"


AUTO: Final = _Auto.AUTO

# Content types for files served from `root`, by extension; anything else is octet-stream.
CONTENT_TYPES: Final[Mapping[str, str]] = {
    ".ics": "text/calendar; charset=utf-8",
    ".ical": "text/calendar; charset=utf-8",
    ".xml": "application/rss+xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    # The published pages' own stylesheet, script and icon.
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}

_CHUNK: Final = 64 * 1024
# Idle keep-alive connections are dropped after this, so handler threads never linger.
_IDLE_TIMEOUT: Final = 5.0


@dataclass(frozen=True, slots=True)
class Route:
    """What the server answers for one path (see `LoopbackServer.add`)."""

    body: bytes = b""
    content_type: str = "application/octet-stream"
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    etag: str | None = None
    last_modified: str | None = None
    gzip: bool = False
    redirect_to: str | None = None
    stream_bytes: int | None = None
    chunked: bool = False


def _etag_for(body: bytes) -> str:
    return '"' + hashlib.sha1(body, usedforsecurity=False).hexdigest() + '"'


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match uses weak comparison: W/"x" matches "x"; '*' matches anything."""
    wanted = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


def _not_modified_since(header: str, last_modified: str) -> bool:
    try:
        since = parsedate_to_datetime(header)
        modified = parsedate_to_datetime(last_modified)
    except (TypeError, ValueError):
        # A malformed date in either header means "no valid condition": answer in full.
        return False
    if since.tzinfo is None or modified.tzinfo is None:
        return False
    return modified <= since


class _Handler(BaseHTTPRequestHandler):
    """Answers one connection's requests from the owning LoopbackServer's routes and root."""

    # HTTP/1.1 gives keep-alive and chunked transfer, as real servers do.
    protocol_version = "HTTP/1.1"
    timeout = _IDLE_TIMEOUT
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: the default implementation writes every request to stderr."""

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        owner = self.server.owner
        path = urlsplit(self.path).path
        headers = {name.lower(): value for name, value in self.headers.items()}
        owner._request_started(path, headers)
        try:
            failure = owner._take_failure(path)
            route = owner._route(path)
            if route is not None and route.delay and owner._stopping.wait(route.delay):
                # Shutting down: hang up rather than keep the client waiting for an answer.
                self.close_connection = True
                return
            if failure is not None:
                self._send_simple(failure, f"simulated failure {failure}\n", send_body)
            elif route is None:
                self._send_simple(404, "not found\n", send_body)
            elif route.redirect_to is not None:
                self._redirect(route, send_body)
            else:
                self._send_route(path, route, headers, send_body)
        except (BrokenPipeError, ConnectionResetError):
            # The client hung up (size cap, timeout): expected, not an error to report.
            self.close_connection = True
        finally:
            owner._request_finished()

    def _send_simple(self, status: int, text: str, send_body: bool) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _redirect(self, route: Route, send_body: bool) -> None:
        assert route.redirect_to is not None
        status = route.status if 300 <= route.status < 400 else HTTPStatus.FOUND
        location = route.redirect_to
        if location.startswith("/"):
            location = self.server.owner.url(location)
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        for name, value in route.headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _send_route(
        self, path: str, route: Route, request: Mapping[str, str], send_body: bool
    ) -> None:
        if self._is_not_modified(route, request):
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self._send_validators(route)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return

        body = route.body
        compress = route.gzip and "gzip" in request.get("accept-encoding", "")
        if compress and route.stream_bytes is None:
            body = gzip_module.compress(body)
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        self._send_validators(route)
        if compress and route.stream_bytes is None:
            self.send_header("Content-Encoding", "gzip")
        for name, value in route.headers.items():
            self.send_header(name, value)
        length = route.stream_bytes if route.stream_bytes is not None else len(body)
        if route.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if not send_body:
            return
        for chunk in self._chunks(route, body):
            if route.chunked:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            else:
                self.wfile.write(chunk)
            self.server.owner._sent(path, len(chunk))
        if route.chunked:
            self.wfile.write(b"0\r\n\r\n")

    @staticmethod
    def _chunks(route: Route, body: bytes) -> Iterator[bytes]:
        """The body in pieces; a stream is generated chunk by chunk so it never sits in memory."""
        if route.stream_bytes is None:
            for start in range(0, len(body), _CHUNK):
                yield body[start : start + _CHUNK]
            return
        block = b"x" * _CHUNK
        remaining = route.stream_bytes
        while remaining > 0:
            piece = block if remaining >= _CHUNK else block[:remaining]
            remaining -= len(piece)
            yield piece

    def _send_validators(self, route: Route) -> None:
        if route.etag is not None:
            self.send_header("ETag", route.etag)
        if route.last_modified is not None:
            self.send_header("Last-Modified", route.last_modified)

    @staticmethod
    def _is_not_modified(route: Route, request: Mapping[str, str]) -> bool:
        # RFC 9110 §13.2.2: If-None-Match, when present, wins over If-Modified-Since.
        if_none_match = request.get("if-none-match")
        if if_none_match is not None:
            return route.etag is not None and _etag_matches(if_none_match, route.etag)
        if_modified_since = request.get("if-modified-since")
        if if_modified_since is not None and route.last_modified is not None:
            return _not_modified_since(if_modified_since, route.last_modified)
        return False


class _Server(ThreadingHTTPServer):
    """The socket server, carrying a reference back to its LoopbackServer."""

    daemon_threads = True  # a stuck client must never block shutdown

    def __init__(self, owner: LoopbackServer) -> None:
        self.owner = owner
        super().__init__((owner.host, 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer's looks the host's name up (socket.getfqdn), which stalls 5 s for some
        # loopback addresses on a machine without a resolver; nothing here uses the name.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: object, client_address: object) -> None:
        """Log at debug level instead of printing a traceback on stderr (clients hang up a lot)."""
        logger.debug("loopback server: error while answering %s", client_address, exc_info=True)


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 (free port), started and stopped as a context manager.

    Files under `root` are served with a content type guessed from their extension, an ETag from
    their content and a Last-Modified from their modification time. Routes added with `add()` take
    precedence over files.
    """

    def __init__(self, root: Path | None = None, *, host: str = "127.0.0.1") -> None:
        # Any 127.x address works on Linux (all of 127/8 is routed to lo): a benchmark can play
        # many distinct hosts. Anything but loopback would expose the server beyond this machine.
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the loopback server only listens on loopback addresses: {host}")
        self.host = host
        self.root = root.resolve() if root is not None else None
        self.requests: list[tuple[str, dict[str, str]]] = []
        """Every request seen, in order: (path without query, headers with lower-cased names)."""
        self._routes: dict[str, Route] = {}
        self._failures: dict[str, tuple[int, int]] = {}
        self._hits: Counter[str] = Counter()
        self._bytes_sent: Counter[str] = Counter()
        self._in_flight = 0
        self._max_in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> LoopbackServer:
        """Bind a free port on `host` (127.0.0.1 by default) and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("the loopback server is already running")
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            # No polling: an idle server sleeps until a client calls (a benchmark serves 200
            # hosts from one process, whose polling took 13 % of a core from the client it
            # measures); `stop` wakes it.
            kwargs={"poll_interval": None},
            name=f"loopback-http-{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.debug("loopback server listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread. Safe to call twice."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wake handlers sleeping on a `delay`
        # shutdown() only asks serve_forever to stop, which it sees once its socket wakes it:
        # knock until it has.
        shutting = threading.Thread(target=server.shutdown, daemon=True)
        shutting.start()
        while shutting.is_alive():
            with (
                contextlib.suppress(OSError),
                socket.create_connection(server.server_address[:2], 1),
            ):
                pass
            shutting.join(0.05)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the loopback server is not running; use it as a context manager")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """E.g. "http://127.0.0.1:40123" (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        """The full address of `path` on this server."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # -- configuration ----------------------------------------------------------------------

    def add(
        self,
        path: str,
        body: bytes = b"",
        *,
        content_type: str = "text/plain; charset=utf-8",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        etag: str | _Auto | None = AUTO,
        last_modified: str | None = None,
        gzip: bool = False,
        redirect_to: str | None = None,
        stream_bytes: int | None = None,
        chunked: bool = False,
    ) -> None:
        """Answer GET `path` as described.

        `etag` defaults to the SHA-1 of the body (None: send no ETag). `delay` seconds pass
        before the status line, so a client's read timeout fires. `gzip` compresses the body when
        the client accepts it. `redirect_to` (a path or full URL) answers a redirect, with `status`
        if it is a 3xx, else 302. `stream_bytes` sends that many generated bytes instead of
        `body`, chunk by chunk, never holding them in memory. `chunked` uses chunked transfer
        encoding instead of a Content-Length (the only way a client cannot know the size early).
        """
        if not path.startswith("/"):
            raise ValueError(f"route paths start with '/': {path!r}")
        if isinstance(etag, _Auto):
            etag = _etag_for(body) if stream_bytes is None and redirect_to is None else None
        route = Route(
            body=body,
            content_type=content_type,
            status=status,
            headers=dict(headers or {}),
            delay=delay,
            etag=etag,
            last_modified=last_modified,
            gzip=gzip,
            redirect_to=redirect_to,
            stream_bytes=stream_bytes,
            chunked=chunked,
        )
        with self._lock:
            self._routes[path] = route

    def set_failures(self, path: str, n: int, status: int = 500) -> None:
        """Make the next `n` requests to `path` answer `status` (then serve normally again)."""
        with self._lock:
            if n > 0:
                self._failures[path] = (n, status)
            else:
                self._failures.pop(path, None)

    # -- observations -----------------------------------------------------------------------

    def hits(self, path: str) -> int:
        """How many requests reached `path` (query string ignored)."""
        with self._lock:
            return self._hits[path]

    def headers_for(self, path: str) -> list[dict[str, str]]:
        """The headers of each request to `path`, oldest first (names lower-cased)."""
        with self._lock:
            return [headers for seen, headers in self.requests if seen == path]

    def bytes_sent(self, path: str) -> int:
        """Body bytes written to the socket for `path` before the client went away."""
        with self._lock:
            return self._bytes_sent[path]

    @property
    def max_in_flight(self) -> int:
        """The most requests this server was answering at the same time."""
        with self._lock:
            return self._max_in_flight

    def reset_stats(self) -> None:
        """Forget hits, recorded requests, bytes sent and the in-flight maximum."""
        with self._lock:
            self.requests.clear()
            self._hits.clear()
            self._bytes_sent.clear()
            self._max_in_flight = self._in_flight

    # -- used by the handler threads --------------------------------------------------------

    def _request_started(self, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((path, headers))
            self._hits[path] += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _request_finished(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _sent(self, path: str, count: int) -> None:
        with self._lock:
            self._bytes_sent[path] += count

    def _take_failure(self, path: str) -> int | None:
        with self._lock:
            pending = self._failures.get(path)
            if pending is None:
                return None
            remaining, status = pending
            if remaining <= 1:
                del self._failures[path]
            else:
                self._failures[path] = (remaining - 1, status)
            return status

    def _route(self, path: str) -> Route | None:
        with self._lock:
            route = self._routes.get(path)
        return route if route is not None else self._file_route(path)

    def _file_route(self, path: str) -> Route | None:
        """A route for a file under `root`, or None (missing, a folder, or outside the root)."""
        if self.root is None:
            return None
        candidate = (self.root / unquote(path).lstrip("/")).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        body = candidate.read_bytes()
        return Route(
            body=body,
            content_type=CONTENT_TYPES.get(candidate.suffix.lower(), "application/octet-stream"),
            etag=_etag_for(body),
            last_modified=formatdate(candidate.stat().st_mtime, usegmt=True),
        )
