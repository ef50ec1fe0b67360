"""A local stand-in for Azure App Configuration: the REST subset the Python SDK uses.

There is no App Configuration emulator to install (Microsoft's is a container image), so this
implements the documented key-value API on a real HTTP server on 127.0.0.1:

* ``GET /kv/{key}?label=...&api-version=...``, ``PUT /kv/{key}?label=...``,
  ``DELETE /kv/{key}?label=...`` and the list ``GET /kv?key=...&label=...`` (key and label
  filters: exact names separated by commas, ``prefix*``, ``*``, ``\\0`` for "no label";
  paged through ``@nextLink``);
* ETags on every key-value, ``If-Match`` / ``If-None-Match`` (``*`` or an ETag): a failed
  precondition is ``412`` (``304`` for a GET with a matching ``If-None-Match``); read-only
  (locked) key-values refuse writes with ``409``;
* the service's bodies: ``application/vnd.microsoft.appconfig.kv+json`` (one key-value),
  ``...kvset+json`` (``{"items": [...], "@nextLink": ...}``), ``application/problem+json``
  (errors), with ``etag``, ``last_modified``, ``content_type``, ``tags``, ``locked``;
* HMAC-SHA256 request authentication as the service verifies it: the ``Authorization:
  HMAC-SHA256 Credential=<id>&SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<b64>``
  header, the string to sign ``VERB\\n<path?query>\\n<values of the signed headers joined by
  ;>``, keyed with the base64-decoded secret; ``x-ms-content-sha256`` must be the SHA-256 of the
  body and ``x-ms-date`` within 15 minutes of now. Anything else is ``401``.

Usage::

    with AppConfigEmulator() as emu:
        os.environ["XLEDGER_STATE_URL"] = emu.connection_string
        emu.seed("timesheets-deltas_cursor", "abc")   # a key-value without label
        ...
        emu.count("PUT")                             # requests seen, by method/path/status

Not implemented: snapshots, revisions, labels listing, feature-flag specifics, Sync-Token
consistency, AAD (bearer token) authentication, ``$Select`` (all fields are always returned).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

KV_CONTENT_TYPE = "application/vnd.microsoft.appconfig.kv+json; charset=utf-8"
KVSET_CONTENT_TYPE = "application/vnd.microsoft.appconfig.kvset+json; charset=utf-8"
PROBLEM_CONTENT_TYPE = "application/problem+json; charset=utf-8"
SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"
MAX_CLOCK_SKEW = timedelta(minutes=15)
NULL_LABEL = "\0"


def content_hash(body: bytes) -> str:
    """``x-ms-content-sha256``: base64 of the SHA-256 of the body."""
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def signature(secret_b64: str, string_to_sign: str) -> str:
    key = base64.b64decode(secret_b64)
    return base64.b64encode(
        hmac.new(key, string_to_sign.encode(), hashlib.sha256).digest()
    ).decode()


def sign_request(
    method: str,
    path_and_query: str,
    host: str,
    body: bytes,
    *,
    credential_id: str,
    secret_b64: str,
    date: datetime | None = None,
) -> dict[str, str]:
    """The authentication headers a client sends (as the SDK computes them); for tests that
    craft requests by hand (stale dates, tampered bodies)."""
    when = date or datetime.now(UTC)
    x_ms_date = format_datetime(when.astimezone(UTC), usegmt=True)
    digest = content_hash(body)
    to_sign = f"{method.upper()}\n{path_and_query}\n{x_ms_date};{host};{digest}"
    return {
        "x-ms-date": x_ms_date,
        "x-ms-content-sha256": digest,
        "Authorization": (
            f"HMAC-SHA256 Credential={credential_id}&SignedHeaders={SIGNED_HEADERS}"
            f"&Signature={signature(secret_b64, to_sign)}"
        ),
    }


def parse_request_date(text: str) -> datetime | None:
    """An ``x-ms-date``: RFC 1123 (``Fri, 11 May 2018 18:48:36 GMT``) or the Python SDK's own
    ``May, 11 2018 18:48:36.123456 GMT``, which the service accepts too."""
    text = text.strip()
    for fmt in ("%b, %d %Y %H:%M:%S.%f GMT", "%b, %d %Y %H:%M:%S GMT"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            pass
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class KeyValue:
    """One stored key-value."""

    key: str
    label: str | None
    value: str | None
    content_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    etag: str = ""
    last_modified: datetime = field(default_factory=lambda: datetime.now(UTC))
    locked: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "etag": self.etag,
            "key": self.key,
            "label": self.label,
            "content_type": self.content_type,
            "value": self.value,
            "tags": dict(self.tags),
            "locked": self.locked,
            "last_modified": self.last_modified.isoformat(timespec="seconds"),
        }


@dataclass(frozen=True)
class RequestRecord:
    """A request the emulator answered."""

    method: str
    path: str  # decoded path, e.g. /kv/xledger-sync:timesheets
    query: dict[str, str]  # lower-cased names, first values
    status: int
    authenticated: bool
    detail: str = ""  # why a request was refused


class _Problem(Exception):
    def __init__(self, status: int, title: str, detail: str = "", **headers: str) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers


def _new_etag() -> str:
    return uuid.uuid4().hex


def _etags(header: str) -> list[str]:
    out = []
    for part in header.split(","):
        part = part.strip()
        if part.startswith("W/"):
            part = part[2:]
        out.append(part.strip('"'))
    return out


def _split_filter(text: str) -> list[str]:
    """Split a key/label filter on unescaped commas; keeps backslash escapes in the parts."""
    parts, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _matcher(pattern: str) -> Callable[[str | None], bool]:
    if pattern == NULL_LABEL or pattern == "":
        return lambda v: v is None
    wildcard = pattern.endswith("*") and not pattern.endswith("\\*")
    body = pattern[:-1] if wildcard else pattern
    literal = body.replace("\\*", "*").replace("\\,", ",").replace("\\\\", "\\")
    if wildcard:
        return lambda v: v is not None and v.startswith(literal)
    return lambda v: v == literal


def _filter(raw: str | None) -> Callable[[str | None], bool]:
    if raw is None or raw == "*":
        return lambda v: True
    matchers = [_matcher(p) for p in _split_filter(raw)]
    return lambda v: any(m(v) for m in matchers)


class AppConfigEmulator:
    """An in-memory App Configuration store served over HTTP on ``host`` (127.0.0.1)."""

    def __init__(
        self,
        *,
        credential_id: str = "xledger-emulator",
        secret_b64: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        page_size: int = 100,
        max_clock_skew: timedelta = MAX_CLOCK_SKEW,
    ) -> None:
        self.credential_id = credential_id
        self.secret_b64 = secret_b64 or base64.b64encode(secrets.token_bytes(32)).decode()
        try:
            base64.b64decode(self.secret_b64, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("secret_b64 must be base64") from None
        self.host = host
        self.page_size = page_size
        self.max_clock_skew = max_clock_skew
        self._requested_port = port
        self._lock = threading.RLock()
        self._data: dict[tuple[str, str | None], KeyValue] = {}
        self._requests: list[RequestRecord] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        #: Called as ``hook(method, decoded_path)`` after authentication, before a request is
        #: handled (outside the store lock): tests use it to interleave a competing writer.
        self.before_request: Callable[[str, str], None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> AppConfigEmulator:
        if self._server is not None:
            return self
        emulator = self

        class Handler(_Handler):
            pass

        Handler.emulator = emulator
        server = ThreadingHTTPServer((self.host, self._requested_port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.name = f"appconfig-emulator-{self.port}"
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> AppConfigEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def connection_string(self) -> str:
        return f"Endpoint={self.endpoint};Id={self.credential_id};Secret={self.secret_b64}"

    # -- direct access for tests -------------------------------------------------------------

    def seed(
        self,
        key: str,
        value: str | None,
        *,
        label: str | None = None,
        content_type: str | None = None,
        tags: dict[str, str] | None = None,
        locked: bool = False,
    ) -> str:
        """Store a key-value directly (no request); returns its ETag."""
        with self._lock:
            kv = KeyValue(key, label, value, content_type, dict(tags or {}), _new_etag())
            kv.locked = locked
            self._data[(key, label)] = kv
            return kv.etag

    def get(self, key: str, label: str | None = None) -> KeyValue | None:
        with self._lock:
            kv = self._data.get((key, label))
            return None if kv is None else KeyValue(**{**kv.__dict__, "tags": dict(kv.tags)})

    def value(self, key: str, label: str | None = None) -> str | None:
        kv = self.get(key, label)
        return None if kv is None else kv.value

    def json_value(self, key: str, label: str | None = None) -> Any:
        raw = self.value(key, label)
        return None if raw is None else json.loads(raw)

    def delete(self, key: str, label: str | None = None) -> bool:
        with self._lock:
            return self._data.pop((key, label), None) is not None

    def list_keys(self) -> list[tuple[str, str | None]]:
        with self._lock:
            return sorted(self._data, key=lambda k: (k[0], k[1] or ""))

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def count(
        self,
        method: str | None = None,
        *,
        path_prefix: str | None = None,
        status: int | None = None,
    ) -> int:
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method)
            and (path_prefix is None or r.path.startswith(path_prefix))
            and (status is None or r.status == status)
        )

    # -- request handling (called from the handler threads) ------------------------------------

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def authenticate(self, method: str, target: str, headers: Any, body: bytes) -> None:
        auth = headers.get("Authorization") or ""
        scheme, _, params_text = auth.partition(" ")
        if scheme != "HMAC-SHA256" or not params_text:
            raise _Problem(401, "Unauthorized", "missing or unsupported Authorization header")
        params: dict[str, str] = {}
        for item in params_text.split("&"):
            name, _, value = item.partition("=")
            params[name.strip()] = value.strip()
        if params.get("Credential") != self.credential_id:
            raise _Problem(401, "Unauthorized", "unknown credential")
        signed = [h.strip().lower() for h in params.get("SignedHeaders", "").split(";") if h]
        if not {"host", "x-ms-content-sha256"} <= set(signed) or not (
            "x-ms-date" in signed or "date" in signed
        ):
            raise _Problem(401, "Unauthorized", "SignedHeaders must include x-ms-date;host;...")
        when = parse_request_date(headers.get("x-ms-date") or headers.get("Date") or "")
        if when is None:
            raise _Problem(401, "Unauthorized", "missing or malformed x-ms-date")
        if abs(datetime.now(UTC) - when) > self.max_clock_skew:
            raise _Problem(401, "Unauthorized", "the request date is too old or in the future")
        if headers.get("x-ms-content-sha256") != content_hash(body):
            raise _Problem(401, "Unauthorized", "x-ms-content-sha256 does not match the body")
        values = []
        for name in signed:
            value = headers.get(name)
            if value is None:
                raise _Problem(401, "Unauthorized", f"signed header {name} is missing")
            values.append(value)
        expected = signature(self.secret_b64, f"{method}\n{target}\n{';'.join(values)}")
        if not hmac.compare_digest(expected, params.get("Signature", "")):
            raise _Problem(401, "Unauthorized", "invalid signature")

    def handle(
        self, method: str, target: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        parts = urlsplit(target)
        query = {k.lower(): v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if "api-version" not in query:
            raise _Problem(400, "Bad Request", "the api-version query parameter is required")
        path = unquote(parts.path)
        if self.before_request is not None:
            self.before_request(method, path)
        if parts.path == "/kv" and method == "GET":
            return self._list(query)
        if parts.path.startswith("/kv/") and len(parts.path) > 4:
            key = unquote(parts.path[4:])
            raw_label = query.get("label")
            label = None if raw_label in (None, "", NULL_LABEL) else raw_label
            if method == "GET":
                return self._get(key, label, headers)
            if method == "PUT":
                return self._put(key, label, headers, body)
            if method == "DELETE":
                return self._delete(key, label, headers)
            raise _Problem(405, "Method Not Allowed", f"{method} is not supported on key-values")
        raise _Problem(404, "Not Found", f"{method} {path} is not part of this emulator")

    @staticmethod
    def _check(existing: KeyValue | None, headers: Any, *, read: bool) -> None:
        if_match = headers.get("If-Match")
        if if_match is not None:
            tags = _etags(if_match)
            if existing is None or ("*" not in tags and existing.etag not in tags):
                raise _Problem(412, "Precondition Failed", "If-Match did not match")
        if_none_match = headers.get("If-None-Match")
        if if_none_match is not None and existing is not None:
            tags = _etags(if_none_match)
            if "*" in tags or existing.etag in tags:
                if read:
                    raise _Problem(304, "Not Modified")
                raise _Problem(412, "Precondition Failed", "If-None-Match matched")

    @staticmethod
    def _kv_response(kv: KeyValue) -> tuple[int, dict[str, str], dict[str, Any]]:
        return (
            200,
            {
                "Content-Type": KV_CONTENT_TYPE,
                "ETag": f'"{kv.etag}"',
                "Last-Modified": format_datetime(kv.last_modified, usegmt=True),
            },
            kv.to_json(),
        )

    def _get(self, key: str, label: str | None, headers: Any) -> Any:
        with self._lock:
            kv = self._data.get((key, label))
            self._check(kv, headers, read=True)
            if kv is None:
                raise _Problem(404, "Not Found", "the key-value does not exist")
            return self._kv_response(kv)

    def _put(self, key: str, label: str | None, headers: Any, body: bytes) -> Any:
        try:
            doc = json.loads(body.decode("utf-8")) if body else {}
        except (UnicodeDecodeError, ValueError):
            raise _Problem(400, "Bad Request", "the body is not JSON") from None
        if not isinstance(doc, dict):
            raise _Problem(400, "Bad Request", "the body must be a JSON object")
        value = doc.get("value")
        content_type = doc.get("content_type")
        tags = doc.get("tags") or {}
        if value is not None and not isinstance(value, str):
            raise _Problem(400, "Bad Request", "value must be a string")
        if content_type is not None and not isinstance(content_type, str):
            raise _Problem(400, "Bad Request", "content_type must be a string")
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise _Problem(400, "Bad Request", "tags must map strings to strings")
        with self._lock:
            existing = self._data.get((key, label))
            self._check(existing, headers, read=False)
            if existing is not None and existing.locked:
                raise _Problem(409, "Conflict", "the key-value is read-only")
            kv = KeyValue(key, label, value, content_type, dict(tags), _new_etag())
            self._data[(key, label)] = kv
            return self._kv_response(kv)

    def _delete(self, key: str, label: str | None, headers: Any) -> Any:
        with self._lock:
            existing = self._data.get((key, label))
            self._check(existing, headers, read=False)
            if existing is None:
                return 204, {}, None
            if existing.locked:
                raise _Problem(409, "Conflict", "the key-value is read-only")
            del self._data[(key, label)]
            return self._kv_response(existing)

    def _list(self, query: dict[str, str]) -> Any:
        key_ok = _filter(query.get("key"))
        label_ok = _filter(query.get("label"))
        after = int(query.get("after") or 0)
        with self._lock:
            matches = [
                kv
                for (k, lbl), kv in sorted(
                    self._data.items(), key=lambda i: (i[0][0], i[0][1] or "")
                )
                if key_ok(k) and label_ok(lbl)
            ]
        page = matches[after : after + self.page_size]
        doc: dict[str, Any] = {"items": [kv.to_json() for kv in page]}
        if after + self.page_size < len(matches):
            params = {k: v for k, v in query.items() if k != "after"}
            params["after"] = str(after + self.page_size)
            doc["@nextLink"] = "/kv?" + urlencode(params, quote_via=quote)
        return 200, {"Content-Type": KVSET_CONTENT_TYPE}, doc


class _Handler(BaseHTTPRequestHandler):
    emulator: AppConfigEmulator
    protocol_version = "HTTP/1.1"
    server_version = "AppConfigEmulator/1.0"
    # Headers and body leave in one segment (flushed after each request) and without Nagle:
    # otherwise delayed ACKs add ~40 ms to every keep-alive request.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        method = self.command
        body = self._body()
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = {k.lower(): v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        authenticated = False
        detail = ""
        try:
            self.emulator.authenticate(method, self.path, self.headers, body)
            authenticated = True
            status, headers, doc = self.emulator.handle(method, self.path, self.headers, body)
        except _Problem as problem:
            status, detail = problem.status, problem.detail
            headers = dict(problem.headers)
            doc = None
            if status != 304:
                headers["Content-Type"] = PROBLEM_CONTENT_TYPE
                doc = {"type": "about:blank", "title": problem.title, "status": status}
                if detail:
                    doc["detail"] = detail
            if status == 401:
                headers["WWW-Authenticate"] = 'HMAC-SHA256 error="invalid_token"'
        except Exception as exc:  # a bug in the emulator: answer, do not hang the client
            status, headers, detail = 500, {"Content-Type": PROBLEM_CONTENT_TYPE}, repr(exc)
            doc = {"title": "Internal Server Error", "status": 500, "detail": detail}
        self.emulator._record(RequestRecord(method, path, query, status, authenticated, detail))
        payload = b"" if doc is None else json.dumps(doc).encode("utf-8")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and method != "HEAD":
            self.wfile.write(payload)

    do_GET = _serve
    do_PUT = _serve
    do_DELETE = _serve
    do_POST = _serve
    do_PATCH = _serve
    do_HEAD = _serve


def main(argv: list[str] | None = None) -> int:
    """``python -m xledger_assets.sandbox.appconfig``: serve until interrupted; prints the
    connection string (for ``XLEDGER_STATE_URL``) on the first line of stdout."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(
        prog="python -m xledger_assets.sandbox.appconfig",
        description="A local Azure App Configuration (key-values, ETags, HMAC auth).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--id", default="xledger-emulator", help="the credential id")
    parser.add_argument("--secret", help="base64 secret (default: random)")
    parser.add_argument(
        "--seed",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a key-value without label to start with (repeatable), e.g. the predecessor's "
        "timesheets-deltas_cursor=...",
    )
    args = parser.parse_args(argv)
    emulator = AppConfigEmulator(
        credential_id=args.id, secret_b64=args.secret, host=args.host, port=args.port
    )
    for item in args.seed:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--seed {item!r} is not KEY=VALUE")
        emulator.seed(key, value)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with emulator:
        print(emulator.connection_string, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(0.2):
                pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
