"""checkov (offline, ``--skip-download``) over the Terraform, the Dockerfile and the pipeline, and
hadolint over the Dockerfile: zero failed checks. A check may only be skipped in the code, with
a written reason (test_infrastructure.py checks the reasons). Both tools live in their own
virtualenv (``.venv-checkov/<key>``): checkov's bc-python-hcl2 would replace python-hcl2's
module."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from xledger_assets_tests.deploy.conftest import REPO
from xledger_assets_tests.deploy.venvs import checkov_venv


@pytest.fixture(scope="module")
def tools() -> Path:
    return checkov_venv() / "bin"


def _checkov(tools: Path, *target: str, framework: str) -> list[dict]:
    done = subprocess.run(
        [
            str(tools / "checkov"),
            *target,
            "--framework",
            framework,
            "--skip-download",
            "--compact",
            "--quiet",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={"PATH": f"{tools}:/usr/bin:/bin", "HOME": str(REPO / ".venv-checkov")},
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]
    report = json.loads(done.stdout)
    return report if isinstance(report, list) else [report]


def _failures(reports: list[dict]) -> list[str]:
    return [
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range']}): "
        f"{c['check_name']}"
        for r in reports
        for c in r.get("results", {}).get("failed_checks", [])
    ]


def test_checkov_terraform_has_no_failed_check(tools: Path):
    reports = _checkov(tools, "--directory", "infrastructure", framework="terraform")
    [summary] = [r["summary"] for r in reports if r.get("check_type") == "terraform"]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= 20  # it really read the modules
    assert summary["passed"] > 0
    assert _failures(reports) == []


def test_checkov_dockerfile_and_pipeline_have_no_failed_check(tools: Path):
    dockerfile = _checkov(tools, "--file", "Dockerfile", framework="dockerfile")
    pipelines = _checkov(
        tools,
        "--file",
        "azure-pipelines.yml",
        *[a for p in sorted((REPO / "templates").glob("*.yml")) for a in ("--file", str(p))],
        framework="azure_pipelines",
    )
    for reports in (dockerfile, pipelines):
        assert sum(r["summary"]["passed"] for r in reports if "summary" in r) > 0
        assert _failures(reports) == []


def test_hadolint_accepts_the_dockerfile(tools: Path):
    done = subprocess.run(
        [str(tools / "hadolint"), "--no-color", "Dockerfile"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout + done.stderr
