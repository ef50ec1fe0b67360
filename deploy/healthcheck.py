"""HEALTHCHECK of the image: one image, three roles; the role is read from the command line.

    python /opt/dagster/healthcheck.py [webserver|daemon|code-server [-p <port>]]

Without an argument the role comes from PID 1's command line (``tini -- dagster-webserver ...``,
``tini -- dagster-daemon run``, ``tini -- dagster code-server start ...``), and so does the port
(``-p``/``--port``; defaults 3000 for the webserver and 4000 for the code server).

- webserver: ``GET /server_info`` on the loopback answers 200 with the webserver's version;
- code server: the gRPC health check answers SERVING (``dagster api grpc-health-check``);
- daemon: its heartbeats in the instance's storage are recent (``dagster-daemon liveness-check``).

Exit 0 when healthy, 1 otherwise (Docker's contract). Container Apps and Kubernetes use their own
probes (see infrastructure/modules/dagster_app and helm/); this is for plain Docker runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

DEFAULT_PORTS = {"webserver": 3000, "code-server": 4000}
TIMEOUT_SECONDS = 20


def role_of(argv: Sequence[str]) -> str | None:
    words = [a.rsplit("/", 1)[-1] for a in argv]
    if "dagster-webserver" in words:
        return "webserver"
    if "dagster-daemon" in words:
        return "daemon"
    if "code-server" in words or ("api" in words and "grpc" in words):
        return "code-server"
    return None


def port_of(argv: Sequence[str], role: str) -> int:
    for i, arg in enumerate(argv):
        if arg in ("-p", "--port") and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--port="):
            return int(arg.split("=", 1)[1])
    return DEFAULT_PORTS[role]


def pid1_argv() -> list[str]:
    with open("/proc/1/cmdline", "rb") as f:
        return [a.decode() for a in f.read().split(b"\0") if a]


def check_webserver(port: int) -> str:
    url = f"http://127.0.0.1:{port}/server_info"
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
        info = json.loads(response.read())
    return f"webserver {info.get('dagster_webserver_version', '?')} answers on {port}"


def _run(args: list[str]) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    if done.returncode != 0:
        raise RuntimeError((done.stdout + done.stderr).strip()[-500:] or f"exit {done.returncode}")
    return done.stdout.strip()


def _cli(name: str) -> str:
    """A console script of this interpreter's environment (the image's virtualenv)."""
    return str(Path(sys.executable).parent / name)


def check_code_server(port: int) -> str:
    _run([_cli("dagster"), "api", "grpc-health-check", "--host", "127.0.0.1", "--port", str(port)])
    return f"code server SERVING on {port}"


def check_daemon() -> str:
    return _run([_cli("dagster-daemon"), "liveness-check"]) or "daemon heartbeats are recent"


def main(args: Sequence[str]) -> int:
    if args:  # explicit: healthcheck.py <role> [-p <port>]
        role, argv = args[0], list(args[1:])
    else:
        argv = pid1_argv()
        role = role_of(argv) or "unknown"
    try:
        if role == "webserver":
            print(check_webserver(port_of(argv, role)))
        elif role == "code-server":
            print(check_code_server(port_of(argv, role)))
        elif role == "daemon":
            print(check_daemon())
        else:
            print(f"cannot tell the role from {' '.join(args or argv)!r}", file=sys.stderr)
            return 1
    except Exception as exc:
        print(f"{role} unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
