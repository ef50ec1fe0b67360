"""The contract's command line: `dagster asset materialize -m xledger_assets.definitions`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets_tests.conftest import REPO, Product

DAGSTER = str(Path(sys.executable).with_name("dagster"))


def _run(product: Product, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XLEDGER_", "DAGSTER_"))}
    env.update(product.env)
    return subprocess.run(
        [DAGSTER, "asset", "materialize", "-m", "xledger_assets.definitions", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=480,
    )


def test_materialize_from_the_repo_root_then_force_full(product: Product):
    first = _run(product, REPO, "--select", "timesheets")
    assert first.returncode == 0, first.stderr[-3000:]
    [full] = product.files("timesheets")
    assert full.startswith("full_sync-")
    product.sandbox.sandbox.add("timesheets", 2)
    second = _run(product, REPO, "--select", "timesheets")
    assert second.returncode == 0, second.stderr[-3000:]
    files = product.files("timesheets")
    assert files[1].startswith("sync_changes-")
    assert product.read("timesheets", files[1]).num_rows == 2
    forced = _run(
        product,
        REPO,
        "--select",
        "timesheets",
        "--config-json",
        json.dumps({"ops": {"timesheets": {"config": {"mode": "full"}}}}),
    )
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert product.files("timesheets")[2].startswith("full_sync-")
    assert product.rebuilt("timesheets") == product.truth(DEFAULT_CATALOG.api_dataset("timesheets"))
    # the token never reaches the output
    for out in (first, second, forced):
        assert product.env["XLEDGER_API_TOKEN"] not in out.stdout + out.stderr


def test_materialize_from_another_directory(product: Product, tmp_path: Path):
    # `--select '*'` is what `make demo` runs; here one API and one flexlink asset keep it quick.
    result = _run(product, tmp_path, "--select", "ar_transactions,part_time_employees")
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("ar_transactions", "part_time_employees"):
        [file] = product.files(name)
        assert file.startswith("full_sync-"), name
    assert product.files("timesheets") == []


def test_unknown_mode_is_refused_by_dagster(product: Product):
    bad = _run(
        product,
        REPO,
        "--select",
        "timesheets",
        "--config-json",
        json.dumps({"ops": {"timesheets": {"config": {"mode": "fast"}}}}),
    )
    assert bad.returncode != 0
    assert "fast" in bad.stderr and "mode" in bad.stderr
    assert product.files("timesheets") == []
