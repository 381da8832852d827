"""Download every source over HTTP, politely and defensively.

`fetch_all` fetches the sources concurrently with httpx, within a global limit and a per-host
limit (collectives often share one small host). It sends the validators of the previous run
(If-None-Match / If-Modified-Since) so unchanged sources cost one 304, follows a bounded number
of redirects, streams each body and aborts past a size cap (counted on the decompressed bytes as
they come, so a gzip bomb stops at the cap), and retries once, with backoff, on connection
errors, timeouts and 5xx answers. A redirect may not lead from a public host to a loopback,
private or link-local address (a hostile source could otherwise make us fetch and publish an
internal service); the configured URL itself is fetched as written, so a loopback or intranet
source keeps working. Each source ends as one `FetchResult`; a failure is
never raised but described in words for the person running the tool. httpx errors are translated
to `FetchError` at this boundary and then recorded in the result.

`decode_body` turns the bytes into text the way browsers and feed readers do: BOM, HTTP charset,
XML declaration or HTML <meta>, UTF-8, then detection biased towards the Western European
encodings French sites actually use. A document that is mostly valid UTF-8 stays UTF-8, its few
invalid bytes replaced, and the source's health says so (`decode_document`).
"""

from __future__ import annotations

import asyncio
import codecs
import errno
import ipaddress
import logging
import re
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final
from urllib.parse import urlsplit

import charset_normalizer
import httpx

from aggregator.config import Source
from aggregator.errors import FetchError
from aggregator.models import FETCH_FAILED, FETCH_NOT_MODIFIED, FETCH_OK, Document, FetchResult
from aggregator.sandbox import DEFAULT_MEMORY, DEFAULT_TIMEOUT

__all__ = [
    "PROJECT_URL",
    "FetchSettings",
    "decode_body",
    "decode_document",
    "default_user_agent",
    "fetch_all",
    "fetch_sources",
    "inward_link",
]

logger = logging.getLogger(__name__)

PROJECT_URL: Final = "https://github.com/agenda-numerique-bretagne/aggregator"

# What we can read, best first; servers doing content negotiation pick a calendar or feed.
_ACCEPT: Final = (
    "text/calendar, application/rss+xml, application/atom+xml, application/xml;q=0.9, "
    "text/xml;q=0.9, text/html;q=0.8, */*;q=0.5"
)

Validators = Mapping[str, tuple[str | None, str | None]]


def default_user_agent() -> str:
    """E.g. "aggregator/0.1.0 (+https://github.com/…)": identifies us to the collectives' admins."""
    try:
        package_version = version("aggregator")
    except PackageNotFoundError:  # running from a checkout that was never installed
        package_version = "dev"
    return f"aggregator/{package_version} (+{PROJECT_URL})"


@dataclass(frozen=True)
class FetchSettings:
    """Limits for one run. Timeouts are in seconds, `max_bytes` applies to decoded bodies.

    `parse_timeout` and `parse_memory` are each document's parse budget (aggregator/sandbox.py).
    """

    # Politeness is the per-host limit; the global one only bounds sockets and bodies in flight.
    # Most of a run's fetch time is waiting on servers far away: 16 at once made 300 sources
    # answering in 100 ms take 2.2 s, 64 take 0.8 s.
    concurrency: int = 64
    per_host: int = 2
    connect_timeout: float = 10
    read_timeout: float = 30
    max_redirects: int = 5
    max_bytes: int = 10 * 1024 * 1024
    retries: int = 1
    backoff: float = 1.0
    user_agent: str = field(default_factory=default_user_agent)
    parse_timeout: float = DEFAULT_TIMEOUT
    parse_memory: int = DEFAULT_MEMORY

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.per_host < 1:
            raise ValueError("concurrency and per_host must be at least 1")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_redirects < 0 or self.retries < 0 or self.backoff < 0:
            raise ValueError("max_redirects, retries and backoff cannot be negative")
        if self.max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        if self.parse_timeout <= 0 or self.parse_memory < 1:
            raise ValueError("the parse budget must be positive")


