"""Queued fault injection for the sandbox's GraphQL endpoint.

A fault is a JSON object (or :class:`Fault`), e.g.::

    {"kind": "burst_rate_limit", "times": 2, "root_field": "timesheets"}
    {"kind": "http_status", "status": 503, "body": "Service Unavailable"}
    {"kind": "insufficient_credits", "reset_at": "2024-08-01T00:00:00"}
    {"kind": "graphql_error", "code": "BAD_REQUEST.SOMETHING", "message": "..."}

Common keys: ``times`` (how many requests it hits, default 1, -1 = forever), ``root_field``
(only requests selecting that root field; default any), ``skip`` (let that many matching requests
through first), ``delay`` (seconds to wait before answering; ``slow`` is a pure delay).
Faults fire only on GraphQL POSTs, never on ``/_control`` calls; the first matching fault in queue
order fires and at most one fault fires per request.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

BURST = "BAD_REQUEST.BURST_RATE_LIMIT_REACHED"
CONCURRENCY = "BAD_REQUEST.CONCURRENCY_LIMIT_REACHED"
CREDITS = "BAD_REQUEST.INSUFFICIENT_CREDITS"
TIMEOUT_MESSAGE = "Your query timed out."

FAULT_KINDS: dict[str, str] = {
    "graphql_error": "a GraphQL error with a top-level code (HTTP 200)",
    "burst_rate_limit": f"graphql_error with code {BURST}",
    "concurrency_limit": f"graphql_error with code {CONCURRENCY}",
    "insufficient_credits": f"graphql_error with code {CREDITS} and extensions.resetAt",
    "timeout": f"the error {TIMEOUT_MESSAGE!r}",
    "http_status": "an HTTP error status (500, 502, 503, 529, ...) with a body",
    "slow": "answer normally after `delay` seconds",
    "html": "an HTML page with HTTP 200",
    "truncated_json": "the normal JSON body cut at fraction `cut`",
    "null_edges": "answer normally but with edges: null in every connection",
    "connection_reset": "close the socket without any response",
}

DEFAULT_MESSAGES = {
    "burst_rate_limit": "Burst rate limit reached: too many requests in the last 5 seconds.",
    "concurrency_limit": "Concurrency limit reached: too many requests at the same time.",
    "insufficient_credits": "Insufficient credits: the monthly request credits are used up.",
    "graphql_error": "Something went wrong.",
    "timeout": TIMEOUT_MESSAGE,
}
DEFAULT_CODES = {
    "burst_rate_limit": BURST,
    "concurrency_limit": CONCURRENCY,
    "insufficient_credits": CREDITS,
}
DEFAULT_STATUS_BODIES = {
    500: (
        "text/html; charset=utf-8",
        "<html><body><h1>500 Internal Server Error</h1></body></html>",
    ),
    502: ("text/html; charset=utf-8", "<html><body><h1>502 Bad Gateway</h1></body></html>"),
    503: ("text/html; charset=utf-8", "<html><body><h1>503 Service Unavailable</h1></body></html>"),
    504: ("text/html; charset=utf-8", "<html><body><h1>504 Gateway Timeout</h1></body></html>"),
    529: ("text/plain; charset=utf-8", "Site is overloaded"),
}
MAINTENANCE_HTML = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    "<title>Xledger – Scheduled maintenance</title></head>\n<body><h1>Xledger is being "
    "upgraded</h1><p>We will be back shortly. Vi är snart tillbaka.</p></body></html>\n"
)


@dataclass
class Fault:
    kind: str
    times: int = 1
    root_field: str | None = None
    skip: int = 0
    delay: float = 0.0
    # graphql_error family
    code: str | None = None
    message: str | None = None
    extensions: dict[str, Any] | None = None
    reset_at: str | None = None
    # http_status / html
    status: int | None = None
    body: str | None = None
    content_type: str | None = None
    headers: dict[str, str] | None = None
    # truncated_json
    cut: float = 0.5
    full_length: bool = False  # announce the full Content-Length, then close the socket early
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {self.kind!r}; expected one of {list(FAULT_KINDS)}"
            )
        if self.times == 0 or self.times < -1:
            raise ValueError("times must be >= 1, or -1 for forever")
        if self.skip < 0 or self.delay < 0:
            raise ValueError("skip and delay must not be negative")
        if not 0 <= self.cut < 1:
            raise ValueError("cut must be a fraction in [0, 1)")
        if self.kind == "http_status" and self.status is None:
            self.status = 500

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        known = {f.name for f in fields(cls)} - {"fired"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault keys {sorted(unknown)}; allowed: {sorted(known)}")
        if "kind" not in data:
            raise ValueError("a fault needs a 'kind'")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def matches(self, root_fields: list[str]) -> bool:
        return self.root_field is None or self.root_field in root_fields

    @property
    def exhausted(self) -> bool:
        return self.times != -1 and self.fired >= self.times

    def error_object(self, default_reset_at: str) -> dict[str, Any]:
        """The error object of the graphql_error family."""
        err: dict[str, Any] = {"message": self.message or DEFAULT_MESSAGES.get(self.kind, "")}
        code = self.code or DEFAULT_CODES.get(self.kind)
        if code:
            err["code"] = code
        extensions = dict(self.extensions or {})
        if self.kind == "insufficient_credits":
            extensions.setdefault("resetAt", self.reset_at or default_reset_at)
        if extensions:
            err["extensions"] = extensions
        return err


class FaultQueue:
    """Not thread-safe by itself: the sandbox calls it under its lock."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def push(self, fault: Fault) -> None:
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()

    def pending(self) -> list[Fault]:
        return list(self._faults)

    def take(self, root_fields: list[str]) -> Fault | None:
        """The fault for one request. Every matching fault with ``skip`` left counts this
        request; of those already due, the first in queue order fires."""
        chosen: Fault | None = None
        for fault in self._faults:
            if not fault.matches(root_fields):
                continue
            if fault.skip > 0:
                fault.skip -= 1
            elif chosen is None:
                chosen = fault
        if chosen is not None:
            chosen.fired += 1
            if chosen.exhausted:
                self._faults.remove(chosen)
        return chosen
