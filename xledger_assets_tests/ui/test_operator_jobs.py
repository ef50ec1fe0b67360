"""Operator jobs as the UI launches them: the code location's own jobs and resources."""

from __future__ import annotations

import dagster as dg
import pytest

from xledger_assets.definitions import build_definitions
from xledger_assets.jobs import FULL_RESYNC_JOB, IMPORT_LEGACY_JOB, STATE_RESET_JOB, STATE_SHOW_JOB
from xledger_assets.sandbox.appconfig import AppConfigEmulator
from xledger_assets.state.appconfig import state_key
from xledger_assets_tests.conftest import Product

local = pytest.mark.parametrize("lake_env", ["local"], indirect=True)
SECRET = "c2VjcmV0LWtleS1mb3Itb3BzLTEyMw=="  # base64, test only


def _output_meta(result: dg.ExecuteInProcessResult, op: str) -> dict:
    [event] = [
        e for e in result.events_for_node(op) if e.event_type == dg.DagsterEventType.STEP_OUTPUT
    ]
    return {k: getattr(v, "value", v) for k, v in event.step_output_data.metadata.items()}


def _failure(result: dg.ExecuteInProcessResult) -> str:
    [event] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    return event.step_failure_data.error.message


@local
def test_full_resync_of_chosen_datasets(product: Product):
    product.materialize("timesheets")
    product.materialize("projects")
    product.sandbox.sandbox.add("timesheets", 1)
    job = build_definitions().resolve_job_def(FULL_RESYNC_JOB)
    result = job.execute_in_process(
        asset_selection=[dg.AssetKey("timesheets")], raise_on_error=False
    )
    assert result.success
    [mat] = result.asset_materializations_for_node("timesheets")
    assert mat.metadata["mode"].value == "full"
    assert mat.metadata["requested_mode"].value == "full"
    assert [f[:9] for f in product.files("timesheets")] == ["full_sync", "full_sync"]
    assert len(product.files("projects")) == 1  # not chosen, not touched
    checks = {e.check_name for e in result.get_asset_check_evaluations()}
    assert "db_ids_unique" in checks and "xledger_token_health" in checks


@local
def test_show_and_reset_state_with_confirmation(product: Product):
    product.materialize("employees")
    defs = build_definitions()
    show = defs.resolve_job_def(STATE_SHOW_JOB).execute_in_process()
    meta = _output_meta(show, "show_sync_state")
    assert meta["datasets_with_state"] == 1
    assert "| employees | full | 1 |" in meta["state"]
    assert "| timesheets | - |" in meta["state"]
    assert meta["json"]["employees"]["cursor"] == product.state.get("employees").cursor

    reset = defs.resolve_job_def(STATE_RESET_JOB)
    wrong = reset.execute_in_process(
        run_config={"ops": {"reset_sync_state": {"config": {"dataset": "employees"}}}},
        raise_on_error=False,
    )
    assert not wrong.success
    assert "to confirm, set confirm to 'employees'" in _failure(wrong)
    assert product.state.get("employees") is not None

    unknown = reset.execute_in_process(
        run_config={"ops": {"reset_sync_state": {"config": {"dataset": "x", "confirm": "x"}}}},
        raise_on_error=False,
    )
    assert "unknown dataset 'x'" in _failure(unknown)

    config = {"dataset": "employees", "confirm": "employees"}
    done = reset.execute_in_process(run_config={"ops": {"reset_sync_state": {"config": config}}})
    assert done.success
    assert _output_meta(done, "reset_sync_state")["had_state"] is True
    assert product.state.get("employees") is None
    [observation] = done.asset_observations_for_node("reset_sync_state")
    assert observation.asset_key == dg.AssetKey("employees")
    [mat] = product.materialize("employees").asset_materializations_for_node("employees")
    assert mat.metadata["mode"].value == "full"


@local
def test_import_legacy_state_needs_app_configuration(product: Product):
    job = build_definitions().resolve_job_def(IMPORT_LEGACY_JOB)
    result = job.execute_in_process(raise_on_error=False)
    assert "reads the predecessor's keys from Azure App Configuration" in _failure(result)


def test_import_legacy_state_from_app_configuration(monkeypatch, tmp_path):
    with AppConfigEmulator(credential_id="ops", secret_b64=SECRET) as emu:
        emu.seed("timesheets-deltas_cursor", "ts-delta")
        emu.seed("timesheets-initial_sync_complete", "true")
        monkeypatch.setenv("XLEDGER_STATE_URL", emu.connection_string)
        monkeypatch.setenv("XLEDGER_ENV", "dev")
        monkeypatch.setenv("XLEDGER_LAKE_URL", str(tmp_path / "lake"))
        job = build_definitions().resolve_job_def(IMPORT_LEGACY_JOB)
        one = job.execute_in_process(
            run_config={"ops": {"import_legacy_sync_state": {"config": {"dataset": "timesheets"}}}}
        )
        meta = _output_meta(one, "import_legacy_sync_state")
        assert meta["imported"] == 1
        assert "imported cursor 'ts-delta' from timesheets-deltas_cursor" in meta["result"]
        assert SECRET not in meta["store"]
        assert emu.json_value(state_key("timesheets"), "dev")["cursor"] == "ts-delta"
        again = _output_meta(job.execute_in_process(), "import_legacy_sync_state")
        assert again["imported"] == 0
        assert "| timesheets | already has state (version 1); left as it is |" in again["result"]
        assert "| customers | no predecessor state |" in again["result"]