# ---------------------------------------------------------------------------------------------
# Fetching


class _Transient(FetchError):
    """A failure worth one more try: connection trouble, a timeout or a 5xx answer."""


@dataclass(slots=True)
class _Outcome:
    """What one successful attempt produced (a 2xx or a 304)."""

    status: str
    http_status: int
    document: Document | None = None
    etag: str | None = None
    last_modified: str | None = None
    size: int = 0


def fetch_sources(
    sources: Sequence[Source],
    validators: Validators | None = None,
    settings: FetchSettings | None = None,
    on_result: Callable[[FetchResult], None] | None = None,
) -> list[FetchResult]:
    """Synchronous `fetch_all`, for callers without an event loop (the CLI, tests)."""
    return asyncio.run(fetch_all(sources, validators, settings, on_result))


async def fetch_all(
    sources: Sequence[Source],
    validators: Validators | None = None,
    settings: FetchSettings | None = None,
    on_result: Callable[[FetchResult], None] | None = None,
) -> list[FetchResult]:
    """Fetch every source concurrently; return one `FetchResult` per source, in the same order.

    `validators[source.id]` is the (ETag, Last-Modified) pair saved from the previous run; they
    are sent as If-None-Match / If-Modified-Since so an unchanged source answers 304
    (FETCH_NOT_MODIFIED, no document, validators kept). `on_result` is called as each source
    finishes, e.g. to advance a progress bar. A failing source never raises: its result is
    FETCH_FAILED with `error` saying why.
    """
    settings = settings or FetchSettings()
    validators = validators or {}
    global_limit = asyncio.Semaphore(settings.concurrency)
    host_limits: dict[str, asyncio.Semaphore] = {}
    results: list[FetchResult | None] = [None] * len(sources)

    async with _client(settings) as client:

        async def run(index: int, source: Source) -> None:
            key = _host_key(source.url)
            host_limit = host_limits.setdefault(key, asyncio.Semaphore(settings.per_host))
            etag, last_modified = validators.get(source.id, (None, None))
            result = await _fetch_one(
                client, source, etag, last_modified, settings, global_limit, host_limit
            )
            results[index] = result
            if on_result is not None:
                on_result(result)

        async with asyncio.TaskGroup() as group:
            for index, source in enumerate(sources):
                group.create_task(run(index, source))

    return [result for result in results if result is not None]


def _client(settings: FetchSettings) -> httpx.AsyncClient:
    timeout = httpx.Timeout(
        connect=settings.connect_timeout,
        read=settings.read_timeout,
        write=settings.read_timeout,
        # Our semaphores already bound the connections in use, so waiting for one is not a fault.
        pool=None,
    )
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=True,
        max_redirects=settings.max_redirects,
        limits=httpx.Limits(
            max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
        ),
        headers={
            "User-Agent": settings.user_agent,
            "Accept": _ACCEPT,
            # What _BoundedDecoder undoes, within the size cap.
            "Accept-Encoding": "gzip, deflate",
        },
        event_hooks={"response": [_refuse_private_redirect]},
    )


def _host_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{(parts.netloc or '').lower()}"


class _RedirectRefused(Exception):
    """A redirect from a public host to a non-public address (raised inside httpx's loop)."""

    def __init__(self, message: str, url: str) -> None:
        self.url = url
        super().__init__(message)


_RESOLVE_TIMEOUT: Final = 10.0


