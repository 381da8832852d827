"""The fetcher against a real HTTP server on 127.0.0.1: validators, retries, limits, charsets."""

from __future__ import annotations

import asyncio
import gzip
import socket
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fault_server import FaultServer, Reply, gzip_bomb

from aggregator.config import Source
from aggregator.demo.server import LoopbackServer
from aggregator.errors import FetchError
from aggregator.fetch import (
    PROJECT_URL,
    FetchSettings,
    _internal_address,
    _translate,
    decode_body,
    decode_document,
    fetch_sources,
)
from aggregator.models import FETCH_FAILED, FETCH_NOT_MODIFIED, FETCH_OK, FetchResult

# Small limits keep the whole file fast; `backoff` is tiny so retries do not wait.
FAST = FetchSettings(connect_timeout=2, read_timeout=2, backoff=0.01)

FRENCH = (
    "Atelier réparation à la Cantine numérique de Redon : venez réparer vos appareils "
    "électriques, ordinateurs et téléphones avec les bénévoles. Café offert, entrée libre. "
    "Prochaine séance le mercredi 12 février à 18 h, salle des fêtes, près de l'église."
)


def source(url: str, ident: str = "collectif") -> Source:
    return Source(id=ident, name=ident.title(), url=url)


def fetch_one(
    url: str,
    settings: FetchSettings = FAST,
    validators: dict[str, tuple[str | None, str | None]] | None = None,
) -> FetchResult:
    [result] = fetch_sources([source(url)], validators or {}, settings)
    return result


