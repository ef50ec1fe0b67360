"""Secrets never leak: the demo-like flow end to end with a distinctive API token and flexlink
tokens, through the contract's CLI (``dagster asset materialize``, its own DAGSTER_HOME), a run
that succeeds for all 14 assets and a run that fails (the token rotated, a link expired).

Scanned for every secret (as written and percent-encoded): the CLI's stdout and stderr, every
file under DAGSTER_HOME (event log, run storage, compute logs), every event and its metadata as
Dagster returns them, the failures' messages, and every file of the lake and of the state.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import dagster as dg
import pytest

from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.sandbox.flexlinks import FlexlinkSandbox
from xledger_assets.sandbox.server import SandboxServer
from xledger_assets_tests.conftest import REPO
from xledger_assets_tests.reliability import report

API_TOKEN = "xlg-Secret-ApiToken-6f1d0c9b7a42e5"
DAGSTER = str(Path(sys.executable).with_name("dagster"))
SECTION = "secrets"

report.section(
    SECTION,
    "Secrets",
    ("run", "outcome", "places scanned", "occurrences of a secret"),
    __doc__.split("\n\n", 1)[1],
    ["success", "failure"],
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict]:
    flexlinks = FlexlinkSandbox(seed=3)
    for i, link in enumerate(flexlinks.links):
        link.token = link.initial_token = f"xlgSecretFlexTok{i:02d}q8Zr4vN0pLw7"
    with SandboxServer(
        port=0, seed=3, size=12, token=API_TOKEN, extra_routes={"/Flex/": flexlinks.handle}
    ) as server:
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XLEDGER_", "DAGSTER_"))}
        env.update(
            {
                "DAGSTER_HOME": str(home),
                "XLEDGER_API_URL": server.url,
                "XLEDGER_API_TOKEN": API_TOKEN,
                "XLEDGER_LAKE_URL": str(tmp_path / "lake"),
                "XLEDGER_STATE_URL": str(tmp_path / "state" / "state.json"),
                "XLEDGER_ENV": "local",
                **flexlinks.env(server.base_url),
            }
        )
        secrets = [API_TOKEN] + [link.token for link in flexlinks.links]
        yield {
            "server": server,
            "flexlinks": flexlinks,
            "env": env,
            "home": home,
            "tmp": tmp_path,
            "secrets": secrets,
        }


#: One process per run (the default executor starts a process per step: minutes on 2 cores).
IN_PROCESS = '{"execution": {"config": {"in_process": {}}}}'


def _materialize(env: dict[str, str], select: str) -> subprocess.CompletedProcess[str]:
    command = [DAGSTER, "asset", "materialize", "-m", "xledger_assets.definitions"]
    return subprocess.run(
        [*command, "--select", select, "--config-json", IN_PROCESS],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _forms(secrets: list[str]) -> list[bytes]:
    out: set[bytes] = set()
    for s in secrets:
        out.add(s.encode())
        out.add(quote(s, safe="").encode())
    return sorted(out)


def _leaks(data: bytes, forms: list[bytes]) -> list[str]:
    return [f.decode()[:12] + "..." for f in forms if f in data]


def _scan_files(root: Path, forms: list[bytes]) -> tuple[int, dict[str, list[str]]]:
    count, found = 0, {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        count += 1
        if leaks := _leaks(path.read_bytes(), forms):
            found[str(path.relative_to(root))] = leaks
    return count, found


def _scan_events(home: Path, forms: list[bytes]) -> tuple[int, list[str], list[str]]:
    """Every event Dagster stored (with metadata and failure texts), as Dagster returns them."""
    failures: list[str] = []
    leaks: list[str] = []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        events = [e for run in instance.get_runs() for e in instance.all_logs(run.run_id)]
        for entry in events:
            text = repr(entry).encode()
            if found := _leaks(text, forms):
                leaks.append(f"{entry.dagster_event_type}: {found}")
            ev = entry.dagster_event
            if ev is not None and ev.is_step_failure:
                data = ev.step_failure_data
                failures.append(
                    data.user_failure_data.description
                    if data.user_failure_data is not None
                    else data.error.message
                )
    return len(events), leaks, failures


def test_no_secret_anywhere(world: dict):
    env, home, tmp, server = world["env"], world["home"], world["tmp"], world["server"]
    forms = _forms(world["secrets"])
    assert len(world["secrets"]) == 1 + len(world["flexlinks"].links) >= 10

    ok = _materialize(env, "*")
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert "RUN_SUCCESS" in ok.stdout + ok.stderr
    everything = [*DEFAULT_CATALOG.api, *DEFAULT_CATALOG.flexlinks]
    for d in everything:
        assert any((tmp / "lake" / d.name).glob("full_sync-*.parquet")), d.name

    # A failing run: the API token was rotated, a flexlink expired.
    server.sandbox.set_token("rotated-elsewhere-41c7")
    world["flexlinks"].expire("employee_groups")
    bad = _materialize(env, "timesheets,employee_groups")
    assert bad.returncode != 0

    outputs = {"success": ok, "failure": bad}
    for run, result in outputs.items():
        assert _leaks((result.stdout + result.stderr).encode(), forms) == [], run
    n_home, in_home = _scan_files(home, forms)
    n_lake, in_lake = _scan_files(tmp / "lake", forms)
    n_state, in_state = _scan_files(tmp / "state", forms)
    n_events, in_events, failures = _scan_events(home, forms)
    assert in_home == {} and in_lake == {} and in_state == {} and in_events == []
    # the scans saw what they should: events, both failures and their plain messages
    assert n_events > 50 and n_home > 0 and n_lake >= len(everything) and n_state > 0
    text = "\n".join(failures)
    assert "Xledger refused the API token" in text, text
    assert "employee_groups" in text and "XLEDGER_FLEXLINK_EMPLOYEE_GROUPS" in text, text

    places = (
        f"stdout+stderr, {n_home} files in DAGSTER_HOME, {n_events} events with metadata, "
        f"{n_lake} lake files, {n_state} state files"
    )
    report.record(SECTION, "success", "all 14 assets", "succeeded", places, "0")
    report.record(
        SECTION,
        "failure",
        "timesheets, employee_groups",
        f"failed: {' / '.join(sorted(f.split(' (')[0] for f in failures))}",
        places,
        "0",
    )
