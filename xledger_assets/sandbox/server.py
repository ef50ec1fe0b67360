"""The sandbox over real HTTP: ``POST /graphql``, ``/_control/...`` and extra GET routes."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from graphql import GraphQLError

from .core import DEFAULT_SIZE, DEFAULT_TOKEN, JSON_HEADERS, Reply, Sandbox
from .faults import FAULT_KINDS

# handler(path, query, headers) -> (status, headers, body). ``query`` is parse_qs-style
# ({"t": ["..."]}), header names are lower-case; the server adds Content-Length.
RouteHandler = Callable[
    [str, dict[str, list[str]], dict[str, str]], tuple[int, dict[str, str], bytes]
]

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _int_arg(body: Mapping[str, Any], key: str) -> int:
    value = body.get(key, 0) or 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ControlError(400, f"{key!r} must be a non-negative integer")
    return value


def control(sandbox: Sandbox, method: str, path: str, query: dict[str, str], body: Any) -> Any:
    """The ``/_control`` API as a function: returns the JSON response or raises ControlError."""
    sub = path[len("/_control") :].rstrip("/") or "/"
    if not isinstance(body, dict):
        if method == "POST" and isinstance(body, list) and sub == "/faults":
            body = {"faults": body}
        else:
            body = {}
    try:
        if method == "GET" and sub in ("/", "/health"):
            return {"ok": True, "now": sandbox.now().isoformat(timespec="seconds")}
        if method == "GET" and sub == "/meter":
            return sandbox.meter()
        if method == "POST" and sub == "/meter/reset":
            sandbox.reset_meter()
            return {"ok": True}
        if method == "GET" and sub == "/truth":
            entity = query.get("entity") or ""
            flt = {k: v for k, v in query.items() if k != "entity"}
            if "dbId_in" in flt:
                flt["dbId_in"] = [int(x) for x in flt["dbId_in"].split(",") if x]  # type: ignore[assignment]
            return sandbox.truth(entity, flt or None)
        if method == "GET" and sub == "/ids":
            return sandbox.ids(query.get("entity") or "")
        if method == "GET" and sub == "/deltas":
            return sandbox.delta_log(query.get("entity") or "")
        if method == "POST" and sub == "/mutate":
            entity = body.get("entity") or ""
            return sandbox.mutate(
                entity,
                add=_int_arg(body, "add"),
                update=_int_arg(body, "update"),
                delete=_int_arg(body, "delete"),
                update_ids=body.get("update_ids") or (),
                delete_ids=body.get("delete_ids") or (),
                readd=body.get("readd") or (),
                changes=body.get("changes"),
            )
        if method == "POST" and sub == "/expire_deltas":
            return {"dropped": sandbox.expire_deltas(body.get("entity"))}
        if method == "POST" and sub == "/advance_clock":
            seconds = body.get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                raise ControlError(400, "'seconds' must be a number")
            return {"now": sandbox.advance_clock(seconds).isoformat(timespec="seconds")}
        if method == "GET" and sub == "/clock":
            return {"now": sandbox.now().isoformat(timespec="seconds")}
        if method == "GET" and sub == "/faults":
            return {"pending": sandbox.pending_faults(), "kinds": FAULT_KINDS}
        if method == "POST" and sub == "/faults":
            items = body.get("faults", [body])
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise ControlError(400, "expected a fault object, a list, or {'faults': [...]}")
            for item in items:
                sandbox.add_fault(item)
            return {"queued": len(items), "pending": len(sandbox.pending_faults())}
        if method == "POST" and sub == "/faults/clear":
            sandbox.clear_faults()
            return {"ok": True}
        if method == "POST" and sub == "/reset":
            sizes = body.get("sizes")
            if sizes is not None and not isinstance(sizes, dict):
                raise ControlError(400, "'sizes' must be an object {entity: count}")
            sandbox.reset(seed=body.get("seed"), size=body.get("size"), sizes=sizes)
            return {"ok": True, "seed": sandbox.seed, "size": sandbox.size, "sizes": sandbox.sizes}
        if method == "POST" and sub == "/token":
            token = body.get("token")
            if not isinstance(token, str) or not token:
                raise ControlError(400, "'token' must be a non-empty string")
            sandbox.set_token(token)
            return {"ok": True}
    except KeyError as exc:
        raise ControlError(404, str(exc.args[0] if exc.args else exc)) from None
    except (ValueError, TypeError, GraphQLError) as exc:
        raise ControlError(400, str(exc)) from None
    raise ControlError(404, f"no control endpoint {method} {path}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: SandboxServer) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server
    timeout = 60  # idle keep-alive connections die eventually

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.owner.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, JSON_HEADERS, orjson.dumps(payload))

    def _dispatch(self, method: str) -> None:
        owner = self.server.owner
        url = urlsplit(self.path)
        path = url.path
        query_lists = parse_qs(url.query, keep_blank_values=True)
        query = {k: v[0] for k, v in query_lists.items()}
        try:
            if path == "/_control" or path.startswith("/_control/"):
                body = self._body()
                if self.client_address[0] not in LOOPBACK and not owner.allow_remote_control:
                    self._json(403, {"error": "the control API only answers on loopback"})
                    return
                try:
                    payload = orjson.loads(body) if body.strip() else {}
                    self._json(200, control(owner.sandbox, method, path, query, payload))
                except orjson.JSONDecodeError as exc:
                    self._json(400, {"error": f"invalid JSON: {exc}"})
                except ControlError as exc:
                    self._json(exc.status, {"error": str(exc)})
                return
            if path == owner.graphql_path:
                if method != "POST":
                    self._body()
                    self._json(405, {"errors": [{"message": "Use POST for GraphQL requests."}]})
                    return
                body = self._body()
                headers = {k.lower(): v for k, v in self.headers.items()}
                self._reply(owner.sandbox.handle_graphql(body, headers))
                return
            for prefix, handler in owner.routes():
                if path.startswith(prefix):
                    self._body()
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    status, out_headers, out = handler(path, query_lists, headers)
                    owner.sandbox.record_route(prefix, len(out))
                    self._send(status, out_headers, out)
                    return
            self._body()
            self._json(404, {"error": f"not found: {path}"})
        except OSError:  # the client went away (timed out, reset, sandbox stopping)
            self.close_connection = True

    def _reply(self, reply: Reply) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        if reply.reset:
            # RST instead of FIN: the client sees "connection reset", no response at all
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if reply.declared_length is not None:
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(reply.declared_length))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply.body)
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(reply.status, reply.headers, reply.body)


class SandboxServer:
    """The sandbox on ``http://127.0.0.1:<port>/graphql``, served from a background thread.

    >>> with SandboxServer(port=0, seed=1, size=50) as srv:  # doctest: +SKIP
    ...     srv.url, srv.sandbox.truth("timesheets")
    """

    def __init__(
        self,
        port: int = 0,
        seed: int = 1,
        size: int = DEFAULT_SIZE,
        token: str = DEFAULT_TOKEN,
        *,
        sizes: Mapping[str, int] | None = None,
        host: str = "127.0.0.1",
        sandbox: Sandbox | None = None,
        extra_routes: Mapping[str, RouteHandler] | None = None,
        graphql_path: str = "/graphql",
        allow_remote_control: bool = False,
        verbose: bool = False,
        **sandbox_options: Any,
    ) -> None:
        self.sandbox = sandbox or Sandbox(
            seed=seed, size=size, sizes=sizes, token=token, **sandbox_options
        )
        self.host = host
        self.requested_port = port
        self.graphql_path = graphql_path
        self.allow_remote_control = allow_remote_control
        self.verbose = verbose
        self._routes: dict[str, RouteHandler] = dict(extra_routes or {})
        self._routes_lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- routes
    def add_route(self, prefix: str, handler: RouteHandler) -> None:
        """Mount ``handler`` for every path starting with ``prefix`` (e.g. ``/Flex/``)."""
        with self._routes_lock:
            self._routes[prefix] = handler

    def routes(self) -> list[tuple[str, RouteHandler]]:
        with self._routes_lock:  # longest prefix first
            return sorted(self._routes.items(), key=lambda kv: -len(kv[0]))

    # -- lifecycle
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the sandbox server is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The GraphQL endpoint, e.g. ``http://127.0.0.1:54321/graphql``."""
        return self.base_url + self.graphql_path

    def start(self) -> SandboxServer:
        if self._httpd is not None:
            return self
        self._httpd = _Server((self.host, self.requested_port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.5},
            name=f"xledger-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        stopper = threading.Thread(target=httpd.shutdown, daemon=True)
        stopper.start()
        # wake serve_forever's select() at once instead of after its poll interval
        with contextlib.suppress(OSError):
            host, port = httpd.server_address[:2]
            socket.create_connection((str(host), int(port)), timeout=0.5).close()
        stopper.join()
        with httpd.connections_lock:
            for conn in list(httpd.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
