"""``azure-pipelines.yml`` and ``templates/``: they parse, the stages are Test -> Build -> DeployDev
-> (PlanProd) -> DeployProd, Azure is reached only through the `xledger` service connection,
each deploy stage uses its environment's variable group, prod is a deployment job on an
environment (where the approval lives), the plan is published, and no secret is inline."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from xledger_assets_tests.deploy.conftest import REPO
from xledger_assets_tests.deploy.secrets_scan import secret_findings, secret_findings_in_text

PIPELINE = REPO / "azure-pipelines.yml"
TEMPLATES = REPO / "templates"


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def stages() -> dict[str, dict[str, Any]]:
    return {s["stage"]: s for s in load(PIPELINE)["stages"]}


def steps_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    if "steps" in job:
        return job["steps"]
    return job["strategy"]["runOnce"]["deploy"]["steps"]


def expanded(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps with templates inlined (template expressions such as ${{ if }} flattened)."""
    out: list[dict[str, Any]] = []
    for step in steps:
        if "template" in step:
            template = load(TEMPLATES / Path(step["template"]).name)
            out += expanded(template["steps"])
        elif len(step) == 1 and next(iter(step)).startswith("${{"):
            out += expanded(next(iter(step.values())))
        else:
            out.append(step)
    return out


def job_steps(stage: str) -> list[dict[str, Any]]:
    return [s for job in stages()[stage]["jobs"] for s in expanded(steps_of(job))]


def groups(stage: str) -> list[str]:
    return [v["group"] for v in stages()[stage].get("variables", []) if "group" in v]


def test_every_pipeline_file_parses():
    assert isinstance(load(PIPELINE), dict)
    templates = sorted(TEMPLATES.glob("*.yml"))
    assert {p.name for p in templates} >= {"test.yml", "build-image.yml", "terraform.yml"}
    for path in templates:
        assert isinstance(load(path), dict), path


def test_stages_run_in_order():
    names = list(stages())
    assert names == ["Test", "Build", "DeployDev", "PlanProd", "DeployProd"]
    for before, after in itertools.pairwise(names):
        assert stages()[after]["dependsOn"] == before


def test_test_stage_runs_make_test():
    scripts = [s["script"] for s in job_steps("Test") if "script" in s]
    assert scripts == ["bash .ci/run"]
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_build_pushes_the_image_tagged_with_the_commit():
    [step] = [s for s in job_steps("Build") if s.get("task") == "AzureCLI@2"]
    script = step["inputs"]["inlineScript"]
    assert "docker build" in script and "docker push" in script
    build = stages()["Build"]["jobs"][0]["steps"][0]["parameters"]
    assert build["imageTag"] == "$(imageTag)"
    tag = next(v for v in load(PIPELINE)["variables"] if v.get("name") == "imageTag")
    assert tag["value"] == "$(Build.SourceVersion)"
    assert "main" in stages()["Build"]["condition"]  # pull requests only run Test


def test_azure_is_reached_through_the_xledger_service_connection():
    variables = {v["name"]: v["value"] for v in load(PIPELINE)["variables"] if "name" in v}
    assert variables["serviceConnection"] == "xledger"
    for stage in stages():
        for step in job_steps(stage):
            if step.get("task", "").startswith("AzureCLI"):
                assert step["inputs"]["azureSubscription"] == "${{ parameters.serviceConnection }}"
    for stage in ("Build", "DeployDev", "PlanProd", "DeployProd"):
        for job in stages()[stage]["jobs"]:
            for step in steps_of(job):
                if "template" in step and "parameters" in step:
                    assert step["parameters"]["serviceConnection"] == "$(serviceConnection)"


@pytest.mark.parametrize(
    ("stage", "env", "plan", "apply"),
    [
        ("DeployDev", "dev", True, True),
        ("PlanProd", "prod", True, False),
        ("DeployProd", "prod", False, True),
    ],
)
def test_deploy_stages_run_terraform_with_their_variable_group(
    stage: str, env: str, plan: bool, apply: bool
):
    assert groups(stage) == [f"xledger-{env}"]
    [job] = stages()[stage]["jobs"]
    [call] = [s for s in steps_of(job) if s.get("template") == "templates/terraform.yml"]
    params = call["parameters"]
    assert (params["environment"], params["plan"], params["apply"]) == (env, plan, apply)
    script = next(s for s in job_steps(stage) if s.get("task") == "AzureCLI@2")["inputs"]
    assert script["workingDirectory"] == "infrastructure/environments/${{ parameters.environment }}"
    text = script["inlineScript"]
    assert "terraform init" in text and "-backend-config=" in text
    assert "terraform plan" in text and "-out=tfplan" in text
    assert "terraform apply -input=false -lock-timeout=5m tfplan" in text  # the saved plan


def test_prod_is_a_deployment_on_an_environment_and_applies_the_published_plan():
    [dev] = stages()["DeployDev"]["jobs"]
    assert dev["environment"] == "xledger-dev"
    [prod] = stages()["DeployProd"]["jobs"]
    assert "deployment" in prod and prod["environment"] == "xledger-prod"
    steps = steps_of(prod)
    assert {"download": "current", "artifact": "terraform-plan-prod"} in steps
    [call] = [s for s in steps if s.get("template") == "templates/terraform.yml"]
    assert call["parameters"]["savedPlanDir"] == "$(Pipeline.Workspace)/terraform-plan-prod"
    published = [s for s in job_steps("PlanProd") if s.get("task") == "PublishPipelineArtifact@1"]
    assert [p["inputs"]["artifact"] for p in published] == [
        "terraform-plan-${{ parameters.environment }}"
    ]


def test_no_secret_inline():
    files = [PIPELINE, *sorted(TEMPLATES.glob("*.yml"))]
    assert [f for path in files for f in secret_findings(path)] == []
    for path in files:
        doc = load(path)
        for variable in doc.get("variables", []) if isinstance(doc, dict) else []:
            assert "isSecret" not in str(variable)


def test_the_secret_scan_finds_what_it_is_for():
    samples = {
        "AccountKey=Eby8vdM02xNOcqFlqUw": "connection string",
        "-----BEGIN RSA PRIVATE KEY-----": "private key",
        "url: https://www.xledger.net/Flex/1.xlsx?t=abcdef123456": "flexlink token",
        'password = "hunter2hunter2"': "literal password",
        "api_token: abcdEFGH1234ijklMNOP5678qrst": "random-looking",
    }
    for text, what in samples.items():
        assert any(what in f for f in secret_findings_in_text(text)), text
    harmless = "password: {env: DAGSTER_PG_PASSWORD}\nadministrator_password_wo = ephemeral.x.value"
    assert secret_findings_in_text(harmless) == []
