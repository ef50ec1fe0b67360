"""The outcome table in ``docs/reliability.md``, written by the tests themselves.

The fault-matrix tests :func:`record` what actually happened (outcome, message, requests,
waits). When ``XLEDGER_RELIABILITY_DOC`` names a file and the session passed with every matrix
row recorded in this process, :func:`session_finish` writes the document there. Run without
xdist so that one process sees every row (``make reliability-doc`` does)::

    XLEDGER_RELIABILITY_DOC=docs/reliability.md pytest xledger_assets_tests/reliability -p no:xdist

The text is deterministic (tmp paths and ports are replaced, waits come from a seeded jitter),
so regenerating without a behaviour change gives the same file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

DOC_VARIABLE = "XLEDGER_RELIABILITY_DOC"


@dataclass(frozen=True)
class Row:
    section: str  # "fault", "crash", "concurrency", "secrets", "config"
    key: str  # unique within the section, in table order
    cells: tuple[str, ...]


_rows: dict[tuple[str, str], Row] = {}
_expected: dict[str, list[str]] = {}
_sections: dict[str, tuple[str, tuple[str, ...], str]] = {}


def section(name: str, title: str, header: tuple[str, ...], intro: str, keys: list[str]) -> None:
    """Declare a table: its title, header, text and the keys of every row it must have."""
    _sections[name] = (title, header, intro)
    _expected[name] = list(keys)


def record(section_name: str, key: str, *cells: str) -> None:
    _rows[(section_name, key)] = Row(section_name, key, tuple(_clean(c) for c in cells))


_PORT = re.compile(r"127\.0\.0\.1:\d+")
_TMP = re.compile(r"(/dev/shm|/tmp)/[^\s'\")]+")


def _clean(text: str) -> str:
    text = _PORT.sub("127.0.0.1:<port>", str(text))
    text = _TMP.sub("<tmp>", text)
    return " ".join(text.split()).replace("|", "\\|")


def render(preamble: str, order: list[str]) -> str:
    out = [preamble.rstrip(), ""]
    names = [n for n in order if n in _sections] + [n for n in _sections if n not in order]
    for name in names:
        title, header, intro = _sections[name]
        out += [f"## {title}", "", intro.strip(), ""]
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join(" --- " for _ in header) + "|")
        for key in _expected[name]:
            out.append("| " + " | ".join(_rows[(name, key)].cells) + " |")
        out.append("")
    return "\n".join(out)


def complete() -> bool:
    return bool(_sections) and all(
        (name, key) in _rows for name, keys in _expected.items() for key in keys
    )


def session_finish(config: pytest.Config, exitstatus: int) -> None:
    target = os.environ.get(DOC_VARIABLE, "").strip()
    if not target or hasattr(config, "workerinput"):
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")

    def say(text: str) -> None:
        if reporter is not None:
            reporter.write_line(text)

    if exitstatus != 0:
        say(f"{DOC_VARIABLE}: not written, the session failed")
        return
    if not complete():
        missing = [f"{n}/{k}" for n, keys in _expected.items() for k in keys if (n, k) not in _rows]
        say(f"{DOC_VARIABLE}: not written, rows missing (run without xdist): {missing[:5]}")
        return
    from xledger_assets_tests.reliability.doc import ORDER, PREAMBLE

    path = Path(target)
    if not path.is_absolute():
        path = Path(config.rootpath) / path
    path.write_text(render(PREAMBLE, ORDER), encoding="utf-8")
    say(f"{DOC_VARIABLE}: wrote {path}")