async def _refuse_private_redirect(response: httpx.Response) -> None:
    """httpx response hook: stop a redirect from a public host to a non-public address.

    Checked hop by hop before httpx follows it, so any chain that starts at a public host is
    covered: to reach an internal address it must take one such hop. A host whose name does not
    resolve here (e.g. behind a proxy) is not known to be internal and passes.
    """
    if not response.has_redirect_location:
        return
    current = response.request.url
    try:
        target = current.join(response.headers["location"])
    except httpx.InvalidURL:
        return  # httpx reports the unusable Location itself
    internal = await _internal_address(target.host)
    if internal is None or await _internal_address(current.host) is not None:
        return
    raise _RedirectRefused(
        f"redirect from {current.host} to {target} refused: a public source may not lead to a "
        f"loopback, private or link-local address ({internal}); if the source really lives "
        "there, put that address in sources.yaml",
        str(target),
    )


async def _internal_address(host: str) -> str | None:
    """The first non-public address `host` stands for, or None if all are public or unknown."""
    host = host.strip("[]").rstrip(".").lower()
    if not host:
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return "localhost"
    try:
        return _first_internal([ipaddress.ip_address(host.split("%", 1)[0])])
    except ValueError:
        pass
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM),
            _RESOLVE_TIMEOUT,
        )
    except (OSError, TimeoutError):
        return None
    addresses = []
    for info in infos:
        try:
            addresses.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        except ValueError:
            continue
    return _first_internal(addresses)


def _first_internal(
    addresses: Sequence[ipaddress.IPv4Address | ipaddress.IPv6Address],
) -> str | None:
    for address in addresses:
        mapped = getattr(address, "ipv4_mapped", None)
        if not (mapped or address).is_global:
            return str(address)
    return None


def inward_link(page_url: str, link_url: str) -> str | None:
    """Why a page may not lead us to `link_url` (a public page linking to an internal address,
    the rule redirects follow too), or None when it may. Blocking: resolves host names."""

    async def check() -> str | None:
        target = urlsplit(link_url).hostname or ""
        internal = await _internal_address(target)
        if internal is None or await _internal_address(urlsplit(page_url).hostname or ""):
            return None
        return (
            f"refused: a public page may not lead to a loopback, private or link-local address "
            f"({internal})"
        )

    return asyncio.run(check())


async def _fetch_one(
    client: httpx.AsyncClient,
    source: Source,
    etag: str | None,
    last_modified: str | None,
    settings: FetchSettings,
    global_limit: asyncio.Semaphore,
    host_limit: asyncio.Semaphore,
) -> FetchResult:
    """Fetch one source with retries; always return a result."""
    started = time.monotonic()
    attempts = settings.retries + 1
    failure: FetchError | None = None
    for attempt in range(attempts):
        if attempt:
            # Back off outside the semaphores, so the wait does not hold a slot others could use.
            await asyncio.sleep(settings.backoff * 2 ** (attempt - 1))
            logger.debug("%s: retry %d after: %s", source.id, attempt, failure)
        try:
            async with global_limit, host_limit:
                outcome = await _attempt(client, source, etag, last_modified, settings)
        except _Transient as exc:
            failure = exc
            continue
        except FetchError as exc:
            failure = exc
            break
        except Exception as exc:  # one buggy source or bug must not sink the whole run
            logger.exception("%s: unexpected error while fetching %s", source.id, source.url)
            failure = FetchError(source.id, f"unexpected error: {exc!r}", url=source.url)
            break
        logger.debug("%s: %s (HTTP %d)", source.id, outcome.status, outcome.http_status)
        return FetchResult(
            source_id=source.id,
            url=source.url,
            status=outcome.status,
            document=outcome.document,
            http_status=outcome.http_status,
            # A 304 may omit the validators; then the ones we sent are still the right ones.
            etag=outcome.etag if outcome.status == FETCH_OK else outcome.etag or etag,
            last_modified=(
                outcome.last_modified
                if outcome.status == FETCH_OK
                else outcome.last_modified or last_modified
            ),
            elapsed=time.monotonic() - started,
            size=outcome.size,
        )

    assert failure is not None
    message = failure.reason
    if isinstance(failure, _Transient) and attempts > 1:
        message += f" (tried {attempts} times)"
    logger.debug("%s: failed: %s", source.id, message)
    return FetchResult(
        source_id=source.id,
        url=source.url,
        status=FETCH_FAILED,
        http_status=failure.status,
        etag=etag,
        last_modified=last_modified,
        error=message,
        elapsed=time.monotonic() - started,
        size=failure.size if isinstance(failure, _TooLarge) else 0,
    )


