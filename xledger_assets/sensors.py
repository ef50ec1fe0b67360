"""One delta sensor for all API datasets: one GraphQL request per tick asks Xledger for every
dataset's newest delta, and only datasets that changed get a run."""

import json
from collections.abc import Sequence

import dagster as dg

from xledger_assets.catalog import ApiDataset
from xledger_assets.errors import XledgerAssetsError
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

    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=interval_seconds,
        asset_selection=dg.AssetSelection.assets(*[d.name for d in with_deltas]),
        default_status=default_status,
        description="Asks Xledger for the newest delta of every dataset in one request and "
        "starts a changes sync for each dataset whose delta cursor moved.",
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
            states = lake_store.state_store().all()
        except XledgerAssetsError as exc:
            return dg.SkipReason(str(exc))
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
            return dg.SkipReason("no dataset has new deltas")
        return dg.SensorResult(run_requests=runs, cursor=json.dumps(requested, sort_keys=True))

    return xledger_delta_sensor
