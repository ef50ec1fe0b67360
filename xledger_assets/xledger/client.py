"""One GraphQL request to Xledger, with the retries Xledger's own sample recommends.

Sorting errors into "wait and retry" and "give up with a message a user can act on" lives here,
so the paging and sync code above never sees a raw HTTP or GraphQL error.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import orjson

from xledger_assets.errors import (
    ConfigurationError,
    XledgerApiError,
    XledgerAuthError,
    XledgerRateLimitError,
    XledgerTransientError,
)
from xledger_assets.redact import register_secret

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_API_URL = "https://www.xledger.net/graphql"

BURST = "BAD_REQUEST.BURST_RATE_LIMIT_REACHED"
CONCURRENCY = "BAD_REQUEST.CONCURRENCY_LIMIT_REACHED"
CREDITS = "BAD_REQUEST.INSUFFICIENT_CREDITS"
QUERY_TIMED_OUT = "Your query timed out."

#: Pages are not made smaller than this when Xledger times out; at this size a timed-out
#: request is retried like any transient failure.
MIN_PAGE_SIZE = 100

_TOKEN_HELP = (
    "the token may have expired or been revoked (demo tokens vanish at each demo refresh): "
    "ask an Xledger domain administrator for a new API token and update XLEDGER_API_TOKEN"
)


class QueryTimedOutError(XledgerTransientError):
    """Xledger gave up on a heavy page; a smaller ``first`` usually helps. Raised (not retried)
    only for requests whose ``first`` is above :data:`MIN_PAGE_SIZE`, so the caller can shrink
    the page."""


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying. Waits follow Xledger's published sample."""

    burst_wait: float = 5.0
    concurrency_wait: float = 1.0
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    max_attempts: int = 10  # transient failures (5xx, timeouts, broken bodies, unknown codes)
    max_elapsed: float = 900.0  # seconds a single request may spend retrying in total
    credits_max_wait: float = 900.0  # wait for credits when resetAt is at most this far away
    timeout: float = 120.0


@dataclass
class RequestMeter:
    """Metered requests and downloaded bytes: what Xledger bills."""

    requests: int = 0
    bytes: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)

    def record(self, operation: str, size: int) -> None:
        self.requests += 1
        self.bytes += size
        self.by_operation[operation] = self.by_operation.get(operation, 0) + 1

    @property
    def megabytes(self) -> float:
        return self.bytes / 1_000_000