async def _attempt(
    client: httpx.AsyncClient,
    source: Source,
    etag: str | None,
    last_modified: str | None,
    settings: FetchSettings,
) -> _Outcome:
    """One GET; raise `_Transient` for failures worth retrying and `FetchError` for the others."""
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with client.stream("GET", source.url, headers=headers) as response:
            if response.status_code == httpx.codes.NOT_MODIFIED:
                return _Outcome(
                    FETCH_NOT_MODIFIED,
                    response.status_code,
                    etag=response.headers.get("etag"),
                    last_modified=response.headers.get("last-modified"),
                )
            _check_status(source, response)
            content = await _read_capped(source, response, settings.max_bytes)
    except FetchError:
        raise
    except _RedirectRefused as exc:
        raise FetchError(source.id, str(exc), url=exc.url) from None
    except (httpx.HTTPError, httpx.InvalidURL, ssl.SSLError, OSError, zlib.error) as exc:
        raise _translate(source, exc, settings) from exc

    content_type = response.headers.get("content-type")
    text, encoding, warnings = decode_document(content, content_type)
    if _is_binary(text):
        # An image, an archive or noise: read as a page it would be a page without events,
        # and quietly empty the source.
        raise FetchError(
            source.id,
            "the server sent binary data, not a calendar, feed or web page; check the url in "
            "sources.yaml",
            url=str(response.url),
            status=response.status_code,
        )
    document = Document(
        url=str(response.url),
        content=content,
        text=text,
        content_type=content_type,
        encoding=encoding,
        warnings=warnings,
    )
    return _Outcome(
        FETCH_OK,
        response.status_code,
        document=document,
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
        size=len(content),
    )


_STATUS_HINTS: Final[Mapping[int, str]] = {
    400: "the server rejected the request; check the url in sources.yaml",
    401: "the server asks for a login; the source must be public",
    403: "access is forbidden; the site may block robots, ask the collective to allow it",
    404: "the address no longer exists; check the url in sources.yaml",
    410: "the address was removed for good; update or disable the source in sources.yaml",
    429: "the server says we ask too often; it should pass on a later run",
}


def _check_status(source: Source, response: httpx.Response) -> None:
    """Raise for anything but a 2xx (a 304 is handled before)."""
    status = response.status_code
    if 200 <= status < 300:
        return
    phrase = response.reason_phrase or httpx.codes.get_reason_phrase(status)
    label = f"HTTP {status} {phrase}".rstrip()
    url = str(response.url)
    if status >= 500:
        raise _Transient(
            source.id,
            f"{label}: the server had a problem; it is probably temporary",
            url=url,
            status=status,
        )
    if 300 <= status < 400:
        hint = "a redirect without a usable Location header; check the url in sources.yaml"
    else:
        hint = _STATUS_HINTS.get(status, "the server refused to send the document")
    raise FetchError(source.id, f"{label}: {hint}", url=url, status=status)


class _TooLarge(FetchError):
    """The body passed the size cap; `size` is how much was read before giving up."""

    def __init__(self, source: Source, message: str, *, status: int, size: int) -> None:
        self.size = size
        super().__init__(source.id, message, url=source.url, status=status)


