"""A loopback HTTP server that serves faults byte for byte, for tests/test_faults.py and
bench/bench_faults.py.

Unlike `aggregator.demo.server.LoopbackServer` (a well-behaved server with configurable
answers), this one writes raw bytes on the socket, so it can lie: a Content-Length that does not
match the body, a gzip stream cut short, a connection that never answers or is reset. It also
answers requests in absolute form (`GET http://93.184.215.14/x HTTP/1.1`), so that with
HTTP_PROXY pointing at it a test can play a public host without any packet leaving loopback.

    with FaultServer() as server:
        server.set("/a.ics", Reply(body=ics, content_type="text/calendar"))
        server.set("/cut.ics", Reply(body=ics, declared_length=len(ics) + 100))
"""

from __future__ import annotations

import gzip
import socket
import threading
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

__all__ = ["FaultServer", "Reply", "gzip_bomb"]


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    `declared_length` replaces the true Content-Length (bigger: the body ends early; smaller:
    extra bytes follow). `gzip` compresses the body; `cut_compressed` then drops that many bytes
    from the end of the compressed stream. `raw_gzip` is sent as an already compressed body.
    `etag` answers 304 to a matching If-None-Match. `hang` never answers; `reset` hangs up.
    """

    body: bytes = b""
    status: int = 200
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)
    etag: str | None = None
    declared_length: int | None = None
    gzip: bool = False
    cut_compressed: int = 0
    raw_gzip: bytes | None = None
    location: str | None = None
    hang: bool = False
    reset: bool = False


_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 304: "Not Modified", 500: "Error"}


def gzip_bomb(decompressed: int) -> bytes:
    """A gzip stream of `decompressed` zero bytes (about 1,000 times smaller), built in pieces."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(decompressed >> 20)]
    parts.append(compressor.compress(bytes(decompressed & ((1 << 20) - 1))))
    parts.append(compressor.flush())
    return b"".join(parts)


class FaultServer:
    """Serves `Reply`s by path on 127.0.0.1, one connection per request (Connection: close)."""

    def __init__(self) -> None:
        self._routes: dict[str, Reply] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._hits: Counter[str] = Counter()
        self._headers: dict[str, list[dict[str, str]]] = {}
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._serve, name="fault-server", daemon=True)

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    @property
    def proxy(self) -> str:
        """The value for HTTP_PROXY that routes every request to this server."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def set(self, path: str, reply: Reply) -> None:
        with self._lock:
            self._routes[path] = reply

    def hits(self, path: str) -> int:
        with self._lock:
            return self._hits[path]

    def headers_for(self, path: str) -> list[dict[str, str]]:
        with self._lock:
            return list(self._headers.get(path, []))

    # -- serving ----------------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            request = self._read_request(conn)
            if request is None:
                return
            path, headers = request
            with self._lock:
                self._hits[path] += 1
                self._headers.setdefault(path, []).append(headers)
                reply = self._routes.get(path)
            if reply is None:
                conn.sendall(self._head(404, {"Content-Length": "0"}))
                return
            self._answer(conn, reply, headers)
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def _read_request(conn: socket.socket) -> tuple[str, dict[str, str]] | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        request_line, *lines = head.split("\r\n")
        target = request_line.split(" ")[1]
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return urlsplit(target).path or "/", headers

    @staticmethod
    def _head(status: int, headers: Mapping[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _answer(self, conn: socket.socket, reply: Reply, request: Mapping[str, str]) -> None:
        if reply.hang:
            self._stop.wait(60)
            return
        if reply.reset:
            conn.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            return
        headers: dict[str, str] = {"Connection": "close"}
        if reply.etag and request.get("if-none-match") == reply.etag:
            headers |= {"ETag": reply.etag, "Content-Length": "0"}
            conn.sendall(self._head(304, headers))
            return
        body = reply.body
        if reply.raw_gzip is not None:
            body = reply.raw_gzip
            headers["Content-Encoding"] = "gzip"
        elif reply.gzip:
            body = gzip.compress(body)
            if reply.cut_compressed:
                body = body[: -reply.cut_compressed]
            headers["Content-Encoding"] = "gzip"
        headers["Content-Type"] = reply.content_type
        if reply.etag:
            headers["ETag"] = reply.etag
        if reply.location:
            headers["Location"] = reply.location
        headers |= dict(reply.headers)
        length = reply.declared_length if reply.declared_length is not None else len(body)
        headers["Content-Length"] = str(length)
        conn.sendall(self._head(reply.status, headers) + body)
