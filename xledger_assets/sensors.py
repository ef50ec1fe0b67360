"""One delta sensor for all API datasets: one GraphQL request per tick, and one run per tick
for all datasets that changed.

The tick's request asks for every dataset's newest delta and, for each dataset with sync state,
the deltas after its stored cursor (up to ``HANDOFF_LIMIT``). The run it starts gets those
deltas in its run config, so its only Xledger request is one combined re-fetch of the ADDED and
UPDATED records of all its datasets (:mod:`xledger_assets.sync.batch`); a dataset whose deltas
did not fit reads them itself. A dataset that stayed quiet for half the delta retention margin
gets a keep-alive (no request at all), so ``auto`` does not take a quiet weekend for an expired
delta window and reload it.

The same request tells whether Xledger accepts the API token, so every tick also reports the
``xledger_token_health`` check of every API asset (no extra request): passed, or failed with
what to do. While the token is refused the sensor skips with that message instead of starting
runs that would fail.
"""

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg

from xledger_assets.catalog import ApiDataset
from xledger_assets.checks import TOKEN_OK, token_check_evaluations, token_problem
from xledger_assets.errors import XledgerApiError, XledgerAssetsError
from xledger_assets.redact import redact
from xledger_assets.resources import LakeStoreResource, XledgerApiResource
from xledger_assets.state.base import SyncState
from xledger_assets.sync.batch import HANDOFF_CONFIG_KEY
from xledger_assets.sync.engine import last_cursor, looks_expired
from xledger_assets.sync.handoff import HANDOFF_LIMIT, handoff_from_page, newest_only
from xledger_assets.xledger import queries

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

SENSOR_NAME = "xledger_delta_sensor"
DELTA_JOB = "xledger_delta_sync"
#: the ``xledger/dataset`` tag of a run of several datasets (the run queue runs one at a time)
SEVERAL = "several"


def build_delta_job(datasets: Sequence[ApiDataset]) -> "UnresolvedAssetJobDefinition":
    """The sensor's runs: in one process, so the run's steps share one combined re-fetch."""
    return dg.define_asset_job(
        DELTA_JOB,
        selection=dg.AssetSelection.assets(*[d.name for d in datasets if d.deltas_field]),
        executor_def=dg.in_process_executor,
        description="Changes syncs started by the delta sensor (one run per tick for every "
        "dataset that changed; the deltas the sensor read are in the run config).",
    )


def build_delta_sensor(
    datasets: Sequence[ApiDataset],
    *,
    interval_seconds: int,
    default_status: dg.DefaultSensorStatus,
    env: str,
    utcnow: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dg.SensorDefinition:
    with_deltas = [d for d in datasets if d.deltas_field]
    api_names = [d.name for d in datasets]
    job = build_delta_job(datasets)

    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=interval_seconds,
        job=job,
        default_status=default_status,
        description="One request per tick reads every dataset's deltas after its stored "
        "cursor; one run then syncs every dataset that changed, with those deltas handed "
        "over, and re-fetches their records in one request. Reports the xledger_token_health "
        "check of every API asset from that request; skips while Xledger refuses the token.",
    )
    def xledger_delta_sensor(
        context: dg.SensorEvaluationContext,
        xledger: XledgerApiResource,
        lake_store: LakeStoreResource,
    ) -> dg.SensorResult | dg.SkipReason:
        states: dict[str, SyncState] | None
        state_problem = None
        try:
            states = lake_store.state_store().all()
        except XledgerAssetsError as exc:
            states, state_problem = None, redact(str(exc))
        cursors: dict[str, str | None] = {n: st.cursor for n, st in (states or {}).items()}
        try:
            data, read_at, cursors, refused = _read(xledger, with_deltas, cursors, utcnow, context)
        except XledgerAssetsError as exc:
            problem = token_problem(exc)
            if problem is None:  # Xledger unreachable, rate limits...: says nothing of the token
                return dg.SkipReason(redact(str(exc)))
            context.log.warning(problem)
            return dg.SensorResult(
                skip_reason=problem,
                asset_events=token_check_evaluations(
                    api_names, False, problem, {"reported_by": SENSOR_NAME}
                ),
            )
        token_ok = token_check_evaluations(
            api_names,
            True,
            f"{TOKEN_OK} (delta sensor tick)",
            {"reported_by": SENSOR_NAME},
        )
        if states is None:
            return dg.SensorResult(skip_reason=state_problem, asset_events=token_ok)
        requested: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        keys: list[str] = []
        ops: dict[str, dict] = {}
        margin = xledger.sync_settings().retention_margin
        keep_alive_after = margin / 2
        busy = _datasets_in_flight(context, env)
        for d in with_deltas:
            state = states.get(d.name)
            if state is None:
                continue  # no full load yet: the schedule or a user does it
            if d.name in busy:
                continue  # a queued or running sync of it: the next tick looks again
            newest = last_cursor(data.get(d.name))
            mode = "auto"
            page = data.get(f"{d.name}{queries.AFTER}") if d.name in cursors else None
            handoff = handoff_from_page(d.name, state.cursor, newest, page, read_at)
            quiet_for = read_at - state.last_success_at
            if newest is not None and newest != state.cursor:
                mark = newest  # new deltas
                if looks_expired(refused.get(d.name, "")):
                    mode = "full"  # Xledger no longer knows the stored cursor
            elif newest is None and state.cursor is not None:
                # The stored cursor's deltas are gone (aged out, or dropped early): changes after
                # it may be gone with them, so the run reloads.
                mark, handoff, mode = f"gone@{state.cursor}", None, "full"
            elif quiet_for > margin:
                mark, handoff = f"old@{state.last_success}", None  # auto reloads
            elif quiet_for >= keep_alive_after and handoff is not None:
                mark = f"alive@{state.last_success}"  # nothing after the cursor: say so
            else:
                continue
            if requested.get(d.name) == mark:
                continue  # already requested
            if handoff is None:
                handoff = newest_only(d.name, state.cursor, newest, read_at)
            requested[d.name] = mark
            keys.append(f"{d.name}:{mark}")
            config = {"mode": mode, HANDOFF_CONFIG_KEY: handoff.to_config()}
            ops[d.name] = {"config": config}
        if not ops:
            return dg.SensorResult(skip_reason="no dataset has new deltas", asset_events=token_ok)
        names = sorted(ops)
        run = dg.RunRequest(
            run_key=";".join(sorted(keys)),
            asset_selection=[dg.AssetKey(n) for n in names],
            run_config={"ops": ops},
            tags={
                "xledger/dataset": names[0] if len(names) == 1 else SEVERAL,
                "xledger/datasets": ",".join(names),
                "xledger/env": env,
            },
        )
        return dg.SensorResult(
            run_requests=[run],
            cursor=json.dumps(requested, sort_keys=True),
            asset_events=token_ok,
        )

    return xledger_delta_sensor


IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _datasets_in_flight(context: dg.SensorEvaluationContext, env: str) -> set[str]:
    """Datasets with a queued or running sync in this environment (sensor, schedule and
    operator runs carry ``xledger/dataset`` or ``xledger/datasets``): the sensor leaves them to
    the next tick instead of starting a run whose sync would find the dataset's lock taken."""
    try:
        instance = context.instance
    except dg.DagsterInvariantViolationError:  # a context built without one (tests, bench)
        return set()
    runs = instance.get_runs(
        filters=dg.RunsFilter(statuses=IN_FLIGHT, tags={"xledger/env": env}), limit=100
    )
    busy: set[str] = set()
    for run in runs:
        busy.update(n for n in run.tags.get("xledger/datasets", "").split(",") if n)
        name = run.tags.get("xledger/dataset")
        if name and name != SEVERAL:
            busy.add(name)
    return busy


def _read(
    xledger: XledgerApiResource,
    datasets: Sequence[ApiDataset],
    cursors: dict[str, str | None],
    utcnow: Callable[[], datetime],
    context: dg.SensorEvaluationContext,
) -> tuple[dict, datetime, dict[str, str | None], dict[str, str]]:
    """The tick's request; also the messages of the datasets whose deltas after the stored
    cursor Xledger refused (an expired cursor fails that field alone). Should Xledger refuse the
    request as a whole, the tick asks once more for the newest deltas only, and the runs read
    (or reload) by themselves."""
    client = xledger.client()
    try:
        query, variables = queries.sensor_query(datasets, cursors, HANDOFF_LIMIT)
        optional = [f"{name}{queries.AFTER}" for name in cursors]
        try:
            data, failed = client.execute_partial(
                query, variables, operation="deltas (sensor)", optional=optional
            )
        except XledgerApiError as exc:
            if not cursors or type(exc) is not XledgerApiError:
                raise  # token, credits, transient failures: not about the cursors
            context.log.warning(
                "Xledger refused the deltas after the stored cursors (%s); asking for the "
                "newest deltas only",
                redact(str(exc)),
            )
            query, variables = queries.sensor_query(datasets, {}, HANDOFF_LIMIT)
            data = client.execute(query, variables, operation="deltas (sensor)")
            return data, utcnow(), {}, {}
        refused = {k.removesuffix(queries.AFTER): m for k, m in failed.items()}
        for name, message in refused.items():
            context.log.info("Xledger refused the deltas of %s after its cursor: %s", name, message)
        return data, utcnow(), cursors, refused
    finally:
        client.close()
