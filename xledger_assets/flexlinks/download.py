"""Download one flexlink: retries for what may pass, clear messages for what will not.

A flexlink fails in two ways. Xledger or the network may be down for a moment (5xx, 429,
timeouts, dropped connections): retried with exponential backoff. Or the link itself is dead: an
expired or wrong token gets Xledger's HTML page with HTTP 200, a deleted link a 404. Retrying
cannot fix that, so it fails at once with a message telling the operator to create a new export
link and which variable to update. Checking the body's first bytes (an xlsx is a zip and starts
with ``PK\\x03\\x04``) is what tells a dead link from an export, since the status code does not.

The URL is a secret: no message, log line or exception chain here contains it. Library
exceptions (which carry the request) are never chained: errors are raised outside ``except``
blocks, so ``__cause__`` and ``__context__`` are both empty.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

import httpx

from xledger_assets.errors import (
    ConfigurationError,
    FlexlinkDownloadError,
    FlexlinkLinkError,
)
from xledger_assets.flexlinks.sources import FlexlinkSource, SourceFormat
from xledger_assets.redact import install_log_redaction, redact, redact_url

logger = logging.getLogger(__name__)

_ZIP_MAGIC = b"PK\x03\x04"
_MIB = 1024 * 1024


@dataclass(frozen=True)
class DownloadSettings:
    """How patient and how trusting a download is.

    ``timeout`` bounds each network step (connect, each read); ``attempt_timeout`` the whole body
    of one attempt, so a server that trickles bytes cannot hold a run forever. After a transient
    failure attempt ``n`` waits ``backoff * 2 ** (n - 1)`` seconds, at most ``max_backoff``.
    ``max_bytes`` guards memory: an export is read whole before parsing.
    """

    timeout: float = 60.0
    attempt_timeout: float = 600.0
    attempts: int = 4
    backoff: float = 2.0
    max_backoff: float = 60.0
    max_bytes: int = 200 * _MIB
    user_agent: str = "xledger-assets (flexlink reader)"

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigurationError("DownloadSettings.attempts must be at least 1")
        if self.timeout <= 0 or self.attempt_timeout <= 0:
            raise ConfigurationError("DownloadSettings timeouts must be positive")
        if self.max_bytes < 1:
            raise ConfigurationError("DownloadSettings.max_bytes must be positive")

    def wait_before(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2, 3, ...)."""
        return min(self.max_backoff, self.backoff * 2 ** (attempt - 2))


@dataclass(frozen=True)
class FlexlinkPayload:
    """A downloaded export whose first bytes say it is what the link promised."""

    body: bytes = field(repr=False)
    format: SourceFormat
    status: int
    content_type: str
    attempts: int


@dataclass(frozen=True)
class _Transient:
    reason: str


@dataclass(frozen=True)
class _Answer:
    status: int
    content_type: str
    body: bytes


