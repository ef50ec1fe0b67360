"""``xledger-assets state ...`` as operators run it: subprocesses against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.sandbox.appconfig import AppConfigEmulator
from xledger_assets.state.appconfig import AppConfigStateStore, state_key
from xledger_assets.state.base import SyncState

from .conftest import SECRET

REPO = Path(__file__).resolve().parents[2]
ALL = [d.name for d in DEFAULT_CATALOG.api] + [d.name for d in DEFAULT_CATALOG.flexlinks]
WITH_DELTAS = [d.name for d in DEFAULT_CATALOG.api if d.deltas_field is not None]


def _run(args: list[str], state_url: str, cwd: Path, env_name: str = "dev"):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XLEDGER_", "AZURE_"))}
    env.update({"XLEDGER_STATE_URL": state_url, "XLEDGER_ENV": env_name})
    # importable whether or not the package is installed into the interpreter
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "xledger_assets.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _commit(emu: AppConfigEmulator, dataset: str, cursor: str, label: str = "dev") -> SyncState:
    store = AppConfigStateStore(emu.connection_string, env_label=label, import_legacy=False)
    return store.commit(
        SyncState(
            dataset=dataset,
            cursor=cursor,
            mode="full",
            last_success="2024-07-11T21:17:09+00:00",
            last_file=f"{dataset}/full_sync-20240711_21_17_09-{dataset}.parquet",
        ),
        expected=None,
    )


def test_show_table_and_json(emulator: AppConfigEmulator, tmp_path: Path):
    _commit(emulator, "timesheets", "cur-1")
    _commit(emulator, "projects", "prod-only", label="prod")
    emulator.seed("customers-deltas_cursor", "legacy-c")
    emulator.seed("customers-initial_sync_complete", "true")

    table = _run(["state", "show"], emulator.connection_string, tmp_path)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == f"State: App Configuration {emulator.endpoint} (label dev)"
    assert lines[1].split() == [
        "dataset",
        "mode",
        "version",
        "last",
        "success",
        "cursor",
        "last",
        "file",
    ]
    rows = {line.split()[0]: line.split() for line in lines[2:-1]}
    assert list(rows) == ALL
    assert rows["timesheets"] == [
        "timesheets",
        "full",
        "1",
        "2024-07-11T21:17:09+00:00",
        "cur-1",
        "timesheets/full_sync-20240711_21_17_09-timesheets.parquet",
    ]
    assert rows["projects"] == ["projects", "-", "-", "-", "-", "-"]  # prod is another label
    assert lines[-1] == (
        "Predecessor state found (the next sync or `state import-legacy` imports it): customers"
    )
    assert SECRET not in table.stdout + table.stderr

    as_json = _run(["state", "show", "--json"], emulator.connection_string, tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert (doc["store"], doc["env"], doc["label"]) == (emulator.endpoint, "dev", "dev")
    assert list(doc["datasets"]) == ALL
    assert doc["datasets"]["timesheets"] == {
        "dataset": "timesheets",
        "cursor": "cur-1",
        "mode": "full",
        "last_success": "2024-07-11T21:17:09+00:00",
        "last_file": "timesheets/full_sync-20240711_21_17_09-timesheets.parquet",
        "version": 1,
    }
    assert doc["datasets"]["projects"] is None
    assert doc["legacy_importable"] == ["customers"]
    # show never writes (no import, no lock)
    assert emulator.count("PUT") == 2 and emulator.count("DELETE") == 0


def test_reset_needs_yes_and_then_forgets(emulator: AppConfigEmulator, tmp_path: Path):
    _commit(emulator, "timesheets", "cur-1")
    refused = _run(["state", "reset", "timesheets"], emulator.connection_string, tmp_path)
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert refused.stderr == (
        "xledger-assets: error: state reset forgets the delta cursor of timesheets, so its next "
        "run is a full load; add --yes to confirm\n"
    )
    assert emulator.json_value(state_key("timesheets"), "dev")["cursor"] == "cur-1"

    done = _run(["state", "reset", "timesheets", "--yes"], emulator.connection_string, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "timesheets: state reset; the next run is a full load\n"
    store = AppConfigStateStore(emulator.connection_string, env_label="dev")
    assert store.get("timesheets") is None

    unknown = _run(["state", "reset", "nope", "--yes"], emulator.connection_string, tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("xledger-assets: error: unknown dataset 'nope'; known ")
    assert len(unknown.stderr.splitlines()) == 1


def test_import_legacy(emulator: AppConfigEmulator, tmp_path: Path):
    emulator.seed("timesheets-deltas_cursor", "ts-delta")
    emulator.seed("timesheets-initial_sync_complete", "true")
    emulator.seed("projects-initial_sync_complete", "false")
    emulator.seed("projects-initial_sync_cursor", "p-1")
    _commit(emulator, "employees", "emp-1")

    one = _run(
        ["state", "import-legacy", "--dataset", "timesheets"], emulator.connection_string, tmp_path
    )
    assert one.returncode == 0, one.stderr
    assert one.stdout.splitlines() == [
        f"State: App Configuration {emulator.endpoint} (label dev)",
        "timesheets: imported cursor 'ts-delta' from timesheets-deltas_cursor; the next sync "
        "continues with changes",
    ]
    imported = emulator.json_value(state_key("timesheets"), "dev")
    assert (imported["cursor"], imported["mode"], imported["version"]) == ("ts-delta", "changes", 1)
    assert emulator.value("timesheets-deltas_cursor") == "ts-delta"  # left in place

    everything = _run(["state", "import-legacy"], emulator.connection_string, tmp_path)
    assert everything.returncode == 0, everything.stderr
    lines = everything.stdout.splitlines()[1:]
    assert [line.split(":")[0] for line in lines] == WITH_DELTAS
    by_name = dict(line.split(": ", 1) for line in lines)
    assert by_name["timesheets"] == "already has state (version 1); left as it is"
    assert by_name["employees"] == "already has state (version 1); left as it is"
    assert by_name["projects"] == (
        "predecessor state not imported (projects-initial_sync_complete is not true)"
    )
    assert by_name["customers"] == "no predecessor state"

    flex = DEFAULT_CATALOG.flexlinks[0].name
    refused = _run(
        ["state", "import-legacy", "--dataset", flex], emulator.connection_string, tmp_path
    )
    assert refused.returncode == 2
    assert refused.stderr == (
        f"xledger-assets: error: {flex} has no delta cursor (every run is a full load)\n"
    )


def test_import_legacy_needs_app_configuration(tmp_path: Path):
    result = _run(["state", "import-legacy"], str(tmp_path / "state.json"), tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("xledger-assets: error: import-legacy reads the predecessor")


@pytest.mark.parametrize("case", ["wrong secret", "usage"])
def test_errors_are_one_line_without_secrets(emulator: AppConfigEmulator, tmp_path: Path, case):
    wrong = "d3Jvbmctc2VjcmV0LWZvci10aGUtY2xp"
    if case == "wrong secret":
        url = emulator.connection_string.replace(SECRET, wrong)
        result = _run(["state", "show"], url, tmp_path)
        assert result.stderr == (
            f"xledger-assets: error: App Configuration at {emulator.endpoint} "
            "(XLEDGER_STATE_URL) refused the credentials of the connection string (HTTP 401) "
            "while listing the sync states: check the connection string's Id and Secret\n"
        )
        assert wrong not in result.stdout + result.stderr
    else:
        result = _run(["state", "frobnicate"], emulator.connection_string, tmp_path)
        assert len(result.stderr.splitlines()) == 1
        assert result.stderr.startswith(
            "xledger-assets: error: argument {show,reset,import-legacy}: invalid choice: "
        )
        assert result.stderr.endswith(" (see xledger-assets state --help)\n")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_the_entry_point_is_installed(tmp_path: Path):
    script = Path(sys.executable).with_name("xledger-assets")
    if not script.exists():
        pytest.skip("the package is not installed in this environment (pip install -e .)")
    result = subprocess.run(
        [str(script), "state", "show", "--json"],
        env={**os.environ, "XLEDGER_STATE_URL": str(tmp_path / "s.json"), "XLEDGER_ENV": "local"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["store"] == str(tmp_path / "s.json")
    assert set(doc["datasets"].values()) == {None}
