"""download_artifact: the API answers with a short-lived storage URL (a 302), and the
artifact is read from there by a client of its own.

The storage is another host (S3, GCS, Artifactory): the account's token never goes there
(the RestClient sends it only to the base URL, and this client has none), the URL must be
http(s) and may not aim at loopback unless the API itself is there (an emulator), and at most
``max_bytes`` of the artifact are ever held: a larger one is refused by its declared size, or
as soon as the bytes read pass it.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import threading
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

from ...errors import ApiError, ArgumentError, ConnectionFailed, HostError, LimitExceeded
from ...limits import size_text
from ...request import Call
from ...rest import REQUEST_SECONDS, USER_AGENT

if TYPE_CHECKING:
    import ssl

    import httpx

READ_TIMEOUT = 30.0  # seconds any one step (connect, a read) may take
STORAGE = "the artifact storage"
_CODINGS = ("gzip", "deflate")  # content codings undone as the bytes arrive, as rest.py does
_FILENAME = re.compile(r"""filename\*?=(?:UTF-8'')?"?([^";]+)"?""", re.IGNORECASE)
# What inet_aton (and so a connect) reads as an IPv4 address: 127.1, 0x7f.0.0.1, 2130706433.
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|\d+)(?:\.(?:0x[0-9a-f]*|\d+)){0,3}\.?", re.IGNORECASE)
_ERROR_BYTES = 500  # of a storage error's body, for its message


def download_artifact(call: Call) -> tuple[Any, dict[str, Any]]:
    """GET …/download without following it, then the storage URL it names, bounded."""
    tool = call.tool.full_name
    limit = call.client.max_body_bytes
    max_bytes = call.args.get("max_bytes") or limit
    if max_bytes > limit:
        raise ArgumentError(
            f"Argument 'max_bytes' of {tool} must be at most {limit} (the run's"
            f" --memory-limit, {size_text(limit)}), got the number {max_bytes}",
            tool=tool,
        )
    response = call.send(redirect=True)  # a Location httpx cannot read fails in rest.py
    url = _storage_url(call, response.headers.get("Location"), response.data)
    check_storage_url(url, call.client.base_url, tool=tool)
    status, headers, content = fetch(url, call.client.transport, max_bytes, tool=tool)
    result: dict[str, Any] = {
        "filename": _filename(headers.get("Content-Disposition"), url),
        "mime_type": (headers.get("Content-Type") or "application/octet-stream")
        .split(";")[0]
        .strip(),
        "bytes": len(content),
    }
    text = as_text(content)
    if text is not None:
        result["text"] = text
    else:
        result["base64"] = base64.b64encode(content).decode("ascii")
    meta = response.meta()
    meta["status"] = status
    return result, meta


def _storage_url(call: Call, location: str | None, data: Any) -> str:
    """Where the artifact is: the ``Location`` header, else the body's ``url``."""
    found = location or (data.get("url") if isinstance(data, dict) else None)
    if not isinstance(found, str) or not found.strip():
        raise HostError(
            f"{call.tool.full_name}: the API named no download URL for the artifact (no"
            " Location header, no url in the reply)",
            tool=call.tool.full_name,
        )
    # A relative Location is relative to the request's own URL.
    return urllib.parse.urljoin(call.client.url_for(call.path()), found.strip())


def check_storage_url(url: str, base_url: str, *, tool: str) -> None:
    """Refuses a storage URL the artifact must not be fetched from: not http(s), carrying
    credentials, a link-local or unspecified address (cloud metadata services live there),
    an IP address written in a non-standard form, or loopback while the API is elsewhere.
    Host names are not resolved: a name is taken for what it says."""
    problem = _url_problem(url, base_url)
    if problem:
        shown = url if len(url) <= 200 else url[:199] + "…"
        raise HostError(
            f"{tool}: refused to download the artifact from {shown}: {problem}", tool=tool
        )


