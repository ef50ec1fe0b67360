"""The fixed text of ``docs/reliability.md`` (``preamble.md``, beside this file) and the order of
its tables, which come from the tests (see ``report.py``)."""

from pathlib import Path

ORDER = ["fidelity", "faults", "crash", "concurrency", "secrets", "config"]

PREAMBLE = (Path(__file__).with_name("preamble.md")).read_text(encoding="utf-8")
