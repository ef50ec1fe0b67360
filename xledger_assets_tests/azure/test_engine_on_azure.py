"""The sync engine on the Azure backends: the Xledger sandbox over HTTP, the lake on Azurite and
the state in the App Configuration emulator, pre-loaded with the predecessor's keys."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.lake.azure import AzureLake
from xledger_assets.lake.current import current_state
from xledger_assets.sandbox.appconfig import AppConfigEmulator
from xledger_assets.sandbox.server import SandboxServer
from xledger_assets.state.appconfig import AppConfigStateStore, lock_key, state_key
from xledger_assets.sync.engine import SyncEngine
from xledger_assets.xledger.client import XledgerClient
from xledger_assets_tests.azurite import Azurite

TOKEN = "azure-engine-test-token"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0, seed=11, size=25, token=TOKEN) as srv:
        yield srv


def test_legacy_cursor_continues_with_changes_on_azure(
    sandbox: SandboxServer, azurite: Azurite, emulator: AppConfigEmulator
):
    dataset = DEFAULT_CATALOG.api_dataset("timesheets")
    entity = dataset.items_field
    # The predecessor synced up to here and stored its cursor (no label).
    sandbox.sandbox.update(entity, 3)
    legacy_cursor = sandbox.sandbox.delta_log(entity)[-1]["cursor"]
    emulator.seed("timesheets-deltas_cursor", legacy_cursor)
    emulator.seed("timesheets-initial_sync_complete", "true")
    emulator.seed("timesheets-initial_sync_cursor", "older-cursor")
    # Then Xledger changed some records.
    changed = sandbox.sandbox.update(entity, 2)

    env = azurite.lake_env(prefix="xledger")
    lake = AzureLake(env["XLEDGER_LAKE_URL"], env=env)
    state = AppConfigStateStore(emulator.connection_string, env_label="prod")
    engine = SyncEngine(XledgerClient(sandbox.url, TOKEN), lake, state)

    result = engine.run(dataset, "auto")

    assert result.mode == "changes"
    assert result.cursor_before == legacy_cursor
    assert result.cursor_after == sandbox.sandbox.delta_log(entity)[-1]["cursor"]
    files = lake.list_files("timesheets")
    assert [f.kind for f in files] == ["sync_changes"]
    assert result.file_uri == lake.uri(files[0])
    assert result.file_uri.startswith(f"{env['XLEDGER_LAKE_URL']}/timesheets/sync_changes-")
    table = lake.read_table(files[0])
    assert sorted(table.column("dbId").to_pylist()) == sorted(changed)
    assert set(table.column("mutationType").to_pylist()) == {"UPDATED"}
    stored = state.get("timesheets")
    assert stored is not None
    assert (stored.cursor, stored.mode, stored.version) == (result.cursor_after, "changes", 2)
    assert stored.last_file == files[0].relative_path
    assert emulator.get(lock_key("timesheets"), "prod") is None  # lock released
    assert emulator.value("timesheets-deltas_cursor") == legacy_cursor  # legacy left in place
    # A changes file alone is no current state (that needs a full load first).
    assert current_state(lake, "timesheets") is None

    # A full load afterwards, then the rebuild reads both from Azurite.
    full = engine.run(dataset, "full")
    assert full.mode == "full"
    rebuilt = current_state(lake, "timesheets")
    assert rebuilt is not None
    assert sorted(rebuilt.column("dbId").to_pylist()) == sorted(sandbox.sandbox.ids(entity))
    assert emulator.json_value(state_key("timesheets"), "prod")["version"] == 3


def test_dagster_materialize_cli_continues_from_legacy_keys(
    sandbox: SandboxServer, azurite: Azurite, emulator: AppConfigEmulator, tmp_path: Path
):
    """The outside check: ``dagster asset materialize`` with XLEDGER_STATE_URL an App
    Configuration connection string whose store holds only the predecessor's keys."""
    entity = DEFAULT_CATALOG.api_dataset("timesheets").items_field
    sandbox.sandbox.update(entity, 2)
    emulator.seed("timesheets-deltas_cursor", sandbox.sandbox.delta_log(entity)[-1]["cursor"])
    emulator.seed("timesheets-initial_sync_complete", "true")
    changed = sandbox.sandbox.update(entity, 2)
    lake_env = azurite.lake_env()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XLEDGER_", "AZURE_"))}
    env.update(
        {
            **lake_env,
            "XLEDGER_STATE_URL": emulator.connection_string,
            "XLEDGER_ENV": "dev",
            "XLEDGER_API_URL": sandbox.url,
            "XLEDGER_API_TOKEN": TOKEN,
            "DAGSTER_HOME": str(tmp_path / "dagster_home"),
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p),
        }
    )
    (tmp_path / "dagster_home").mkdir()
    dagster = str(Path(sys.executable).with_name("dagster"))
    module = "xledger_assets.definitions"
    result = subprocess.run(
        [dagster, "asset", "materialize", "-m", module, "--select", "timesheets"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "imported the predecessor's delta cursor" in output
    assert emulator.secret_b64 not in output
    lake = AzureLake(lake_env["XLEDGER_LAKE_URL"], env=lake_env)
    files = lake.list_files("timesheets")
    assert [f.kind for f in files] == ["sync_changes"]
    assert sorted(lake.read_table(files[0]).column("dbId").to_pylist()) == sorted(changed)
    stored = emulator.json_value(state_key("timesheets"), "dev")
    assert (stored["mode"], stored["version"], stored["last_file"]) == (
        "changes",
        2,
        files[0].relative_path,
    )
    assert stored["cursor"] == sandbox.sandbox.delta_log(entity)[-1]["cursor"]