def _url_problem(url: str, base_url: str) -> str | None:
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (a port out of range raises here)
    except ValueError:
        return "it is not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return "only http and https URLs are followed"
    if not host:
        return "it names no host"
    if parts.username is not None or parts.password is not None:
        return "it carries credentials"
    address = _address(host)
    if address is None and _NUMERIC_HOST.fullmatch(host):
        return "its host is an IP address in a non-standard form"
    if address is not None and (
        address.is_link_local or address.is_unspecified or address.is_multicast
    ):
        return "its host is a link-local, unspecified or multicast address"
    if _is_loopback(host) and not _local_api(base_url):
        return "it points at this machine (loopback), and the API is not on it"
    return None


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_loopback(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    address = _address(host)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address is not None and address.is_loopback


def _local_api(base_url: str) -> bool:
    """The API itself is on loopback, or an emulator in process (``--emulate``)."""
    from ...emulation import EMULATED_HOST

    host = (urllib.parse.urlsplit(base_url).hostname or "").lower()
    return _is_loopback(host) or host == EMULATED_HOST or host.endswith("." + EMULATED_HOST)


def fetch(
    url: str, transport: httpx.BaseTransport | None, max_bytes: int, *, tool: str
) -> tuple[int, httpx.Headers, bytes]:
    """GET ``url`` with no credentials and no redirects: its status, headers and body, the
    body never more than ``max_bytes`` (declared or read), all within ``REQUEST_SECONDS``."""
    import httpx

    deadline = time.monotonic() + REQUEST_SECONDS
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"}
    try:
        with (
            httpx.Client(
                transport=transport,
                headers=headers,
                timeout=READ_TIMEOUT,
                follow_redirects=False,
                verify=_tls(),
            ) as client,
            client.stream("GET", url) as reply,
        ):
            _check_reply(reply, max_bytes, tool)
            return reply.status_code, reply.headers, _read(reply, max_bytes, deadline, tool)
    except httpx.TimeoutException:
        raise _too_slow(tool) from None
    except httpx.TransportError as exc:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise ConnectionFailed(f"Failed to connect to {STORAGE}: {detail}", tool=tool) from None


_TLS: list[ssl.SSLContext] = []  # one for every download: making one reads the CA bundle
_TLS_LOCK = threading.Lock()


def _tls() -> ssl.SSLContext:
    import httpx

    with _TLS_LOCK:
        if not _TLS:
            _TLS.append(httpx.create_ssl_context())
        return _TLS[0]


def _check_reply(reply: httpx.Response, max_bytes: int, tool: str) -> None:
    """Refuses a reply before its body is read: an error, a redirect, a size or a content
    coding the bounds cannot hold."""
    if reply.is_redirect:
        raise HostError(
            f"{tool}: {STORAGE} answered {reply.status_code} with another redirect; it is"
            " not followed",
            tool=tool,
            status=reply.status_code,
        )
    if not reply.is_success:
        message = _error_text(reply)
        raise ApiError(
            f"Artifact storage error ({reply.status_code}): {message}",
            status=reply.status_code,
            message=message,
            tool=tool,
        )
    declared = reply.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(tool, max_bytes, int(declared))
    coding = reply.headers.get("Content-Encoding", "").lower().replace(" ", "")
    codings = [c for c in coding.split(",") if c not in ("", "identity")]
    if len(codings) > 1 or (codings and codings[0] not in _CODINGS):
        raise ConnectionFailed(
            f"{STORAGE} sent the artifact in content encoding {coding!r}; kosmo reads"
            f" {', '.join(_CODINGS)} or none",
            tool=tool,
        )


def _read(reply: httpx.Response, max_bytes: int, deadline: float, tool: str) -> bytes:
    """The body, counted as it arrives: refused as soon as it would pass ``max_bytes``."""
    body = bytearray()
    for chunk in reply.iter_bytes(chunk_size=64 * 1024):
        if len(body) + len(chunk) > max_bytes:
            raise _too_large(tool, max_bytes)
        body += chunk
        if time.monotonic() > deadline:
            raise _too_slow(tool)
    return bytes(body)


def _error_text(reply: httpx.Response) -> str:
    """The start of an error reply's body (S3 answers XML), on one line."""
    taken = b""
    for chunk in reply.iter_raw():
        taken += chunk
        if len(taken) >= _ERROR_BYTES:
            break
    text = " ".join(taken[:_ERROR_BYTES].decode("utf-8", "replace").split())
    return text or reply.reason_phrase


def as_text(content: bytes) -> str | None:
    """The artifact as text when it is UTF-8 with no NUL byte; None for anything else."""
    if b"\x00" in content:
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _filename(disposition: str | None, url: str) -> str:
    """The name the storage gives the file, else the last segment of its URL's path."""
    found = _FILENAME.search(disposition or "")
    if found:
        return urllib.parse.unquote(found[1]).strip()
    segment = urllib.parse.urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return urllib.parse.unquote(segment) or "artifact"


def _too_large(tool: str, max_bytes: int, declared: int | None = None) -> LimitExceeded:
    size = f" ({declared} bytes)" if declared is not None else ""
    return LimitExceeded(
        f"{tool}: the artifact{size} is larger than max_bytes ({max_bytes} bytes); nothing"
        " more was read. Raise max_bytes (at most the run's --memory-limit)",
        tool=tool,
    )


def _too_slow(tool: str) -> LimitExceeded:
    return LimitExceeded(
        f"{tool}: {STORAGE} did not send the artifact within {REQUEST_SECONDS:g} s",
        tool=tool,
    )
