"""The image's install path and its three roles, without Docker.

``deploy/install.sh`` (what the Dockerfile's build stage runs) builds the wheel from the files the
Dockerfile copies and installs ``<wheel>[prod]`` into a virtualenv. From that virtualenv, with the
production instance and workspace files, the test starts the three commands the container apps
run: ``dagster code-server start``, ``dagster-webserver`` and ``dagster-daemon run``. The webserver
must serve the catalog's assets over GraphQL; a run launched through GraphQL must be queued,
dequeued by the daemon, executed by the code server (the default run launcher) and succeed;
``deploy/healthcheck.py`` must pass for each role. PostgreSQL is the TLS-only test server; compute
logs go to a local folder (the Azure Blob manager is exercised in test_production_instance.py).

The virtualenv is cached in ``.venv-deploy/<key>`` (key: pyproject.toml, install.sh, Python);
the package itself is reinstalled from a fresh wheel on every run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets_tests.conftest import TOKEN, Product
from xledger_assets_tests.deploy.conftest import (
    DEPLOY,
    REPO,
    instance_config_for_test,
    write_instance,
)
from xledger_assets_tests.deploy.processes import Service, free_port
from xledger_assets_tests.deploy.venvs import cache_key, cached_venv, run

DOCKERFILE = REPO / "Dockerfile"


def build_stage_copies() -> list[str]:
    """The sources the Dockerfile's build stage COPYs (before it runs install.sh)."""
    text = DOCKERFILE.read_text()
    stage = text.split(" AS build", 1)[1].split("\nFROM ", 1)[0]
    sources: list[str] = []
    for line in stage.splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            *srcs, _dest = line.split()[1:]
            sources += [s for s in srcs if not s.startswith("deploy/")]
    return sources


@pytest.fixture(scope="session")
def deploy_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    install = DEPLOY / "install.sh"
    key = cache_key((REPO / "pyproject.toml").read_bytes(), install.read_bytes())
    src = tmp_path_factory.mktemp("image-src")
    for name in build_stage_copies():  # the Docker build context, as the build stage sees it
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)

    def install_sh(venv: Path) -> None:
        # The same command as the Dockerfile's `RUN xledger-install /src /opt/dagster/venv`.
        # pip's own settings (index, proxy) pass through; nothing of the test's virtualenv does.
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
        run(["sh", install, src, venv], env={**env, "PYTHON": sys.executable})

    def reinstall(venv: Path) -> None:  # a cached venv gets the wheel of this checkout
        run([venv / "bin" / "python", "-m", "pip", "uninstall", "-y", "-q", "xledger-assets"])
        install_sh(venv)

    return cached_venv(REPO / ".venv-deploy", key, install_sh, reinstall)


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        doc = json.loads(response.read())
    assert "errors" not in doc, doc["errors"]
    return doc["data"]


ASSETS = "{ assetNodes { assetKey { path } groupName } }"
LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
RUN = "query Run($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"


@pytest.fixture
def lake_env(tmp_path: Path) -> dict[str, str]:
    return {
        "XLEDGER_LAKE_URL": str(tmp_path / "lake"),
        "XLEDGER_STATE_URL": str(tmp_path / "state" / "state.json"),
    }


def test_the_three_roles_run_from_the_installed_wheel(
    deploy_venv: Path, product: Product, pg_env: dict[str, str], tmp_path: Path
):
    bin_dir = deploy_venv / "bin"
    work = tmp_path / "cwd"  # not the repository: the installed package must be what runs
    work.mkdir()
    located = run(
        [bin_dir / "python", "-c", "import xledger_assets; print(xledger_assets.__file__)"],
        cwd=work,
    )
    assert located.strip().startswith(str(deploy_venv)), located

    home = write_instance(
        tmp_path / "home",
        instance_config_for_test(
            {
                "module": "dagster._core.storage.local_compute_log_manager",
                "class": "LocalComputeLogManager",
                "config": {"base_dir": str(tmp_path / "compute-logs")},
            }
        ),
    )
    code_port, web_port = free_port(), free_port()
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DAGSTER_HOME": str(home),
        **pg_env,
        **product.env,
        "XLEDGER_API_TOKEN": TOKEN,
        "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
        "DAGSTER_CODE_SERVER_PORT": str(code_port),
    }
    workspace = str(DEPLOY / "workspace.yaml")
    services = [
        Service(
            "code-server",
            [
                bin_dir / "dagster",
                "code-server",
                "start",
                "-h",
                "127.0.0.1",
                "-p",
                str(code_port),
                "-m",
                "xledger_assets.definitions",
                "--location-name",
                "xledger_assets",
            ],
            env,
            tmp_path,
            cwd=work,
        )
    ]
    healthcheck = [bin_dir / "python", DEPLOY / "healthcheck.py"]
    try:
        code = services[0]
        code.wait_until(
            lambda: run([*healthcheck, "code-server", "-p", str(code_port)], env=env) != "",
            120,
            "healthy code server",
        )
        services.append(
            Service(
                "webserver",
                [
                    bin_dir / "dagster-webserver",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(web_port),
                    "-w",
                    workspace,
                ],
                env,
                tmp_path,
                cwd=work,
            )
        )
        services.append(
            Service(
                "daemon",
                [bin_dir / "dagster-daemon", "run", "-w", workspace],
                env,
                tmp_path,
                cwd=work,
            )
        )
        web, daemon = services[1], services[2]
        web.wait_until(
            lambda: "answers" in run([*healthcheck, "webserver", "-p", str(web_port)], env=env),
            120,
            "healthy webserver",
        )

        nodes = graphql(web_port, ASSETS)["assetNodes"]
        keys = sorted(n["assetKey"]["path"][0] for n in nodes)
        assert keys == sorted(d.name for d in (*DEFAULT_CATALOG.api, *DEFAULT_CATALOG.flexlinks))

        params = {
            "selector": {
                "repositoryLocationName": "xledger_assets",
                "repositoryName": "__repository__",
                "jobName": "__ASSET_JOB",
                "assetSelection": [{"path": ["timesheets"]}],
            },
            "runConfigData": {"ops": {"timesheets": {"config": {"mode": "full"}}}},
        }
        launched = graphql(web_port, LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        assert launched["run"]["status"] == "QUEUED"  # the daemon's run queue takes it

        deadline = time.monotonic() + 120
        status = "QUEUED"
        while status not in ("SUCCESS", "FAILURE", "CANCELED") and time.monotonic() < deadline:
            time.sleep(1)
            status = graphql(web_port, RUN, {"id": run_id})["runOrError"]["status"]
            assert daemon.process.poll() is None, daemon.output()[-3000:]
        assert status == "SUCCESS", code.output()[-4000:] + daemon.output()[-4000:]
        files = product.files("timesheets")
        assert len(files) == 1 and re.fullmatch(
            r"full_sync-\d{8}_\d{2}_\d{2}_\d{2}-timesheets\.parquet", files[0]
        )

        run([*healthcheck, "daemon"], env=env)  # exit 0: its heartbeats are in PostgreSQL
        unused = free_port()
        with pytest.raises(AssertionError):
            run([*healthcheck, "webserver", "-p", str(unused)], env=env)
        with pytest.raises(AssertionError):
            run([*healthcheck, "code-server", "-p", str(unused)], env=env)
    finally:
        for service in reversed(services):
            service.stop()
