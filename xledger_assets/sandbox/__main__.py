"""``python -m xledger_assets.sandbox``: run the sandbox until SIGTERM/SIGINT.

Prints ``XLEDGER_SANDBOX_URL=http://127.0.0.1:<port>/graphql`` once it accepts requests (with
``--print-flexlink-env``, the ``XLEDGER_FLEXLINK_*=<url>`` lines come first; the URL line is
always the last line and means "ready"). The seeded flexlinks of
``xledger_assets.sandbox.flexlinks`` are served under ``/Flex/`` unless ``--no-flexlinks``;
:func:`xledger_assets.sandbox.flexlink_env` gives their URLs for the same seed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from .core import DEFAULT_RETENTION, DEFAULT_SIZE, DEFAULT_TOKEN
from .data import entity_spec
from .server import SandboxServer


def _sizes(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected entity=count, got {item!r}")
        try:
            out[entity_spec(name.strip()).name] = int(value)
        except (KeyError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m xledger_assets.sandbox", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--size", type=int, default=DEFAULT_SIZE, help="records per entity")
    p.add_argument(
        "--sizes", type=_sizes, default={}, help="per-entity sizes: timesheets=10001,projects=5"
    )
    p.add_argument("--token", default=DEFAULT_TOKEN)
    p.add_argument("--retention-seconds", type=float, default=DEFAULT_RETENTION)
    p.add_argument("--port-file", type=Path, help="write the port number here once ready")
    p.add_argument(
        "--no-flexlinks",
        action="store_true",
        help="do not serve the seeded /Flex/ export links (served by default, seeded by --seed)",
    )
    p.add_argument(
        "--print-flexlink-env",
        action="store_true",
        help="print the XLEDGER_FLEXLINK_*=<url> lines before the URL line",
    )
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return p.parse_args(argv)


def mount_flexlinks(server: SandboxServer, seed: int) -> Any:
    """Serve ``FlexlinkSandbox(seed)`` under ``/Flex/``; None if that module is unavailable."""
    try:
        from .flexlinks import FlexlinkSandbox
    except ImportError:  # pragma: no cover - optional companion module
        return None
    flexlinks = FlexlinkSandbox(seed=seed)
    server.add_route("/Flex/", flexlinks.handle)
    return flexlinks


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = SandboxServer(
        port=args.port,
        seed=args.seed,
        size=args.size,
        sizes=args.sizes,
        token=args.token,
        host=args.host,
        verbose=args.verbose,
        retention_seconds=args.retention_seconds,
    )
    flexlinks = None if args.no_flexlinks else mount_flexlinks(server, args.seed)
    server.start()
    try:
        if args.print_flexlink_env and flexlinks is not None:
            for name, value in flexlinks.env(server.base_url).items():
                print(f"{name}={value}", flush=True)
        if args.port_file:
            tmp = args.port_file.with_name(args.port_file.name + f".{os.getpid()}.tmp")
            tmp.write_text(f"{server.port}\n", encoding="utf-8")
            tmp.replace(args.port_file)
        print(f"XLEDGER_SANDBOX_URL={server.url}", flush=True)
        while not stop.wait(0.2):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
