"""One delta sensor for all API datasets: one GraphQL request per tick asks Xledger for every
dataset's newest delta, and only datasets that changed get a run.

The same request tells whether Xledger accepts the API token, so every tick also reports the
``xledger_token_health`` check of every API asset (no extra request): passed, or failed with
what to do. While the token is refused the sensor skips with that message instead of starting
runs that would fail.
"""

import json
from collections.abc import Sequence

import dagster as dg

from xledger_assets.catalog import ApiDataset
from xledger_assets.checks import TOKEN_OK, token_check_evaluations, token_problem
from xledger_assets.errors import XledgerAssetsError
from xledger_assets.redact import redact
from xledger_assets.resources import LakeStoreResource, XledgerApiResource
from xledger_assets.sync.engine import last_cursor
from xledger_assets.xledger import queries

SENSOR_NAME = "xledger_delta_sensor"


def build_delta_sensor(
    datasets: Sequence[ApiDataset],
    *,
    interval_seconds: int,
    default_status: dg.DefaultSensorStatus,
    env: str,
) -> dg.SensorDefinition:
    with_deltas = [d for d in datasets if d.deltas_field]
    query = queries.newest_delta_query(with_deltas)
    api_names = [d.name for d in datasets]

    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=interval_seconds,
        asset_selection=dg.AssetSelection.assets(*[d.name for d in with_deltas]),
        default_status=default_status,
        description="Asks Xledger for the newest delta of every dataset in one request and "
        "starts a changes sync for each dataset whose delta cursor moved. Reports the "
        "xledger_token_health check of every API asset from that request; skips while Xledger "
        "refuses the token.",
    )
    def xledger_delta_sensor(
        context: dg.SensorEvaluationContext,
        xledger: XledgerApiResource,
        lake_store: LakeStoreResource,
    ) -> dg.SensorResult | dg.SkipReason:
        try:
            client = xledger.client()
            try:
                data = client.execute(query, operation="newest deltas (sensor)")
            finally:
                client.close()
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
        try:
            states = lake_store.state_store().all()
        except XledgerAssetsError as exc:
            return dg.SensorResult(skip_reason=redact(str(exc)), asset_events=token_ok)
        requested: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        runs = []
        for d in with_deltas:
            newest = last_cursor(data.get(d.name))
            state = states.get(d.name)
            if newest is None or state is None:
                continue  # no deltas yet, or no full load yet (the schedule or a user does it)
            if newest == state.cursor or requested.get(d.name) == newest:
                continue
            requested[d.name] = newest
            runs.append(
                dg.RunRequest(
                    run_key=f"{d.name}:{newest}",
                    asset_selection=[dg.AssetKey(d.name)],
                    tags={"xledger/dataset": d.name, "xledger/env": env},
                )
            )
        if not runs:
            return dg.SensorResult(skip_reason="no dataset has new deltas", asset_events=token_ok)
        return dg.SensorResult(
            run_requests=runs, cursor=json.dumps(requested, sort_keys=True), asset_events=token_ok
        )

    return xledger_delta_sensor
