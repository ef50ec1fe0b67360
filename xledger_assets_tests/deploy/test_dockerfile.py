"""The Dockerfile, read (there is no Docker engine here; test_install_and_serve.py runs its
install path and its three commands, test_checkov.py runs checkov and hadolint on it)."""

from __future__ import annotations

import json
import re

from xledger_assets.production import PRODUCTION_VARIABLES
from xledger_assets_tests.deploy.conftest import DEPLOY, REPO
from xledger_assets_tests.deploy.secrets_scan import secret_findings

DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages() -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    current = None
    for word, rest in instructions():
        if word == "FROM":
            current = rest.split(" AS ")[-1].strip()
            found[current] = [(word, rest)]
        elif current is not None:
            found[current].append((word, rest))
    return found


def test_multi_stage_on_slim_python():
    assert list(stages()) == ["build", "runtime"]
    for stage in stages().values():
        image = stage[0][1].split()[0]
        assert re.fullmatch(r"python:3\.11-slim-\w+", image), image


def test_build_stage_runs_the_install_script():
    build = stages()["build"]
    assert ("COPY", "deploy/install.sh /usr/local/bin/xledger-install") in build
    assert ("RUN", "xledger-install /src /opt/dagster/venv") in build
    assert (DEPLOY / "install.sh").stat().st_mode & 0o111
    script = (DEPLOY / "install.sh").read_text()
    assert 'pip install --disable-pip-version-check "$1[prod]"' in script  # runtime deps only
    assert "dev]" not in script


def test_runtime_stage_is_small_non_root_and_healthchecked():
    runtime = stages()["runtime"]
    copies = [rest for word, rest in runtime if word == "COPY"]
    assert copies == [
        "--from=build /opt/dagster/venv /opt/dagster/venv",
        "deploy/dagster.yaml deploy/workspace.yaml /opt/dagster/home/",
        "deploy/healthcheck.py /opt/dagster/healthcheck.py",
    ]
    users = [rest for word, rest in runtime if word == "USER"]
    assert users == ["10001:10001"]
    assert [rest for word, rest in runtime if word == "ENTRYPOINT"] == ['["tini", "--"]']
    [health] = [rest for word, rest in runtime if word == "HEALTHCHECK"]
    assert health.endswith('CMD ["python", "/opt/dagster/healthcheck.py"]')
    [cmd] = [rest for word, rest in runtime if word == "CMD"]
    assert "dagster-webserver" in cmd and "/opt/dagster/home/workspace.yaml" in cmd


def test_no_secret_in_the_image():
    assert secret_findings(DOCKERFILE) == []
    for word, rest in instructions():
        if word in ("ARG", "ENV"):
            assert not re.search(r"(?i)(token|password|secret|key)\w*=", rest), rest
    secrets = {v.name for v in PRODUCTION_VARIABLES if v.secret}
    text = DOCKERFILE.read_text()
    assert not [name for name in secrets if name in text]


def test_dockerignore_lets_in_only_what_is_copied():
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "xledger_assets", "deploy"}
    for word, rest in instructions():
        if word == "COPY" and "--from" not in rest:
            for source in rest.split()[:-1]:
                assert source.split("/")[0] in allowed, source


def _healthcheck():
    import importlib.util

    spec = importlib.util.spec_from_file_location("healthcheck", DEPLOY / "healthcheck.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_healthcheck_tells_the_role_and_port_from_the_command_line():
    hc = _healthcheck()
    cmd = (REPO / "Dockerfile").read_text().rsplit("CMD ", 1)[1]
    default = ["tini", "--", *json.loads(cmd)]
    assert hc.role_of(default) == "webserver" and hc.port_of(default, "webserver") == 3000
    daemon = ["/usr/bin/tini", "--", "dagster-daemon", "run", "-w", "/x/workspace.yaml"]
    assert hc.role_of(daemon) == "daemon"
    code = ["tini", "--", "dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4100"]
    assert hc.role_of(code) == "code-server" and hc.port_of(code, "code-server") == 4100
    assert hc.port_of(["dagster", "code-server", "start", "--port=4200"], "code-server") == 4200
    assert hc.role_of(["python", "-m", "http.server"]) is None
    assert hc.main(["nonsense"]) == 1