async def _read_capped(source: Source, response: httpx.Response, max_bytes: int) -> bytes:
    """Read the body, aborting as soon as it passes `max_bytes` (a runaway or hostile server).

    The raw bytes are decompressed here, never more than the bytes left under the cap at a time:
    httpx's own decoder inflates each network chunk whole, so one 64 KB gzip chunk could become
    64 MB in memory before the cap is looked at.
    """
    limit = _human_size(max_bytes)
    hint = "the source is probably not a calendar or feed; check the url in sources.yaml"
    declared = response.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise _TooLarge(
            source,
            f"response larger than {limit} limit; the server announced "
            f"{_human_size(int(declared))}, {hint}",
            status=response.status_code,
            size=0,
        )
    decoders = _decoders(source, response)
    chunks: list[bytes] = []
    size = 0

    def too_large() -> _TooLarge:
        return _TooLarge(
            source,
            f"response larger than {limit} limit; stopped reading after "
            f"{_human_size(max(size, max_bytes))}, {hint}",
            status=response.status_code,
            size=max(size, max_bytes + 1),
        )

    async for raw in response.aiter_raw():
        data = raw
        try:
            for decoder in decoders:
                data = decoder.feed(data, max_bytes - size)
        except _Overflow:
            raise too_large() from None
        size += len(data)
        if size > max_bytes:
            raise too_large()
        if data:
            chunks.append(data)
    for decoder in decoders:
        decoder.finish(source, str(response.url))
    return b"".join(chunks)


class _Overflow(Exception):
    """A decoder would produce more bytes than the cap leaves."""


class _BoundedDecoder:
    """Undo one Content-Encoding (gzip or deflate), producing at most `room` bytes per call."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._raw_deflate_tried = encoding != "deflate"
        self._obj = self._new()

    def _new(self, *, raw: bool = False) -> Any:
        if self.encoding == "deflate":
            return zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
        return zlib.decompressobj(zlib.MAX_WBITS | 16)

    def feed(self, data: bytes, room: int) -> bytes:
        out: list[bytes] = []
        while data:
            try:
                piece = self._obj.decompress(data, room + 1)
            except zlib.error:
                if self._raw_deflate_tried:
                    raise
                # "deflate" is often sent without its zlib header (as httpx also tolerates).
                self._raw_deflate_tried = True
                self._obj = self._new(raw=True)
                continue
            self._raw_deflate_tried = True
            if len(piece) > room:
                raise _Overflow
            room -= len(piece)
            out.append(piece)
            data = self._obj.unconsumed_tail
            if self._obj.eof:
                # Concatenated gzip members (RFC 1952 §2.2) are one body.
                data = self._obj.unused_data
                if data:
                    self._obj = self._new()
        return b"".join(out)

    def finish(self, source: Source, url: str) -> None:
        if not self._obj.eof:
            raise FetchError(
                source.id,
                f"the {self.encoding}-compressed body is cut off before its end; the download "
                "was interrupted or the server is misconfigured",
                url=url,
            )


def _decoders(source: Source, response: httpx.Response) -> list[_BoundedDecoder]:
    """The decoders for the Content-Encoding header, in the order they must be applied."""
    decoders: list[_BoundedDecoder] = []
    header = response.headers.get("content-encoding", "")
    for value in reversed([v.strip().lower() for v in header.split(",") if v.strip()]):
        if value in ("identity", "none"):
            continue
        if value in ("gzip", "x-gzip", "deflate"):
            decoders.append(_BoundedDecoder("deflate" if value == "deflate" else "gzip"))
            continue
        raise FetchError(
            source.id,
            f"the server compressed the body with {value!r}, which we did not ask for and "
            "cannot read; the site may be misconfigured",
            url=str(response.url),
            status=response.status_code,
        )
    return decoders


_CONTROL_CHARS: Final = re.compile("[\x00-\x08\x0e-\x1f\x7f]")
_BINARY_SHARE: Final = 0.05  # text formats have next to no control characters
_BINARY_SAMPLE: Final = 65536


def _is_binary(text: str) -> bool:
    """Whether decoded text is mostly control characters, i.e. not text at all."""
    sample = text[:_BINARY_SAMPLE]
    return bool(sample) and len(_CONTROL_CHARS.findall(sample)) > _BINARY_SHARE * len(sample)


def _human_size(count: int) -> str:
    """10485760 → "10 MB", 65536 → "64 KB" (binary units, as the limits are written)."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= scale:
            value = count / scale
            return (
                f"{value:.0f} {unit}"
                if value == int(value) or value >= 10
                else f"{value:.1f} {unit}"
            )
    return f"{count} bytes"


