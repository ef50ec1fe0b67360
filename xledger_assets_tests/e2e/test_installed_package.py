"""`pip install .` (not editable) gives a working package: data files ship inside the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from xledger_assets_tests.conftest import REPO, Product


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = out.glob("xledger_assets-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for required in (
        "xledger_assets/queries/timesheets.fields",
        "xledger_assets/queries/ap_transactions.fields",
        "xledger_assets/sandbox/schema.graphql",
        "xledger_assets/py.typed",
    ):
        assert required in names, required
    assert not [n for n in names if n.startswith("xledger_assets_tests/")]
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return target


@pytest.mark.parametrize("lake_env", ["local"], indirect=True)  # one build, one worker
def test_installed_package_materializes_from_another_directory(
    installed: Path, product: Product, tmp_path: Path
):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XLEDGER_", "DAGSTER_"))}
    env.update(product.env)
    # Only the installed copy is importable: the repo is not on the path, the cwd is elsewhere.
    env["PYTHONPATH"] = str(installed)
    code = (
        "import xledger_assets, sys; assert xledger_assets.__file__.startswith(sys.argv[1]), "
        "xledger_assets.__file__; from dagster._cli import main; "
        "sys.argv = ['dagster', 'asset', 'materialize', '-m', 'xledger_assets.definitions', "
        "'--select', 'projects']; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(installed)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [name] = product.files("projects")
    assert name.startswith("full_sync-")
