"""The Dagster UI in a real browser: ``dagster dev`` against the sandbox, every asset
materialized, then headless Chromium (Debian's ``chromium`` driven by playwright-core) opens
the asset graph, an asset's page, its checks, the run and the jobs; then the delta sensor,
started as a user would, finds the API token refused and the token check turns red.

Screenshots are written to ``$XLEDGER_SCREENSHOTS_DIR`` (``make screenshots`` sets it to
``docs/screenshots``), otherwise to the test's temporary folder (printed). Without Chromium,
Node or playwright-core the test is skipped, or fails when ``CI=true``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from xledger_assets.arrow_types import ARROW_TYPES
from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.checks import TOKEN_CHECK
from xledger_assets.jobs import FULL_RESYNC_JOB, IMPORT_LEGACY_JOB, STATE_RESET_JOB, STATE_SHOW_JOB
from xledger_assets.sandbox.flexlinks import FlexlinkSandbox
from xledger_assets.sandbox.server import SandboxServer
from xledger_assets.sensors import SENSOR_NAME
from xledger_assets_tests.conftest import TOKEN
from xledger_assets_tests.ui.dagster_ui import REPO, dagster_dev, graphql

ASSETS = sorted([d.name for d in DEFAULT_CATALOG.api] + [d.name for d in DEFAULT_CATALOG.flexlinks])
API = [d.name for d in DEFAULT_CATALOG.api]
SCRIPT = Path(__file__).with_name("browse.mjs")
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
ASSET = "timesheets"
MAX_SCREENSHOT_BYTES = 300_000


def _tools() -> tuple[str, str]:
    """Chromium and Node, or skip (locally) / fail (CI=true) with what is missing."""
    candidates = [os.environ.get("XLEDGER_CHROMIUM") or "", *CHROMIUM_CANDIDATES]
    if os.environ.get("XLEDGER_CHROMIUM"):
        candidates = candidates[:1]  # exactly this one
    chromium = next((c for c in candidates if c and os.access(c, os.X_OK)), None)
    node = shutil.which("node")
    missing = []
    if not chromium:
        missing.append("Chromium (apt-get install -y chromium)")
    if not node:
        missing.append("Node.js")
    if not (REPO / "node_modules" / "playwright-core").is_dir():
        missing.append("playwright-core (npm ci)")
    if missing:
        message = f"the browser test needs {', '.join(missing)}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{message}; CI must install them", pytrace=False)
        pytest.skip(message)
    assert chromium and node
    return chromium, node


def _browse(node: str, plan: dict, work: Path) -> dict:
    plan_file = work / f"plan-{plan['phase']}.json"
    plan_file.write_text(json.dumps(plan))
    proc = subprocess.run(
        [node, str(SCRIPT), str(plan_file)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" not in result, f"{result['error']}\nscreenshots: {result['screenshots']}"
    return result


_SENSOR = {
    "repositoryLocationName": "xledger_assets",
    "repositoryName": "__repository__",
    "sensorName": SENSOR_NAME,
}
_START = """mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) {
  __typename ... on PythonError { message } } }"""
_TOKEN_CHECK = """{ assetNodes(assetKeys: [{path: ["%s"]}]) { assetChecksOrError {
  ... on AssetChecks { checks { name executionForLatestMaterialization {
    status evaluation { description } } } } } } }"""


def _token_check(url: str, asset: str) -> dict | None:
    doc = graphql(url, _TOKEN_CHECK % asset)
    [node] = doc["data"]["assetNodes"]
    for check in node["assetChecksOrError"]["checks"]:
        if check["name"] == TOKEN_CHECK:
            return check["executionForLatestMaterialization"]
    return None


def test_the_ui_shows_assets_checks_runs_and_a_refused_token(tmp_path: Path):
    chromium, node = _tools()
    started = time.monotonic()
    shots = Path(os.environ.get("XLEDGER_SCREENSHOTS_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    flexlinks = FlexlinkSandbox(seed=7)
    with SandboxServer(
        port=0, seed=7, size=30, token=TOKEN, extra_routes={"/Flex/": flexlinks.handle}
    ) as sandbox:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XLEDGER_", "DAGSTER_"))}
        env.update(flexlinks.env(sandbox.base_url))
        env.update(
            {
                "DAGSTER_HOME": str(home),
                "XLEDGER_API_URL": sandbox.url,
                "XLEDGER_API_TOKEN": TOKEN,
                "XLEDGER_LAKE_URL": str(tmp_path / "lake"),
                "XLEDGER_STATE_URL": str(tmp_path / "state" / "state.json"),
                "XLEDGER_ENV": "local",
                "XLEDGER_DELTA_SENSOR_INTERVAL_SECONDS": "30",
                "FRESHNESS_DAEMON_INTERVAL_SECONDS": "3",  # Dagster's default: 30
            }
        )
        # The instance (SQLite under DAGSTER_HOME) exists before dagster dev opens it; the
        # materialization runs here, in-process, while dagster dev starts.
        instance = dg.DagsterInstance.from_config(str(home))
        instance.get_runs(limit=1)  # creates the storage now, not concurrently with dagster dev
        materialized: dict = {}
        worker = threading.Thread(
            target=_materialize_all, args=(env, instance, sandbox, materialized)
        )
        worker.start()
        with dagster_dev(env, tmp_path / "dagster-dev.log", expected_assets=len(ASSETS)) as url:
            ready = time.monotonic() - started
            worker.join(timeout=180)
            assert materialized.get("success"), materialized
            marks = {"ui ready": ready, "materialized": time.monotonic() - started}
            plan = {
                "base": url,
                "chromium": chromium,
                "userDataDir": str(tmp_path / "chromium-profile"),
                "outDir": str(shots),
                "phase": "main",
                "runId": materialized["run_id"],
                "asset": ASSET,
                "assetCount": len(ASSETS),
            }
            main = _browse(node, plan, tmp_path)
            marks["browsed"] = time.monotonic() - started

            # The key expires: the delta sensor, switched on as in the UI, probes Xledger
            # once and reports the token check of every API asset as failed.
            sandbox.sandbox.set_token("a-newly-generated-token")
            started_sensor = graphql(url, _START, {"s": _SENSOR})
            assert started_sensor["data"]["startSensor"]["__typename"] == "Sensor", started_sensor
            deadline = time.monotonic() + 60
            token = _token_check(url, ASSET)
            while not (token and token["status"] == "FAILED") and time.monotonic() < deadline:
                time.sleep(1)
                token = _token_check(url, ASSET)
            assert token and token["status"] == "FAILED", token
            marks["token check failed"] = time.monotonic() - started
            failed = _browse(
                node,
                {
                    **plan,
                    "phase": "token",
                    "check": TOKEN_CHECK,
                    "expectText": "Xledger rejected the API token",
                },
                tmp_path,
            )

    marks["done"] = time.monotonic() - started
    print(f"screenshots in {shots}; seconds: {', '.join(f'{k} {v:.0f}' for k, v in marks.items())}")
    print(f"browser seconds: {main['seconds']} {failed['seconds']}")
    # the asset graph: every asset
    names = main["graph"]["nodes"]
    assert len(names) == len(ASSETS), names
    assert main["graph"]["allInView"]
    assert all(_shown(name, ASSETS) for name in names), names
    # an asset page: the columns and types of the file the run wrote, and the freshness policy
    fields = DEFAULT_CATALOG.api_dataset(ASSET).fields
    expected = [(f.path.lower(), str(ARROW_TYPES[f.type])) for f in fields]
    rows = [r for r in main["asset"]["columns"] if r[0] != "Column name"]  # the header
    columns = [(row[0].lower(), row[1]) for row in rows]
    assert columns[: len(expected)] == expected
    assert columns[len(expected)] == ("mutationtype", "string")
    assert re.search(r"Freshness policy\s+Passing", main["asset"]["text"])
    assert "Fails if more than 24 hours since last materialization" in main["asset"]["text"]
    # its materialization's metadata
    events = main["events"]["text"]
    for key in ("dagster/row_count", "path", "bytes", "mode", "cursor_before", "cursor_after"):
        assert key in events, key
    for key in ("api_requests", "api_megabytes", "added", "updated", "deleted"):
        assert key in events, key
    assert re.search(r"\bmode\s+changes\b", events) and "sync_changes-" in events
    # its checks, all passed
    checks_text = main["checks"]["text"]
    for check in ("db_ids_unique", "schema_matches_catalog", "row_count_vs_previous_full"):
        assert check in checks_text
    assert "This is a blocking asset check." in checks_text
    # the run: green
    assert "Success" in main["run"]["text"] and "RUN_SUCCESS" in main["run"]["text"]
    # the operator jobs
    for job in (FULL_RESYNC_JOB, STATE_SHOW_JOB, STATE_RESET_JOB, IMPORT_LEGACY_JOB):
        assert job in main["jobs"]["text"]
    # the refused token, in plain words
    assert "Xledger rejected the API token: it may have expired" in failed["checks"]["text"]
    assert TOKEN not in failed["checks"]["text"]
    for shot in main["screenshots"] + failed["screenshots"]:
        size = Path(shot).stat().st_size
        assert 0 < size < MAX_SCREENSHOT_BYTES, (shot, size)


def _shown(name: str, assets: list[str]) -> bool:
    """A node label is a name, or a middle-truncated one (``cost_el…_time_type``)."""
    if name in assets:
        return True
    head, sep, tail = name.partition("…")
    return bool(sep) and any(a.startswith(head) and a.endswith(tail) for a in assets)


def _materialize_all(
    env: dict, instance: dg.DagsterInstance, sandbox: SandboxServer, out: dict
) -> None:
    """Every asset and its checks (full loads), then changes of one, through the code
    location's own definitions and resources, recorded in the instance the UI reads."""
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        from xledger_assets.definitions import build_definitions

        job = build_definitions().resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        out.update(success=result.success, run_id=result.run_id)
        sandbox.sandbox.add(ASSET, 2)
        sandbox.sandbox.update(ASSET, 3)
        sandbox.sandbox.delete(ASSET, 1)
        changes = job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey(ASSET)],
            run_config={"ops": {ASSET: {"config": {"mode": "changes"}}}},
            raise_on_error=False,
        )
        out.update(success=result.success and changes.success)
    except Exception as exc:  # reported by the assertion in the test
        out.update(success=False, error=repr(exc))
    finally:
        os.environ.clear()
        os.environ.update(saved)