def _translate(source: Source, exc: BaseException, settings: FetchSettings) -> FetchError:
    """Turn an httpx or socket error into a FetchError a person can act on."""
    request_url = _request_url(exc) or source.url
    parts = urlsplit(request_url)
    host = parts.hostname or request_url
    where = parts.netloc or host
    if isinstance(exc, httpx.TooManyRedirects):
        return FetchError(
            source.id,
            f"too many redirects (more than {settings.max_redirects}); the site may redirect in "
            "a loop, open the url in a browser and put the final address in sources.yaml",
            url=request_url,
        )
    if isinstance(exc, httpx.ConnectTimeout):
        return _Transient(
            source.id,
            f"timed out after {settings.connect_timeout:g} s connecting to {where}",
            url=request_url,
        )
    if isinstance(exc, httpx.TimeoutException):
        return _Transient(
            source.id,
            f"timed out after {settings.read_timeout:g} s waiting for {where} to answer",
            url=request_url,
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return FetchError(
            source.id,
            f"invalid address {request_url!r}: {exc}; fix it in sources.yaml",
            url=request_url,
        )
    if isinstance(exc, httpx.DecodingError | zlib.error):
        return FetchError(
            source.id,
            f"the server sent a badly compressed body ({exc}); the site may be misconfigured",
            url=request_url,
        )
    causes = _os_errors(exc)
    if any(isinstance(cause, socket.gaierror) for cause in causes):
        return _Transient(
            source.id,
            f"could not resolve host {host!r}: the name does not exist or DNS is unreachable; "
            "check the url in sources.yaml and your connection",
            url=request_url,
        )
    if any(isinstance(cause, ssl.SSLError) for cause in causes):
        return FetchError(
            source.id,
            f"secure connection to {where} failed ({_short(exc)}); its certificate may be "
            "invalid or expired",
            url=request_url,
        )
    if any(cause.errno == errno.ECONNREFUSED for cause in causes):
        return _Transient(
            source.id,
            f"connection refused by {where}: nothing answers there, the site may be down",
            url=request_url,
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return _Transient(
            source.id,
            f"{where} closed the connection unexpectedly ({_short(exc)})",
            url=request_url,
        )
    if isinstance(exc, httpx.TransportError | OSError):
        return _Transient(
            source.id, f"network error talking to {where}: {_short(exc)}", url=request_url
        )
    return FetchError(source.id, f"request failed: {_short(exc)}", url=request_url)


def _request_url(exc: BaseException) -> str | None:
    """The URL being fetched when `exc` happened (after redirects), if httpx knows it."""
    if isinstance(exc, httpx.RequestError):
        try:
            return str(exc.request.url)
        except RuntimeError:  # raised when the error has no request attached
            return None
    return None


def _os_errors(exc: BaseException) -> list[OSError]:
    """The socket errors under httpx's wrappers (httpx → httpcore → anyio → OSError), deepest last.

    anyio wraps the real cause ("connection refused") in a generic "All connection attempts
    failed", or an ExceptionGroup when several addresses were tried, so the whole tree is walked.
    """
    found: list[OSError] = []
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError):
            found.append(current)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)
    return found


