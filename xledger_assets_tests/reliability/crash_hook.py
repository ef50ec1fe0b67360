"""The checkpoint hook of the crash and concurrency tests
(``XLEDGER_CHECKPOINT_HOOK=<this module>:checkpoint``).

``XLEDGER_CRASH_AT=<name>:<n>`` stops the process the n-th time it reaches that checkpoint
(``*`` counts every checkpoint): it prints ``PAUSED <name> <k> (checkpoint <m>)`` on stdout and
waits to be SIGKILLed. ``XLEDGER_PAUSE_AT=<name>:<n>`` prints the same, then waits for a line on
stdin and carries on. Either way the process holds whatever the sync holds at that point (the
dataset's sync lock). Without them the hook only counts (the driver prints the counts).
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter

seen: Counter[str] = Counter()


def _target(variable: str) -> tuple[str, int]:
    name, _, n = os.environ.get(variable, "").rpartition(":")
    return name, int(n) if n.isdigit() else 0


_crash = _target("XLEDGER_CRASH_AT")
_pause = _target("XLEDGER_PAUSE_AT")


def _due(target: tuple[str, int], name: str) -> bool:
    wanted, nth = target
    return nth > 0 and wanted in (name, "*") and seen[wanted] == nth


def checkpoint(name: str) -> None:
    seen[name] += 1
    seen["*"] += 1
    crash, pause = _due(_crash, name), _due(_pause, name)
    if crash or pause:
        sys.stdout.write(f"PAUSED {name} {seen[name]} (checkpoint {seen['*']})\n")
        sys.stdout.flush()
    if crash:
        while True:  # until the test kills us
            time.sleep(60)
    if pause:
        sys.stdin.readline()
