"""Shared fixtures: a real sandbox over HTTP on 127.0.0.1, a lake and state per test, and a
helper that materializes assets through Dagster itself."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pytest

from xledger_assets.assets.api import IO_MANAGER_KEY, build_api_asset
from xledger_assets.assets.flexlinks import build_flexlink_asset
from xledger_assets.catalog import DEFAULT_CATALOG, ApiDataset
from xledger_assets.io_manager import LakeIOManager
from xledger_assets.lake import LakeFile, open_lake
from xledger_assets.lake.current import current_state
from xledger_assets.resources import LakeStoreResource, XledgerApiResource
from xledger_assets.sandbox.flexlinks import FlexlinkSandbox
from xledger_assets.sandbox.server import SandboxServer
from xledger_assets.state import open_state_store
from xledger_assets_tests.azurite import azurite, azurite_lake_env  # noqa: F401
from xledger_assets_tests.expected import comparable, expected_rows

TOKEN = "test-token-5f2a9c"
REPO = Path(__file__).resolve().parent.parent
FLEXLINKS = {d.name for d in DEFAULT_CATALOG.flexlinks}


@pytest.fixture
def flexlinks() -> FlexlinkSandbox:
    return FlexlinkSandbox(seed=7)


@pytest.fixture
def sandbox(flexlinks: FlexlinkSandbox) -> Iterator[SandboxServer]:
    with SandboxServer(
        port=0, seed=7, size=30, token=TOKEN, extra_routes={"/Flex/": flexlinks.handle}
    ) as srv:
        yield srv


@dataclass
class Product:
    """The product wired to a sandbox, a lake and a state store, run through Dagster."""

    sandbox: SandboxServer
    flexlinks: FlexlinkSandbox
    lake_url: str
    state_url: str
    env: dict[str, str]

    @property
    def lake(self):
        return open_lake(self.lake_url)

    @property
    def state(self):
        return open_state_store(self.state_url, env_label="local")

    def resources(self) -> dict[str, Any]:
        store = LakeStoreResource(lake_url=self.lake_url, state_url=self.state_url)
        return {
            "xledger": XledgerApiResource(api_url=self.sandbox.url),
            "lake_store": store,
            IO_MANAGER_KEY: LakeIOManager(store=store),
        }

    def materialize(
        self, dataset: ApiDataset | str, mode: str = "auto", *, raise_on_error: bool = True
    ) -> dg.ExecuteInProcessResult:
        if isinstance(dataset, str) and dataset in FLEXLINKS:
            return dg.materialize(
                [build_flexlink_asset(DEFAULT_CATALOG.flexlink(dataset))],
                resources=self.resources(),
                raise_on_error=raise_on_error,
            )
        d = DEFAULT_CATALOG.api_dataset(dataset) if isinstance(dataset, str) else dataset
        return dg.materialize(
            [build_api_asset(d)],
            resources=self.resources(),
            run_config={"ops": {d.name: {"config": {"mode": mode}}}},
            raise_on_error=raise_on_error,
        )

    def files(self, dataset: str) -> list[str]:
        return [f.name for f in self.lake.list_files(dataset)]

    def read(self, dataset: str, name: str, columns: list[str] | None = None) -> pa.Table:
        file = LakeFile.parse(dataset, name)
        assert file is not None, name
        table = self.lake.read_table(file)
        return table.select(columns) if columns else table

    def rebuilt(self, dataset: str) -> list[dict]:
        table = current_state(self.lake, dataset)
        return comparable(table.to_pylist()) if table is not None else []

    def truth(self, d: ApiDataset) -> list[dict]:
        fields = [(f.path, f.type) for f in d.fields]
        return comparable(expected_rows(fields, self.sandbox.sandbox.truth(d.items_field)))


@pytest.fixture(params=["local", "azurite"])
def lake_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Every test that uses the product runs on a local folder and on Azurite (ADLS Gen2's
    Blob API)."""
    state = {"XLEDGER_STATE_URL": str(tmp_path / "state" / "state.json")}
    if request.param == "local":
        return {"XLEDGER_LAKE_URL": str(tmp_path / "lake"), **state}
    return {**request.getfixturevalue("azurite_lake_env"), **state}


@pytest.fixture
def product(
    sandbox: SandboxServer,
    flexlinks: FlexlinkSandbox,
    lake_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Product:
    env = {
        **lake_env,
        **flexlinks.env(sandbox.base_url),
        "XLEDGER_API_URL": sandbox.url,
        "XLEDGER_API_TOKEN": TOKEN,
        "XLEDGER_ENV": "local",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return Product(
        sandbox, flexlinks, lake_env["XLEDGER_LAKE_URL"], lake_env["XLEDGER_STATE_URL"], env
    )


def metadata(result: dg.ExecuteInProcessResult, name: str) -> dict[str, Any]:
    [mat] = result.asset_materializations_for_node(name)
    return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
