"""The loopback server itself: the end-to-end tests rely on it behaving like a real site."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from aggregator.demo.server import LoopbackServer


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "agenda.ics").write_bytes(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    (tmp_path / "news.atom").write_bytes(b"<feed/>")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "page.html").write_bytes("<p>Crêpes</p>".encode())
    return tmp_path


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/agenda.ics", "text/calendar; charset=utf-8"),
        ("/news.atom", "application/atom+xml"),
        ("/sub/page.html", "text/html; charset=utf-8"),
    ],
)
def test_serves_files_with_content_type(site: Path, path: str, content_type: str) -> None:
    with LoopbackServer(root=site) as server:
        response = httpx.get(server.url(path))
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content == (site / path.lstrip("/")).read_bytes()


def test_file_validators_give_304(site: Path) -> None:
    with LoopbackServer(root=site) as server:
        first = httpx.get(server.url("/agenda.ics"))
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        by_etag = httpx.get(server.url("/agenda.ics"), headers={"If-None-Match": etag})
        by_date = httpx.get(server.url("/agenda.ics"), headers={"If-Modified-Since": modified})
        stale = httpx.get(server.url("/agenda.ics"), headers={"If-None-Match": '"other"'})
    assert (by_etag.status_code, by_date.status_code, stale.status_code) == (304, 304, 200)
    assert by_etag.headers["etag"] == etag


def test_missing_and_outside_root_are_404(site: Path) -> None:
    (site.parent / "secret.txt").write_text("no")
    with LoopbackServer(root=site) as server:
        assert httpx.get(server.url("/nope.ics")).status_code == 404
        assert httpx.get(server.url("/sub")).status_code == 404
        assert httpx.get(server.url("/%2e%2e/secret.txt")).status_code == 404


def test_routes_win_over_files_and_record_requests(site: Path) -> None:
    with LoopbackServer(root=site) as server:
        server.add("/agenda.ics", b"route", headers={"X-Test": "1"})
        response = httpx.get(server.url("/agenda.ics?x=1"), headers={"X-Probe": "yes"})
        assert response.text == "route"
        assert response.headers["x-test"] == "1"
        assert server.hits("/agenda.ics") == 1
        assert server.requests[0][0] == "/agenda.ics"
        assert server.headers_for("/agenda.ics")[0]["x-probe"] == "yes"


def test_failures_then_normal_service() -> None:
    with LoopbackServer() as server:
        server.add("/x", b"ok")
        server.set_failures("/x", 2, status=502)
        codes = [httpx.get(server.url("/x")).status_code for _ in range(3)]
    assert codes == [502, 502, 200]


def test_head_has_headers_but_no_body() -> None:
    with LoopbackServer() as server:
        server.add("/x", b"body")
        response = httpx.head(server.url("/x"))
    assert response.status_code == 200
    assert response.headers["content-length"] == "4"
    assert response.content == b""


def test_stream_is_generated_to_the_announced_length() -> None:
    with LoopbackServer() as server:
        server.add("/big", stream_bytes=200_000)
        response = httpx.get(server.url("/big"))
        # The server counts a chunk once its write returned: the client may have read the
        # last one a moment before.
        deadline = time.monotonic() + 5
        while server.bytes_sent("/big") < 200_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.bytes_sent("/big") == 200_000
    assert len(response.content) == 200_000


def test_stop_is_prompt_with_a_request_still_waiting(capfd: pytest.CaptureFixture[str]) -> None:
    server = LoopbackServer().start()
    server.add("/slow", b"late", delay=30)
    errors: list[Exception] = []

    def call() -> None:
        try:
            httpx.get(server.url("/slow"), timeout=5)
        except httpx.HTTPError as exc:
            errors.append(exc)

    client = threading.Thread(target=call, daemon=True)
    client.start()
    while server.hits("/slow") == 0:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    server.stop()  # idempotent
    client.join(timeout=5)
    assert time.monotonic() - started < 1
    assert [type(e) for e in errors] == [httpx.RemoteProtocolError]  # hung up, did not hang
    assert capfd.readouterr().err == ""  # quiet: no request log, no traceback


def _wakeups(thread: threading.Thread) -> int:
    """How many times `thread` has gone to sleep and been woken (Linux counts it per thread)."""
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    return int(
        next(line for line in status.splitlines() if line.startswith("voluntary_ctxt")).split()[1]
    )


def test_an_idle_server_sleeps_until_a_client_calls() -> None:
    # A benchmark serves 200 hosts from one process: servers waking on a timer took a share of
    # a core from the client being measured.
    with LoopbackServer() as server:
        server.add("/a", b"a")
        assert httpx.get(server.url("/a")).status_code == 200
        serving = next(t for t in threading.enumerate() if t.name == f"loopback-http-{server.port}")
        time.sleep(0.1)
        before = _wakeups(serving)
        time.sleep(0.5)
        idle = _wakeups(serving) - before
        assert httpx.get(server.url("/a")).status_code == 200
    assert idle == 0
    assert not serving.is_alive()


def test_starting_does_not_look_the_host_name_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # socket.getfqdn stalls for seconds on some loopback addresses without a resolver.
    def no_lookup(name: str = "") -> str:
        raise AssertionError(f"looked {name!r} up")

    monkeypatch.setattr(socket, "getfqdn", no_lookup)
    with LoopbackServer(host="127.0.0.9") as server:
        server.add("/a", b"a")
        assert httpx.get(server.url("/a")).content == b"a"
