"""Bad configuration: a missing or malformed variable, an unknown mode, an unreachable lake or
state store, a lake URL with a typo. Each gives one plain message that names the variable, never
a library's stack trace as the message. A malformed setting that the definitions read (the
environment, the sensor interval, ...) is logged as one plain line when the code location loads,
which still loads (Dagster would otherwise show its import traceback); every run then fails at
start with that message. Everything an asset opens fails at run start.

Run-start cases go through Dagster (``materialize`` with the production resources, which read
the environment like a deployed run) and check the step's failure: a ``Failure`` whose
description is the message, with no chained cause. An unreachable Xledger is retried first
(Xledger's own advice), so that case runs the engine with recorded waits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from xledger_assets.assets.api import IO_MANAGER_KEY, build_api_asset
from xledger_assets.assets.flexlinks import build_flexlink_asset
from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.definitions import build_definitions
from xledger_assets.errors import ConfigurationError, SyncError, XledgerTransientError
from xledger_assets.io_manager import LakeIOManager
from xledger_assets.resources import LakeStoreResource, XledgerApiResource
from xledger_assets.sandbox.flexlinks import FlexlinkSandbox
from xledger_assets.sandbox.server import SandboxServer
from xledger_assets.settings import Settings
from xledger_assets.xledger.client import RetryPolicy, XledgerClient
from xledger_assets_tests.azurite import ACCOUNT, ACCOUNT_KEY
from xledger_assets_tests.reliability import report
from xledger_assets_tests.reliability.conftest import TOKEN, HarnessFactory
from xledger_assets_tests.reliability.harness import dataset

SECTION = "config"
CLOSED = "127.0.0.1:9"  # the discard port: nothing listens there
UNREACHABLE_STORAGE = (
    f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
    f"BlobEndpoint=http://{CLOSED}/{ACCOUNT};"
)
AZURE_LAKE = f"abfs://lake@{ACCOUNT}.dfs.core.windows.net"


@dataclass(frozen=True)
class Bad:
    key: str
    env: dict[str, str | None]  # None: unset
    message: str  # the start of the message, exactly
    asset: str = "timesheets"
    setup: Callable[[Path], None] | None = None


RUN_START: list[Bad] = [
    Bad("token-missing", {"XLEDGER_API_TOKEN": None}, "XLEDGER_API_TOKEN is not set: create"),
    Bad(
        "api-url-no-scheme",
        {"XLEDGER_API_URL": "www.xledger.net/graphql"},
        "XLEDGER_API_URL='www.xledger.net/graphql' is not an http(s) URL",
    ),
    Bad(
        "api-url-typo",
        {"XLEDGER_API_URL": "htps://www.xledger.net/graphql"},
        "XLEDGER_API_URL='htps://www.xledger.net/graphql' is not an http(s) URL",
    ),
    Bad(
        "lake-scheme-typo",
        {"XLEDGER_LAKE_URL": "abfs:/lake@acct.dfs.core.windows.net"},
        "XLEDGER_LAKE_URL='abfs:/lake@acct.dfs.core.windows.net' is neither a local folder nor "
        "an Azure lake URL",
    ),
    Bad(
        "lake-other-scheme",
        {"XLEDGER_LAKE_URL": "s3://bucket/lake"},
        "XLEDGER_LAKE_URL='s3://bucket/lake' is neither a local folder nor an Azure lake URL",
    ),
    Bad(
        "lake-container",
        {"XLEDGER_LAKE_URL": "abfs://Lake_1@acct.dfs.core.windows.net"},
        "XLEDGER_LAKE_URL='abfs://Lake_1@acct.dfs.core.windows.net': 'Lake_1' is not a valid "
        "container name",
    ),
    Bad(
        "lake-host",
        {"XLEDGER_LAKE_URL": "abfs://lake@acct"},
        "XLEDGER_LAKE_URL='abfs://lake@acct': the host 'acct' is not <account>.dfs.<suffix>",
    ),
    Bad(
        "lake-folder",
        {"XLEDGER_LAKE_URL": "/proc/xledger/lake"},
        "cannot create the lake folder /proc/xledger/lake (XLEDGER_LAKE_URL): No such file",
    ),
    Bad(
        "lake-unreachable",
        {"XLEDGER_LAKE_URL": AZURE_LAKE, "AZURE_STORAGE_CONNECTION_STRING": UNREACHABLE_STORAGE},
        f"cannot reach Azure Storage while opening the container (XLEDGER_LAKE_URL={AZURE_LAKE}, "
        f"endpoint http://{CLOSED}/{ACCOUNT})",
    ),
    Bad(
        "storage-connection-string",
        {"XLEDGER_LAKE_URL": AZURE_LAKE, "AZURE_STORAGE_CONNECTION_STRING": "AccountKey"},
        "AZURE_STORAGE_CONNECTION_STRING is not a valid storage connection string",
    ),
    Bad(
        "storage-account",
        {
            "XLEDGER_LAKE_URL": "abfs://lake@other.dfs.core.windows.net",
            "AZURE_STORAGE_CONNECTION_STRING": UNREACHABLE_STORAGE,
        },
        f"XLEDGER_LAKE_URL names the storage account 'other' but "
        f"AZURE_STORAGE_CONNECTION_STRING is for the account '{ACCOUNT}'",
    ),
    Bad(
        "state-folder",
        {"XLEDGER_STATE_URL": "{tmp}/state-dir"},
        "cannot read the state file {tmp}/state-dir (XLEDGER_STATE_URL): Is a directory",
        setup=lambda tmp: (tmp / "state-dir").mkdir(),
    ),
    Bad(
        "state-corrupt",
        {"XLEDGER_STATE_URL": "{tmp}/broken.json"},
        "the state file {tmp}/broken.json (XLEDGER_STATE_URL) is not a valid state document",
        setup=lambda tmp: (tmp / "broken.json").write_text('{"datasets": {"timesh'),
    ),
    Bad(
        "state-connection-string",
        {"XLEDGER_STATE_URL": "Endpoint=https://store.azconfig.io;Id=abc"},
        "XLEDGER_STATE_URL looks like an App Configuration connection string but has no Secret",
    ),
    Bad(
        "state-unreachable",
        {"XLEDGER_STATE_URL": f"Endpoint=http://{CLOSED};Id=abc;Secret=c2VjcmV0LWtleQ=="},
        f"cannot reach App Configuration at http://{CLOSED} (XLEDGER_STATE_URL)",
    ),
    Bad(
        "flexlink-missing",
        {"XLEDGER_FLEXLINK_EMPLOYEE_GROUPS": None},
        "XLEDGER_FLEXLINK_EMPLOYEE_GROUPS",
        asset="employee_groups",
    ),
    Bad(
        "flexlink-json",
        {"XLEDGER_FLEXLINK_PART_TIME_EMPLOYEES": "{not json"},
        "XLEDGER_FLEXLINK_PART_TIME_EMPLOYEES",
        asset="part_time_employees",
    ),
]

AT_LOAD: list[Bad] = [
    Bad("env", {"XLEDGER_ENV": "staging"}, "XLEDGER_ENV='staging' is not one of local, dev, prod"),
    Bad(
        "owner-set",
        {"XLEDGER_OWNER_SET": "everyone"},
        "XLEDGER_OWNER_SET='EVERYONE' is not one of CURRENT, UPPER, LOWER, MINE, ALL",
    ),
    Bad("page-size", {"XLEDGER_PAGE_SIZE": "ten"}, "XLEDGER_PAGE_SIZE='ten' is not a number"),
    Bad("page-size-zero", {"XLEDGER_PAGE_SIZE": "0"}, "XLEDGER_PAGE_SIZE='0' must be at least 1"),
    Bad(
        "refetch-chunk",
        {"XLEDGER_REFETCH_CHUNK": "1e"},
        "XLEDGER_REFETCH_CHUNK='1e' is not a number",
    ),
    Bad(
        "retention",
        {"XLEDGER_DELTA_RETENTION_MARGIN_HOURS": "-1"},
        "XLEDGER_DELTA_RETENTION_MARGIN_HOURS='-1' must be at least 0",
    ),
    Bad(
        "sensor-interval",
        {"XLEDGER_DELTA_SENSOR_INTERVAL_SECONDS": "5"},
        "XLEDGER_DELTA_SENSOR_INTERVAL_SECONDS='5' must be at least 30",
    ),
]

OTHER = ["mode-dagster", "mode-engine", "api-unreachable"]

report.section(
    SECTION,
    "Bad configuration",
    ("case", "variable", "when", "message"),
    __doc__.split("\n\n", 1)[1],
    [c.key for c in AT_LOAD] + [c.key for c in RUN_START] + OTHER,
)


@pytest.fixture
def good_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A working configuration against a sandbox; each case spoils one part of it."""
    flexlinks = FlexlinkSandbox(seed=4)
    with SandboxServer(
        port=0, seed=4, size=3, token=TOKEN, extra_routes={"/Flex/": flexlinks.handle}
    ) as server:
        env = {
            "XLEDGER_API_URL": server.url,
            "XLEDGER_API_TOKEN": TOKEN,
            "XLEDGER_LAKE_URL": str(tmp_path / "lake"),
            "XLEDGER_STATE_URL": str(tmp_path / "state.json"),
            "XLEDGER_ENV": "local",
            **flexlinks.env(server.base_url),
        }
        for name in ("AZURE_STORAGE_CONNECTION_STRING", "XLEDGER_OWNER_SET"):
            monkeypatch.delenv(name, raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        yield env


def _apply(case: Bad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if case.setup is not None:
        case.setup(tmp_path)
    for k, v in case.env.items():
        if v is None:
            monkeypatch.delenv(k, raising=False)
        else:
            monkeypatch.setenv(k, v.replace("{tmp}", str(tmp_path)))
    return case.message.replace("{tmp}", str(tmp_path))


def _variable(case: Bad) -> str:
    return ", ".join(f"`{k}`" for k in case.env)


def _materialize(asset: str, run_config: dict | None = None) -> dg.ExecuteInProcessResult:
    store = LakeStoreResource()
    if asset in {d.name for d in DEFAULT_CATALOG.flexlinks}:
        assets = [build_flexlink_asset(DEFAULT_CATALOG.flexlink(asset))]
    else:
        assets = [build_api_asset(DEFAULT_CATALOG.api_dataset(asset))]
    return dg.materialize(
        assets,
        resources={
            "xledger": XledgerApiResource(),
            "lake_store": store,
            IO_MANAGER_KEY: LakeIOManager(store=store),
        },
        run_config=run_config,
        raise_on_error=False,
    )


@pytest.mark.parametrize("case", RUN_START, ids=[c.key for c in RUN_START])
def test_at_run_start(good_env, case: Bad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    expected = _apply(case, tmp_path, monkeypatch)
    result = _materialize(case.asset)
    assert not result.success
    [event] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    data = event.step_failure_data
    assert data.user_failure_data is not None, data.error.message  # a plain Failure
    message = data.user_failure_data.description
    assert message.startswith(expected) or (len(case.env) == 1 and expected in message), message
    assert any(var in message for var in case.env), message
    assert data.error.cause is None and "Traceback" not in message
    report.record(SECTION, case.key, case.key, _variable(case), "run start", message)


@pytest.mark.parametrize("case", AT_LOAD, ids=[c.key for c in AT_LOAD])
def test_at_load(
    good_env,
    case: Bad,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    """The code location still loads (no import traceback), logs the one plain line, and a run
    then fails at start with the same message."""
    expected = _apply(case, tmp_path, monkeypatch)
    with caplog.at_level(logging.ERROR, logger="xledger_assets"):
        defs = build_definitions()
    logged = [r.getMessage() for r in caplog.records if r.name == "xledger_assets"]
    assert logged == [f"{expected}: runs fail at start until it is fixed"], logged
    assert {a.key.path[0] for a in defs.resolve_all_asset_specs()} >= {"timesheets"}
    with pytest.raises(ConfigurationError) as err:
        Settings.from_env()
    assert str(err.value) == expected
    result = _materialize(case.asset)
    assert not result.success
    [event] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    data = event.step_failure_data
    assert data.user_failure_data is not None, data.error.message
    message = data.user_failure_data.description
    assert message == expected and data.error.cause is None, message
    assert not (tmp_path / "lake" / "timesheets").exists()
    report.record(
        SECTION, case.key, case.key, _variable(case), "load (logged) and run start", message
    )


def test_unknown_mode(good_env):
    with pytest.raises(dg.DagsterInvalidConfigError) as err:
        _materialize("timesheets", {"ops": {"timesheets": {"config": {"mode": "fast"}}}})
    text = str(err.value)
    assert 'Value at path root:ops:timesheets:config:mode not in enum type SyncMode got "fast"' in (
        text.replace("\n", " ")
    ) or ("mode" in text and "fast" in text), text
    first = next(line for line in text.splitlines() if "mode" in line)
    report.record(
        SECTION, "mode-dagster", "mode-dagster", "run config `mode`", "run start", first.strip()
    )


def test_unknown_mode_in_the_engine(make_harness: HarnessFactory):
    h = make_harness(size=2)
    with pytest.raises(SyncError) as err:
        h.engine().stage(dataset("projects"), "fast")
    message = str(err.value)
    assert message == "unknown sync mode 'fast': use one of auto, full, changes"
    assert h.files("projects") == []
    report.record(SECTION, "mode-engine", "mode-engine", "`mode` (engine)", "run start", message)


def test_unreachable_xledger_names_the_url(make_harness: HarnessFactory):
    h = make_harness(size=2)
    url = f"http://{CLOSED}/graphql"
    client = XledgerClient(
        url, TOKEN, policy=RetryPolicy(), sleep=h.clock.sleep, now=h.clock.monotonic
    )
    with pytest.raises(XledgerTransientError) as err:
        h.engine(client=client).run(dataset("projects"), "auto")
    message = str(err.value)
    assert message.startswith(
        f"Xledger kept failing (connection to {url} failed (ConnectError; check "
        "XLEDGER_API_URL)) after 10 attempts"
    ), message
    assert len(h.clock.sleeps) == 9 and h.files("projects") == [] and h.cursor("projects") is None
    report.record(
        SECTION,
        "api-unreachable",
        "api-unreachable",
        "`XLEDGER_API_URL`",
        "run start, after 10 attempts (waits recorded)",
        message,
    )


def test_a_load_error_ends_with_the_plain_message(good_env, tmp_path: Path):
    """Through the contract's CLI: the location loads with one plain line instead of an import
    traceback, and the run fails at start with the message (Dagster's plain ``Failure``)."""
    import os
    import subprocess
    import sys

    from xledger_assets_tests.conftest import REPO

    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")}
    env.update({"XLEDGER_ENV": "staging", "DAGSTER_HOME": str(tmp_path)})
    dagster = str(Path(sys.executable).with_name("dagster"))
    result = subprocess.run(
        [
            dagster,
            "asset",
            "materialize",
            "-m",
            "xledger_assets.definitions",
            "--select",
            "projects",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    message = "XLEDGER_ENV='staging' is not one of local, dev, prod"
    lines = result.stderr.splitlines()
    assert f"{message}: runs fail at start until it is fixed" in lines, json.dumps(
        result.stderr[-1500:]
    )
    assert f"dagster._core.definitions.events.Failure: {message}" in lines
    assert "Traceback (most recent call last)" not in result.stderr
    assert "ConfigurationError" not in result.stderr
    assert not (tmp_path / "lake" / "projects").exists()