def free_port() -> int:
    """A port nothing listens on: bound then released, so connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- success and conditional GET ---------------------------------------------------------------


def test_ok_then_not_modified_with_etag(http_server: LoopbackServer) -> None:
    http_server.add(
        "/agenda.ics", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", content_type="text/calendar"
    )
    first = fetch_one(http_server.url("/agenda.ics"))
    assert first.status == FETCH_OK
    assert first.http_status == 200
    assert first.etag and first.etag.startswith('"')
    assert first.document is not None
    assert first.document.text.startswith("BEGIN:VCALENDAR")
    assert first.size == len(first.document.content)
    assert "if-none-match" not in http_server.headers_for("/agenda.ics")[0]

    second = fetch_one(http_server.url("/agenda.ics"), validators={"collectif": (first.etag, None)})
    assert http_server.headers_for("/agenda.ics")[1]["if-none-match"] == first.etag
    assert second.status == FETCH_NOT_MODIFIED
    assert second.http_status == 304
    assert second.document is None
    assert second.etag == first.etag  # kept for the next run


def test_not_modified_with_last_modified(http_server: LoopbackServer) -> None:
    stamp = "Wed, 01 Jan 2025 10:00:00 GMT"
    http_server.add("/feed.xml", b"<rss/>", etag=None, last_modified=stamp)
    first = fetch_one(http_server.url("/feed.xml"))
    assert (first.status, first.etag, first.last_modified) == (FETCH_OK, None, stamp)

    second = fetch_one(http_server.url("/feed.xml"), validators={"collectif": (None, stamp)})
    assert http_server.headers_for("/feed.xml")[1]["if-modified-since"] == stamp
    assert second.status == FETCH_NOT_MODIFIED
    assert second.last_modified == stamp


def test_changed_document_is_fetched_again(http_server: LoopbackServer) -> None:
    http_server.add("/feed.xml", b"<rss>new</rss>")
    result = fetch_one(http_server.url("/feed.xml"), validators={"collectif": ('"stale"', None)})
    assert result.status == FETCH_OK
    assert result.etag != '"stale"'


def test_user_agent_identifies_the_project(http_server: LoopbackServer) -> None:
    http_server.add("/x", b"ok")
    fetch_one(http_server.url("/x"))
    agent = http_server.headers_for("/x")[0]["user-agent"]
    assert agent.startswith("aggregator/")
    assert PROJECT_URL in agent


# -- retries and HTTP errors -------------------------------------------------------------------


def test_server_error_then_success_after_one_retry(http_server: LoopbackServer) -> None:
    http_server.add("/flaky", b"fine")
    http_server.set_failures("/flaky", 1, status=503)
    result = fetch_one(http_server.url("/flaky"))
    assert result.status == FETCH_OK
    assert result.document is not None and result.document.text == "fine"
    assert http_server.hits("/flaky") == 2


def test_server_error_twice_fails_with_status(http_server: LoopbackServer) -> None:
    http_server.add("/down", b"never")
    http_server.set_failures("/down", 2, status=500)
    result = fetch_one(http_server.url("/down"))
    assert result.status == FETCH_FAILED
    assert result.http_status == 500
    assert result.error is not None
    assert result.error.startswith("HTTP 500 Internal Server Error")
    assert "tried 2 times" in result.error
    assert http_server.hits("/down") == 2


def test_not_found_is_not_retried(http_server: LoopbackServer) -> None:
    result = fetch_one(http_server.url("/gone.ics"))
    assert result.status == FETCH_FAILED
    assert result.http_status == 404
    assert result.error == (
        "HTTP 404 Not Found: the address no longer exists; check the url in sources.yaml"
    )
    assert http_server.hits("/gone.ics") == 1


def test_slow_server_times_out_and_is_retried(http_server: LoopbackServer) -> None:
    http_server.add("/slow", b"late", delay=1.0)
    settings = FetchSettings(connect_timeout=1, read_timeout=0.3, backoff=0.01)
    started = time.monotonic()
    result = fetch_one(http_server.url("/slow"), settings)
    assert result.status == FETCH_FAILED
    assert result.error is not None and result.error.startswith("timed out after 0.3 s")
    assert result.http_status is None
    assert http_server.hits("/slow") == 2
    # Waiting for the server's two answers would take 2 × 1.0 s.
    assert time.monotonic() - started < 2.0


def test_connection_refused(http_server: LoopbackServer) -> None:
    port = free_port()
    result = fetch_one(f"http://127.0.0.1:{port}/agenda.ics")
    assert result.status == FETCH_FAILED
    assert result.error is not None
    assert result.error.startswith(f"connection refused by 127.0.0.1:{port}")
    assert result.http_status is None


def test_unresolvable_host_message() -> None:
    # Built by hand rather than resolved: the tests never leave 127.0.0.1.
    cause = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    request = httpx.Request("GET", "https://cantine.invalid/agenda.ics")
    try:
        raise httpx.ConnectError(str(cause), request=request) from cause
    except httpx.ConnectError as exc:
        error = _translate(source("https://cantine.invalid/agenda.ics"), exc, FAST)
    assert isinstance(error, FetchError)
    assert error.reason.startswith("could not resolve host 'cantine.invalid'")


# -- redirects ---------------------------------------------------------------------------------


def test_redirect_chain_is_followed(http_server: LoopbackServer) -> None:
    http_server.add("/old", redirect_to="/moved", status=301)
    http_server.add("/moved", redirect_to="/final.ics")
    http_server.add("/final.ics", b"BEGIN:VCALENDAR", content_type="text/calendar")
    result = fetch_one(http_server.url("/old"))
    assert result.status == FETCH_OK
    assert result.url == http_server.url("/old")  # the configured address
    assert result.document is not None
    assert result.document.url == http_server.url("/final.ics")  # where the content came from


def test_five_redirects_are_allowed_six_are_not(http_server: LoopbackServer) -> None:
    for hop in range(6):
        http_server.add(f"/r{hop}", redirect_to=f"/r{hop + 1}")
    http_server.add("/r6", b"end")
    assert fetch_one(http_server.url("/r1")).status == FETCH_OK  # 5 redirects

    result = fetch_one(http_server.url("/r0"))  # 6 redirects
    assert result.status == FETCH_FAILED
    assert result.error is not None
    assert result.error.startswith("too many redirects (more than 5)")


def test_redirect_loop_fails(http_server: LoopbackServer) -> None:
    http_server.add("/loop", redirect_to="/loop")
    result = fetch_one(http_server.url("/loop"))
    assert result.status == FETCH_FAILED
    assert result.error is not None and "too many redirects" in result.error
    assert http_server.hits("/loop") == 6  # the first request and 5 redirects, no retry


# -- size cap ----------------------------------------------------------------------------------


def test_oversized_stream_is_aborted_early(http_server: LoopbackServer) -> None:
    total = 32 * 1024 * 1024
    http_server.add("/huge", stream_bytes=total, chunked=True)
    result = fetch_one(http_server.url("/huge"), FetchSettings(max_bytes=64 * 1024, backoff=0.01))
    assert result.status == FETCH_FAILED
    assert result.error is not None
    assert result.error.startswith("response larger than 64 KB limit; stopped reading after")
    assert result.http_status == 200
    assert http_server.hits("/huge") == 1  # not retried: it would be as large again
    # Stopped within one network read (httpcore reads at most 64 KB at a time) of the cap.
    assert 64 * 1024 < result.size <= 64 * 1024 + 64 * 1024
    # The server could only push what the socket buffers held before we hung up.
    assert http_server.bytes_sent("/huge") < total


def test_declared_length_over_the_cap_is_rejected_before_reading(
    http_server: LoopbackServer,
) -> None:
    http_server.add("/huge", stream_bytes=32 * 1024 * 1024)
    result = fetch_one(http_server.url("/huge"), FetchSettings(max_bytes=64 * 1024))
    assert result.status == FETCH_FAILED
    assert result.error == (
        "response larger than 64 KB limit; the server announced 32 MB, the source is probably "
        "not a calendar or feed; check the url in sources.yaml"
    )
    assert result.size == 0


def test_body_at_the_cap_is_accepted(http_server: LoopbackServer) -> None:
    http_server.add("/exact", b"a" * 1024, chunked=True)
    result = fetch_one(http_server.url("/exact"), FetchSettings(max_bytes=1024))
    assert result.status == FETCH_OK
    assert result.size == 1024


# -- content encoding and charsets -------------------------------------------------------------


def test_gzip_body_is_decoded(http_server: LoopbackServer) -> None:
    body = FRENCH.encode("utf-8") * 20
    http_server.add("/page.html", body, content_type="text/html; charset=utf-8", gzip=True)
    result = fetch_one(http_server.url("/page.html"))
    assert "gzip" in http_server.headers_for("/page.html")[0]["accept-encoding"]
    assert result.document is not None
    assert result.document.content == body
    assert result.document.text == FRENCH * 20
    assert len(gzip.compress(body)) < len(body)  # so the server really sent less


def test_latin1_with_declared_charset(http_server: LoopbackServer) -> None:
    http_server.add(
        "/latin1.html",
        "<p>Atelier réparation</p>".encode("latin-1"),
        content_type="text/html; charset=ISO-8859-1",
    )
    result = fetch_one(http_server.url("/latin1.html"))
    assert result.document is not None
    assert result.document.text == "<p>Atelier réparation</p>"
    assert result.document.encoding == "cp1252"  # the WHATWG reading of an ISO-8859-1 label
    assert result.document.content_type == "text/html; charset=ISO-8859-1"


def test_latin1_without_declared_charset_is_detected(http_server: LoopbackServer) -> None:
    http_server.add("/latin1.txt", FRENCH.encode("latin-1"), content_type="text/plain")
    result = fetch_one(http_server.url("/latin1.txt"))
    assert result.document is not None
    assert result.document.text == FRENCH


def test_utf8_bom_wins_over_a_wrong_header(http_server: LoopbackServer) -> None:
    body = b"\xef\xbb\xbf" + "<rss><title>Fête du libre</title></rss>".encode()
    http_server.add("/bom.xml", body, content_type="application/rss+xml; charset=iso-8859-1")
    result = fetch_one(http_server.url("/bom.xml"))
    assert result.document is not None
    assert result.document.text == "<rss><title>Fête du libre</title></rss>"
    assert result.document.encoding == "utf-8"


# -- concurrency and isolation -----------------------------------------------------------------


def test_per_host_limit(http_server: LoopbackServer) -> None:
    sources = []
    for n in range(6):
        http_server.add(f"/s{n}", b"ok", delay=0.15)
        sources.append(source(http_server.url(f"/s{n}"), f"s{n}"))
    results = fetch_sources(sources, {}, FetchSettings(per_host=2, concurrency=16))
    assert [r.status for r in results] == [FETCH_OK] * 6
    assert http_server.max_in_flight == 2  # at most 2, and the two slots were really used


def test_global_limit_across_hosts() -> None:
    with LoopbackServer() as one, LoopbackServer() as two:
        sources = []
        for server, name in ((one, "a"), (two, "b")):
            for n in range(3):
                server.add(f"/{n}", b"ok", delay=0.1)
                sources.append(source(server.url(f"/{n}"), f"{name}{n}"))
        started = time.monotonic()
        results = fetch_sources(sources, {}, FetchSettings(per_host=4, concurrency=1))
        elapsed = time.monotonic() - started
    assert all(r.status == FETCH_OK for r in results)
    assert one.max_in_flight == two.max_in_flight == 1
    assert elapsed >= 6 * 0.1  # strictly one at a time across both hosts


def test_one_failure_does_not_affect_the_others(http_server: LoopbackServer) -> None:
    http_server.add("/a", b"first")
    http_server.add("/c", b"third")
    sources = [
        source(http_server.url("/a"), "a"),
        source(http_server.url("/missing"), "b"),
        source(http_server.url("/c"), "c"),
    ]
    seen: list[str] = []
    results = fetch_sources(sources, {}, FAST, on_result=lambda r: seen.append(r.source_id))
    assert [r.source_id for r in results] == ["a", "b", "c"]  # same order as the sources
    assert [r.status for r in results] == [FETCH_OK, FETCH_FAILED, FETCH_OK]
    assert sorted(seen) == ["a", "b", "c"]
    assert results[2].document is not None and results[2].document.text == "third"


def test_no_sources() -> None:
    assert fetch_sources([], {}) == []


# -- decode_body -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "content_type", "text", "encoding"),
    [
        pytest.param(
            '<?xml version="1.0" encoding="ISO-8859-1"?><rss>Pâques</rss>'.encode("latin-1"),
            "application/rss+xml",
            '<?xml version="1.0" encoding="ISO-8859-1"?><rss>Pâques</rss>',
            "cp1252",
            id="xml-declaration",
        ),
        pytest.param(
            '<html><head><meta charset="windows-1252"></head>Noël’s</html>'.encode("cp1252"),
            "text/html",
            '<html><head><meta charset="windows-1252"></head>Noël’s</html>',
            "cp1252",
            id="meta-charset",
        ),
        pytest.param(
            b'<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-15">'
            + "€".encode("iso8859-15"),
            None,
            '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-15">€',
            "iso8859-15",
            id="meta-http-equiv",
        ),
        pytest.param(
            "Crêpes".encode(), "text/plain; charset=bogus-charset", "Crêpes", "utf-8", id="unknown"
        ),
        pytest.param(
            "Crêpes".encode(), "text/html; charset=iso-8859-1", "Crêpes", "utf-8", id="utf8-as-l1"
        ),
        pytest.param(
            "Crêpes à Quimper".encode("cp1252"),
            "text/plain; charset=utf-8",
            "Crêpes à Quimper",
            "cp1252",
            id="wrong-utf8-label",
        ),
        pytest.param(
            b"\xff\xfe" + "Lannion".encode("utf-16-le"), None, "Lannion", "utf-16-le", id="utf16"
        ),
        pytest.param(
            '<?xml version="1.0"?><a>é</a>'.encode("utf-16-le"),
            "text/xml",
            '<?xml version="1.0"?><a>é</a>',
            "utf-16-le",
            id="utf16-xml-no-bom",
        ),
        pytest.param(b"", None, "", "utf-8", id="empty"),
    ],
)
def test_decode_body(content: bytes, content_type: str | None, text: str, encoding: str) -> None:
    assert decode_body(content, content_type) == (text, encoding)


def test_decode_body_never_fails_on_arbitrary_bytes() -> None:
    text, encoding = decode_body(bytes(range(256)) * 4, "text/html; charset=utf-8")
    assert text and encoding


def test_c1_controls_are_read_as_cp1252() -> None:
    # UTF-8 bytes of U+0092: cp1252 text once converted to Unicode as if it were Latin-1.
    assert decode_body(b"don\xc2\x92t", None) == ("don’t", "utf-8")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("feeds/rss2-iso-8859-1-accents.xml", "Inovação Tecnológica"),
        ("feeds/windows-1252-smart-quote-in-utf8.xml", "don’t"),
        ("feeds/bozo-bogus-encoding-declaration.xml", "<rss>"),
        ("feeds/rss2-gb2312-declared-actually-gbk.rss", "<rss"),
    ],
)
def test_decode_corpus_files(corpus_dir: Path, name: str, expected: str) -> None:
    text, _ = decode_body((corpus_dir / name).read_bytes(), "application/rss+xml")
    assert expected in text
    assert "\ufffd" not in text


# -- decompression within the cap (issue 10) ---------------------------------------------------


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


def test_gzip_bomb_is_stopped_at_the_cap(fault_server: FaultServer) -> None:
    fault_server.set("/bomb", Reply(raw_gzip=gzip_bomb(64 << 20)))
    result = fetch_one(fault_server.url("/bomb"), FetchSettings(max_bytes=1 << 20, backoff=0.01))
    assert result.status == FETCH_FAILED
    assert result.error is not None and result.error.startswith("response larger than 1 MB")
    # Decompression stops at the cap itself, not at the end of a 64 MB inflated chunk.
    assert result.size == (1 << 20) + 1


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
def test_deflate_with_and_without_its_zlib_header(fault_server: FaultServer, wbits: int) -> None:
    body = FRENCH.encode() * 50
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    deflated = compressor.compress(body) + compressor.flush()
    fault_server.set(
        "/d",
        Reply(body=deflated, headers={"Content-Encoding": "deflate"}, content_type="text/plain"),
    )
    result = fetch_one(fault_server.url("/d"))
    assert result.status == FETCH_OK, result.error
    assert result.document is not None and result.document.content == body


def test_concatenated_gzip_members_are_one_body(fault_server: FaultServer) -> None:
    fault_server.set("/two", Reply(raw_gzip=gzip.compress(b"premier ") + gzip.compress(b"second")))
    result = fetch_one(fault_server.url("/two"))
    assert result.document is not None and result.document.content == b"premier second"


def test_cut_gzip_stream_fails(fault_server: FaultServer) -> None:
    fault_server.set("/cut", Reply(body=FRENCH.encode() * 20, gzip=True, cut_compressed=20))
    result = fetch_one(fault_server.url("/cut"))
    assert result.status == FETCH_FAILED
    assert result.error is not None and "cut off before its end" in result.error


def test_an_encoding_we_did_not_ask_for_fails_clearly(fault_server: FaultServer) -> None:
    fault_server.set("/br", Reply(body=b"\x1b\x03", headers={"Content-Encoding": "br"}))
    result = fetch_one(fault_server.url("/br"))
    assert result.status == FETCH_FAILED
    assert result.error is not None and "'br', which we did not ask for" in result.error


def test_body_shorter_than_its_content_length_fails(fault_server: FaultServer) -> None:
    fault_server.set("/short", Reply(body=b"BEGIN:VCALENDAR\r\n", declared_length=400))
    result = fetch_one(fault_server.url("/short"))
    assert result.status == FETCH_FAILED
    assert result.error is not None and "closed the connection" in result.error


# -- redirects to internal addresses (issue 10) ------------------------------------------------


@pytest.mark.parametrize(
    ("host", "internal"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("10.1.2.3", "10.1.2.3"),
        ("192.168.0.10", "192.168.0.10"),
        ("169.254.169.254", "169.254.169.254"),
        ("[::1]", "::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("localhost", "localhost"),
        ("agenda.localhost", "localhost"),
        ("0.0.0.0", "0.0.0.0"),
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
    ],
)
def test_internal_addresses(host: str, internal: str | None) -> None:
    assert asyncio.run(_internal_address(host)) == internal


def test_redirect_from_public_host_to_loopback_is_refused(
    fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The proxy (our loopback server) plays the public host: nothing leaves 127.0.0.1.
    monkeypatch.setenv("HTTP_PROXY", fault_server.proxy)
    monkeypatch.setenv("NO_PROXY", "")
    fault_server.set("/a", Reply(status=302, location=fault_server.url("/secret")))
    fault_server.set("/secret", Reply(body=b"internal"))
    result = fetch_one("http://93.184.215.14/a")
    assert fault_server.hits("/a") == 1
    assert fault_server.hits("/secret") == 0
    assert result.status == FETCH_FAILED
    assert result.error is not None
    assert result.error.startswith("redirect from 93.184.215.14 to http://127.0.0.1:")


def test_redirect_from_loopback_to_loopback_is_followed(fault_server: FaultServer) -> None:
    fault_server.set("/a", Reply(status=302, location=fault_server.url("/b")))
    fault_server.set("/b", Reply(body=b"ok"))
    result = fetch_one(fault_server.url("/a"))
    assert result.status == FETCH_OK
    assert result.document is not None and result.document.url == fault_server.url("/b")


# -- mostly-valid UTF-8 (issue 10) -------------------------------------------------------------


def test_mostly_valid_utf8_keeps_utf8_and_says_so() -> None:
    content = ("Réparation à Plouzané, " * 5).encode() + b"caf\xe9 " + "fin é".encode()
    text, encoding, warnings = decode_document(content, "text/plain")
    assert encoding == "utf-8"
    assert text.startswith("Réparation à Plouzané") and "caf\ufffd " in text
    assert warnings == (
        "the document is not valid UTF-8: 1 invalid byte sequence replaced with \ufffd; the site "
        "should fix its encoding",
    )


def test_mostly_utf8_wins_over_a_latin1_label() -> None:
    content = "Fête à Creac'h Gwen, vélo-école ".encode() * 3 + b"\xe9t\xe9"
    text, encoding, warnings = decode_document(content, "text/html; charset=iso-8859-1")
    assert encoding == "utf-8" and "Fête à Creac'h Gwen" in text and len(warnings) == 1


def test_real_cp1252_is_not_taken_for_damaged_utf8() -> None:
    content = FRENCH.encode("cp1252")
    text, encoding, warnings = decode_document(content, None)
    assert text == FRENCH and encoding != "utf-8" and warnings == ()


def test_binary_body_is_a_failure_not_an_empty_page(fault_server: FaultServer) -> None:
    noise = bytes((i * 7919) % 256 for i in range(40_000))
    fault_server.set("/agenda.rss", Reply(body=noise, content_type="application/rss+xml"))
    result = fetch_one(fault_server.url("/agenda.rss"))
    assert result.status == FETCH_FAILED
    assert result.error is not None and result.error.startswith("the server sent binary data")


def test_mostly_utf8_weighs_each_well_placed_continuation_byte() -> None:
    # Japanese UTF-8 where a conversion turned some bytes into "?": fewer intact characters than
    # twice the damaged ones, but each intact one is three bytes in exactly the right shape.
    intact = "東京都千代田"  # 6 characters, 12 continuation bytes
    damaged = "区".encode()[:-2] + b"?" + "区".encode()[-1:]  # 2 invalid sequences
    content = b"LOCATION:" + intact.encode() + b"\nSUMMARY:" + damaged * 2 + b"\n"
    text, encoding, warnings = decode_document(content, "text/calendar")
    assert encoding == "utf-8" and text.startswith("LOCATION:東京都千代田\n")
    assert len(warnings) == 1 and "invalid byte sequences replaced" in warnings[0]


def test_a_few_valid_pairs_in_latin1_text_do_not_make_it_utf8() -> None:
    # cp1252 French where two "Ã©"-like pairs happen to be valid UTF-8: still cp1252.
    content = FRENCH.encode("cp1252") + "Ã©Ã¨".encode("cp1252")
    text, encoding, warnings = decode_document(content, None)
    assert encoding != "utf-8" and text == FRENCH + "Ã©Ã¨" and warnings == ()