def _short(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


# ---------------------------------------------------------------------------------------------
# Decoding

_BOMS: Final = (
    # UTF-32 first: its little-endian BOM starts with UTF-16's.
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# UTF-16 XML without a BOM still starts with "<?xml" (XML 1.0 appendix F); UTF-8 would accept
# the NUL bytes, so this must be recognised before trying UTF-8.
_UTF16_XML: Final = (
    (b"<\x00?\x00x\x00m\x00l\x00", "utf-16-le"),
    (b"\x00<\x00?\x00x\x00m\x00l", "utf-16-be"),
)

# Labels browsers read as a wider encoding (WHATWG Encoding Standard): servers say "iso-8859-1"
# or "gb2312" and send windows-1252 or GBK bytes.
_SUPERSETS: Final[Mapping[str, str]] = {
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
}
# Single-byte labels that never fail to decode, so a mislabelled UTF-8 body would turn to mojibake.
_LATIN: Final = frozenset({"cp1252", "iso8859-15"})
# Detection often prefers cp1250 or cp775 for short French text (they share é, è, ç); when a
# Western European encoding is nearly as plausible, take it: these are what French sites use.
_WESTERN: Final = ("cp1252", "iso8859-15", "iso8859-1")
_DETECTION_SLACK: Final = 0.05

_XML_DECLARATION = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_META_CHARSET = re.compile(rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_C1_CONTROLS = re.compile("[\x80-\x9f]")
_HTML_SNIFF_BYTES: Final = 8192  # the WHATWG prescan reads 1024; real heads are often longer


def decode_document(content: bytes, content_type: str | None) -> tuple[str, str, tuple[str, ...]]:
    """`decode_body`, plus what went wrong on the way, in words for the source's health."""
    warnings: list[str] = []
    text, encoding = decode_body(content, content_type, warnings)
    return text, encoding, tuple(warnings)


def decode_body(
    content: bytes, content_type: str | None, warnings: list[str] | None = None
) -> tuple[str, str]:
    """Decode a response body; return (text, Python codec name used).

    Order: byte order mark; the charset of the Content-Type header; the XML declaration (for XML)
    or a <meta charset> / <meta http-equiv> (for HTML); UTF-8 if the bytes are valid UTF-8;
    charset-normalizer detection; cp1252, then latin-1, which never fails. A declared charset
    that is unknown or does not decode the bytes is skipped, never fatal. C1 control characters,
    which only appear when cp1252 text was converted to Unicode as if it were Latin-1 ("don\x92t"),
    are mapped back to the cp1252 characters they stood for, as feed readers do.

    Bytes that are mostly valid UTF-8 (at least twice as many well-placed continuation bytes —
    one per "é", two per CJK character — as invalid sequences) are UTF-8 with the invalid
    sequences replaced by U+FFFD, rather than mojibake throughout; `warnings` then gets a line
    saying how many were replaced.
    """
    text, encoding = _decode(content, content_type, warnings if warnings is not None else [])
    return _C1_CONTROLS.sub(_from_cp1252, text), encoding


def _decode(content: bytes, content_type: str | None, warnings: list[str]) -> tuple[str, str]:
    """The decoding steps of `decode_body`, first success wins."""
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            try:
                return content[len(bom) :].decode(encoding), encoding
            except UnicodeDecodeError:
                logger.debug("bytes after a %s BOM do not decode; ignoring the BOM", encoding)
                break
    for signature, encoding in _UTF16_XML:
        if content.startswith(signature):
            try:
                return content.decode(encoding), encoding
            except UnicodeDecodeError:
                break

    for label in _declared_charsets(content, content_type):
        decoded = _decode_declared(content, label, warnings)
        if decoded is not None:
            return decoded

    try:
        return content.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    mostly = _mostly_utf8(content, warnings)
    if mostly is not None:
        return mostly, "utf-8"

    detected = _detect(content)
    if detected is not None:
        return detected
    try:
        return content.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; latin-1 maps every byte.
        return content.decode("iso8859-1"), "iso8859-1"


def _from_cp1252(match: re.Match[str]) -> str:
    try:
        return match.group().encode("latin-1").decode("cp1252")
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined stay as they are
        return match.group()


def _declared_charsets(content: bytes, content_type: str | None) -> list[str]:
    """Charset labels the document declares, most authoritative first."""
    labels: list[str] = []
    media_type = ""
    if content_type:
        message = Message()
        message["content-type"] = content_type
        media_type = message.get_content_type()
        charset = message.get_param("charset")
        if isinstance(charset, str) and charset.strip():
            labels.append(charset.strip())
    head = content[:_HTML_SNIFF_BYTES]
    declaration = _XML_DECLARATION.match(head)
    if declaration:
        labels.append(declaration.group(1).decode("ascii"))
    elif "xml" not in media_type:
        # Only outside XML: a feed may carry escaped or CDATA HTML with someone else's <meta>.
        meta = _META_CHARSET.search(head)
        if meta:
            label = meta.group(1).decode("ascii")
            # A <meta> read as ASCII cannot truly be UTF-16; browsers take it as UTF-8.
            labels.append("utf-8" if label.lower().startswith(("utf-16", "utf-32")) else label)
    return labels


_REPLACEMENT_BYTES: Final = "\ufffd".encode()


def _mostly_utf8(content: bytes, warnings: list[str]) -> str | None:
    """The bytes as UTF-8 with invalid sequences replaced, if most non-ASCII text is valid UTF-8.

    Real Latin-1 or cp1252 French text is practically never valid UTF-8 ("é" is one byte followed
    by ASCII), so a clear majority of valid multi-byte characters means UTF-8 damaged in a few
    places (a pasted fragment, a cut character), not another encoding.
    """
    text = content.decode("utf-8", "replace")
    already = content.count(_REPLACEMENT_BYTES)
    replaced = text.count("\ufffd") - already
    if replaced <= 0:
        return None
    # The evidence is each continuation byte where UTF-8 wants one: one per "é", two per CJK
    # character, three per emoji (a Japanese or emoji-rich text with a few damaged characters
    # is as clearly UTF-8 as a French one with twice as many accents as damaged ones).
    # (Each character's UTF-8 length minus one, summed, leaving out the U+FFFD, 3 bytes each.)
    evidence = len(text.encode()) - len(text) - 2 * (replaced + already)
    if evidence < 2 * replaced:
        return None
    warnings.append(
        f"the document is not valid UTF-8: {replaced} invalid byte sequence"
        f"{'s' if replaced != 1 else ''} replaced with \ufffd; the site should fix its encoding"
    )
    return text


def _decode_declared(content: bytes, label: str, warnings: list[str]) -> tuple[str, str] | None:
    """Decode with a declared label, or None if the label is unknown or does not fit the bytes."""
    try:
        name = codecs.lookup(label).name
    except LookupError:
        logger.debug("unknown charset %r declared; ignoring it", label)
        return None
    name = _SUPERSETS.get(name, name)
    if name in _LATIN and not content.isascii():
        # Servers often label UTF-8 as ISO-8859-1 (Apache's old AddDefaultCharset). Real Latin-1
        # French text is practically never valid UTF-8, so valid UTF-8 means UTF-8.
        try:
            return content.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
        mostly = _mostly_utf8(content, warnings)
        if mostly is not None:
            return mostly, "utf-8"
    for candidate in (name, "iso8859-1") if name == "cp1252" else (name,):
        try:
            return content.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    logger.debug("declared charset %r does not decode the body; detecting instead", label)
    return None


def _detect(content: bytes) -> tuple[str, str] | None:
    """Guess the encoding with charset-normalizer, preferring Western European code pages."""
    matches = list(charset_normalizer.from_bytes(content))
    if not matches:
        return None
    best_chaos = min(match.chaos for match in matches)
    plausible = [m for m in matches if m.chaos <= best_chaos + _DETECTION_SLACK]
    names = [codecs.lookup(m.encoding).name for m in plausible]
    ordered = [n for n in _WESTERN if n in names] + [n for n in names if n not in _WESTERN]
    for name in ordered:
        try:
            return content.decode(name), name
        except UnicodeDecodeError:  # detection may propose an encoding that fails strictly
            continue
    return None