class XledgerClient:
    """Sends GraphQL requests with ``Authorization: token <token>``.

    ``sleep`` and ``now`` are injectable so tests can record waits instead of sleeping.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        policy: RetryPolicy | None = None,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if not token:
            raise XledgerAuthError("XLEDGER_API_TOKEN is empty")
        register_secret(token)
        _check_url(url)
        self.url = url
        self.policy = policy or RetryPolicy()
        self._token = token
        self._http = http or httpx.Client(timeout=httpx.Timeout(self.policy.timeout, connect=15.0))
        self._own_http = http is None
        self._sleep = sleep
        self._now = now
        self._rng = rng or random.Random()
        self.meter = RequestMeter()

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> XledgerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(
        self, query: str, variables: Mapping[str, Any] | None = None, *, operation: str = "query"
    ) -> dict[str, Any]:
        """Return the ``data`` object of a successful response, retrying what can be retried."""
        data: dict[str, Any] = self._execute(query, variables, operation, None)
        return data

    def execute_fast(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        operation: str = "query",
        fast: Callable[[bytes], T | None],
    ) -> dict[str, Any] | T:
        """:meth:`execute`, but the raw body of an answer with an HTTP status below 400 goes to
        ``fast`` first: what it returns (not None) is returned as is, and the body is not parsed
        here. When it returns None, the body takes the usual way (``orjson.loads``, GraphQL
        errors, retries), with no extra request.

        ``fast`` must return something only for a body that the usual way would have read as a
        JSON object without errors and with a ``data`` object. It runs once per such answer,
        in the calling thread.
        """
        return self._execute(query, variables, operation, fast)

    def _execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None,
        operation: str,
        fast: Callable[[bytes], Any] | None,
    ) -> Any:
        body = orjson.dumps({"query": query, "variables": dict(variables or {})})
        headers = {
            "Authorization": f"token {self._token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        first = (variables or {}).get("first")
        shrinkable = isinstance(first, int) and first > MIN_PAGE_SIZE
        started = self._now()
        transient_failures = 0
        attempts = 0
        while True:
            attempts += 1
            try:
                return self._attempt(body, headers, operation, shrinkable, fast)
            except _Retry as retry:
                wait = retry.wait
                if retry.transient:
                    transient_failures += 1
                    if transient_failures >= self.policy.max_attempts:
                        raise retry.final(attempts) from None
                    wait = self._backoff(transient_failures)
                if self._now() - started + wait > self.policy.max_elapsed:
                    raise retry.final(attempts) from None
                log.warning("Xledger %s: %s; retrying in %.1f s", operation, retry.reason, wait)
                self._sleep(wait)

    def execute_partial(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        operation: str = "query",
        optional: Collection[str] = (),
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """:meth:`execute` for a query of several root fields, some of which may fail alone.

        When Xledger answers ``data`` and every error is a field error (a ``path``) of a root
        field (response key) in ``optional``, without a code, this returns ``data`` and the
        messages of the failed fields by response key; anything else goes the usual way
        (retried or raised), so rate limits, token problems and failures of the other fields
        behave exactly as in :meth:`execute`.
        """
        allowed = set(optional)

        def read(body: bytes) -> tuple[dict[str, Any], dict[str, str]] | None:
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError:
                return None
            data = payload.get("data") if isinstance(payload, dict) else None
            errors = payload.get("errors") if isinstance(payload, dict) else None
            if not isinstance(data, dict) or not errors or not isinstance(errors, list):
                return (data, {}) if isinstance(data, dict) and not errors else None
            failed: dict[str, str] = {}
            for error in errors:
                path = error.get("path") if isinstance(error, dict) else None
                extensions = error.get("extensions") if isinstance(error, dict) else None
                code = error.get("code") or (
                    extensions.get("code") if isinstance(extensions, dict) else None
                )
                if code or not isinstance(path, list) or not path or path[0] not in allowed:
                    return None
                failed.setdefault(str(path[0]), str(error.get("message") or ""))
            return data, failed

        result: tuple[dict[str, Any], dict[str, str]] = self._execute(
            query, variables, operation, read
        )
        return result

    def _backoff(self, failures: int) -> float:
        ceiling = min(self.policy.backoff_cap, self.policy.backoff_base * 2 ** (failures - 1))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def _attempt(
        self,
        body: bytes,
        headers: dict[str, str],
        operation: str,
        shrinkable: bool = False,
        fast: Callable[[bytes], Any] | None = None,
    ) -> Any:
        try:
            status, content = self._post(body, headers)
        except httpx.TimeoutException:
            raise _Retry.transient_failure(
                f"no answer within {self.policy.timeout:.0f} s"
            ) from None
        except httpx.TransportError as exc:
            raise _Retry.transient_failure(
                f"connection to {self.url} failed ({type(exc).__name__}; check XLEDGER_API_URL)"
            ) from None
        self.meter.record(operation, len(content))
        if status in (401, 403):
            raise XledgerAuthError(f"Xledger refused the API token (HTTP {status}): {_TOKEN_HELP}")
        if status >= 500 or status == 429:
            raise _Retry.transient_failure(f"HTTP {status}")
        if fast is not None and status < 400:
            parsed = fast(content)
            if parsed is not None:
                return parsed
        try:
            payload = orjson.loads(content)
        except orjson.JSONDecodeError:
            kind = "an HTML page" if content.lstrip()[:1] == b"<" else "a body that is not JSON"
            raise _Retry.transient_failure(f"HTTP {status} with {kind}") from None
        if not isinstance(payload, dict):
            raise _Retry.transient_failure(f"HTTP {status} with a JSON {type(payload).__name__}")
        errors = payload.get("errors")
        if errors:
            self._raise_for_errors(errors, operation, shrinkable)
        if status >= 400:
            raise XledgerApiError(f"Xledger answered HTTP {status} to {operation}")
        data = payload.get("data")
        if not isinstance(data, dict):
            raise _Retry.transient_failure("a response without data")
        return data

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """The status and the whole body of one POST (what ``post().content`` gives).

        Read from the stream, not through ``response.content``: httpx keeps each response in a
        reference cycle with its stream, so a body cached on it (6 MB for a page) lives until
        the garbage collector next runs, which is seldom while few Python objects are made
        (pages read by pyarrow.json): ten or twenty pages of memory.
        """
        with self._http.stream("POST", self.url, content=body, headers=headers) as response:
            return response.status_code, b"".join(response.iter_bytes())

    def _raise_for_errors(self, errors: Any, operation: str, shrinkable: bool = False) -> None:
        first = errors[0] if isinstance(errors, list) and errors else {}
        if not isinstance(first, dict):
            first = {"message": str(first)}
        message = str(first.get("message") or "")
        extensions = first.get("extensions") if isinstance(first.get("extensions"), dict) else {}
        code = first.get("code") or (extensions or {}).get("code")
        lowered = message.lower()
        if code == BURST:
            raise _Retry(self.policy.burst_wait, "burst rate limit reached", XledgerRateLimitError)
        if code == CONCURRENCY:
            raise _Retry(
                self.policy.concurrency_wait, "concurrency limit reached", XledgerRateLimitError
            )
        if code == CREDITS:
            self._credits(message, (extensions or {}).get("resetAt"))
        if "bad format for api token" in lowered or (
            "token" in lowered
            and any(w in lowered for w in ("invalid", "expired", "unauthori", "not valid"))
        ):
            raise XledgerAuthError(f"Xledger refused the API token ({message}): {_TOKEN_HELP}")
        if message.strip() == QUERY_TIMED_OUT:
            if shrinkable:
                raise QueryTimedOutError(f"Xledger: {QUERY_TIMED_OUT} ({operation})")
            raise _Retry.transient_failure("the query timed out")
        if "cursor" in lowered:
            # Cursor problems (expired, unknown) never clear by waiting; the caller decides.
            raise XledgerApiError(f"Xledger rejected {operation}: {message}")
        if code:
            # Unknown codes are transient per Xledger's sample (maintenance windows and the like).
            raise _Retry.transient_failure(f"error {code}: {message}")
        raise XledgerApiError(f"Xledger rejected {operation}: {message}")

    def _credits(self, message: str, reset_at: Any) -> None:
        when = _parse_reset_at(reset_at)
        if when is not None:
            wait = (when - datetime.now(UTC)).total_seconds()
            if wait <= self.policy.credits_max_wait:
                raise _Retry(max(wait, 1.0), f"credits spent until {when:%Y-%m-%d %H:%M} UTC")
        until = f" until {when:%Y-%m-%d %H:%M} UTC" if when else ""
        raise XledgerRateLimitError(
            f"Xledger's monthly API credits are spent{until} ({message}); wait for them to "
            "return or buy more credits, then run again"
        )


def _check_url(url: str) -> None:
    """A malformed endpoint fails at once, naming the variable, instead of being retried."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(
            f"XLEDGER_API_URL={url!r} is not an http(s) URL; Xledger's is {DEFAULT_API_URL}"
        )


def _parse_reset_at(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _Retry(Exception):
    """Internal: this attempt failed in a way worth waiting out."""

    def __init__(
        self,
        wait: float,
        reason: str,
        final_class: type[XledgerApiError] = XledgerTransientError,
        *,
        transient: bool = False,
    ) -> None:
        super().__init__(reason)
        self.wait = wait
        self.reason = reason
        self.final_class = final_class
        self.transient = transient

    @classmethod
    def transient_failure(cls, reason: str) -> _Retry:
        return cls(0.0, reason, XledgerTransientError, transient=True)

    def final(self, attempts: int) -> XledgerApiError:
        return self.final_class(
            f"Xledger kept failing ({self.reason}) after {attempts} attempts; "
            "try again later (Xledger may be in a maintenance window)"
        )