def download_flexlink(
    source: FlexlinkSource,
    client: httpx.Client,
    settings: DownloadSettings,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> FlexlinkPayload:
    """GET ``source``, retrying transient failures, and check the body is an export."""
    install_log_redaction()
    last = "no attempt was made"
    for attempt in range(1, settings.attempts + 1):
        if attempt > 1:
            wait = settings.wait_before(attempt)
            logger.warning(
                "%s: %s (attempt %d of %d); retrying in %.1f s",
                source.describe,
                last,
                attempt - 1,
                settings.attempts,
                wait,
            )
            sleep(wait)
        outcome = _attempt(source, client, settings)
        if isinstance(outcome, _Transient):
            last = outcome.reason
            continue
        payload = _check(source, outcome, attempt)
        logger.info(
            "%s: downloaded %d bytes from %s (%s, HTTP %d, attempt %d)",
            source.describe,
            len(payload.body),
            redact_url(source.url),
            payload.format,
            payload.status,
            attempt,
        )
        return payload
    raise FlexlinkDownloadError(
        f"{source.describe} failed {settings.attempts} times, the last time with: {last}; "
        "Xledger or the network may be down, the next run will try again"
    )


def _attempt(
    source: FlexlinkSource, client: httpx.Client, settings: DownloadSettings
) -> _Answer | _Transient:
    """One GET. Transient failures come back as values; nothing here chains an httpx error."""
    deadline = time.monotonic() + settings.attempt_timeout
    transient: str | None = None
    fatal: str | None = None  # "too_large", "redirects" or "invalid_url"
    answer: _Answer | None = None
    try:
        with client.stream(
            "GET",
            source.url,
            timeout=httpx.Timeout(settings.timeout),
            follow_redirects=True,
            headers={"User-Agent": settings.user_agent},
        ) as response:
            status = response.status_code
            declared = response.headers.get("content-length", "")
            if status >= 500 or status == 429:
                transient = f"HTTP {status} ({_reason(status)})"
            elif declared.isdigit() and int(declared) > settings.max_bytes:
                fatal = "too_large"
            else:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > settings.max_bytes:
                        fatal = "too_large"
                        break
                    if time.monotonic() > deadline:
                        transient = f"the download took longer than {settings.attempt_timeout:g} s"
                        break
                    chunks.append(chunk)
                content_type = response.headers.get("content-type", "")
                answer = _Answer(status, content_type, b"".join(chunks))
    except httpx.TimeoutException as exc:
        transient = f"timed out after {settings.timeout:g} s ({type(exc).__name__})"
    except httpx.TooManyRedirects:
        fatal = "redirects"
    except httpx.InvalidURL:
        fatal = "invalid_url"
    except (httpx.TransportError, httpx.DecodingError) as exc:
        transient = f"{type(exc).__name__}: {redact(exc)}"
    # Raised here, outside the except blocks, so no httpx exception (and its URL) is chained.
    if fatal == "invalid_url":
        raise ConfigurationError(f"{source.env_var}: {source.describe} is not a valid URL")
    if fatal == "redirects":
        raise FlexlinkLinkError(
            f"{source.describe} redirected too many times: the link may have expired; "
            f"create a new export link and {source.update_hint}"
        )
    if fatal == "too_large":
        raise FlexlinkDownloadError(
            f"{source.describe} is larger than the size limit of {_size(settings.max_bytes)} "
            "(DownloadSettings.max_bytes); raise the limit if the export really is this large"
        )
    if transient is not None:
        return _Transient(transient)
    assert answer is not None
    return answer


def _check(source: FlexlinkSource, answer: _Answer, attempts: int) -> FlexlinkPayload:
    """Refuse anything that is not the export the link promised, saying what it was instead."""
    status, body = answer.status, answer.body
    expected = source.expected_format
    noun = "a JSON export" if expected == "json" else "an Excel file"
    dead = f"the link may have expired; create a new export link and {source.update_hint}"
    if status >= 400:
        raise FlexlinkLinkError(
            f"{source.describe} answered HTTP {status} ({_reason(status)}), not {noun}: "
            f"the link may have expired or been deleted; create a new export link and "
            f"{source.update_hint}"
        )
    if status >= 300:
        raise FlexlinkLinkError(
            f"{source.describe} answered HTTP {status} ({_reason(status)}) without a usable "
            f"redirect, not {noun}: {dead}"
        )
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    looks_zip = body.startswith(_ZIP_MAGIC)
    looks_json = head.startswith((b"{", b"["))
    if expected == "xlsx" or (expected is None and looks_zip):
        if looks_zip:
            return FlexlinkPayload(body, "xlsx", status, answer.content_type, attempts)
    elif (expected == "json" or expected is None) and looks_json:
        return FlexlinkPayload(body, "json", status, answer.content_type, attempts)
    if head.startswith(b"<") or "html" in answer.content_type.lower():
        raise FlexlinkLinkError(
            f"{source.describe} returned an HTML page (HTTP {status}), not {noun}: {dead}"
        )
    if not body:
        raise FlexlinkLinkError(
            f"{source.describe} returned an empty response (HTTP {status}), not {noun}: {dead}"
        )
    kind = redact(answer.content_type) or "no content type"
    raise FlexlinkLinkError(
        f"{source.describe} returned {len(body)} bytes of {kind} (HTTP {status}) that are not "
        f"{noun}: {dead}"
    )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "unknown status"


def _size(n: int) -> str:
    return f"{n / _MIB:g} MiB" if n >= _MIB else f"{n} bytes"
