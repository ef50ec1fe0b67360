"""Alerts: a run-failure sensor that posts one short message to a chat webhook.

``XLEDGER_ALERT_WEBHOOK_URL`` (optional) is a Teams or Slack incoming-webhook URL; the sensor
posts ``{"text": "..."}`` to it for every failed run of this code location. Unset: the sensor
only logs. ``XLEDGER_UI_URL`` (optional) is the Dagster UI's address, for a link to the run.

The message never holds a secret: it goes through :func:`xledger_assets.redact.redact`, and the
webhook URL (itself a credential) is registered for redaction before anything can log it.
"""

import os
from collections.abc import Mapping, Sequence

import dagster as dg
import httpx

from xledger_assets.redact import redact, register_secret

ALERT_SENSOR_NAME = "xledger_run_failure_alert"
WEBHOOK_VARIABLE = "XLEDGER_ALERT_WEBHOOK_URL"
UI_URL_VARIABLE = "XLEDGER_UI_URL"
TIMEOUT_SECONDS = 10.0
MAX_ERROR_CHARS = 600


def _one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def failure_text(
    *,
    env: str,
    job: str,
    run_id: str,
    assets: Sequence[str],
    errors: Sequence[str],
    ui_url: str | None = None,
) -> str:
    """The alert: environment, what failed, the first error(s) and a link; redacted."""
    head = f"Xledger sync ({env}): run {run_id[:8]}"
    if not job.startswith("__"):  # not Dagster's implicit asset job
        head += f" of {job}"
    head += " failed" + (f": {', '.join(assets)}." if assets else ".")
    lines = [head]
    for error in list(dict.fromkeys(e for e in errors if e))[:3]:
        lines.append(_one_line(error))
    if ui_url:
        lines.append(f"{ui_url.rstrip('/')}/runs/{run_id}")
    return redact("\n".join(lines))


def post_alert(url: str, text: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
    """POST ``{"text": text}``; raises RuntimeError with a redacted message on failure."""
    register_secret(url)
    try:
        response = httpx.post(url, json={"text": text}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise RuntimeError(
            f"posting the alert to {WEBHOOK_VARIABLE} failed: {type(exc).__name__}"
        ) from None
    if response.status_code >= 300:
        raise RuntimeError(
            f"the webhook in {WEBHOOK_VARIABLE} answered HTTP {response.status_code}: "
            f"{redact(_one_line(response.text, 200))}"
        )


def _failures(context: dg.RunFailureSensorContext) -> tuple[list[str], list[str]]:
    """The failed steps (asset names for asset steps) and their error messages."""
    steps: list[str] = []
    errors: list[str] = []
    for event in context.get_step_failure_events():
        if event.step_key:
            steps.append(event.step_key)
        error = getattr(event.event_specific_data, "error", None)
        if error is not None and getattr(error, "message", None):
            errors.append(f"{event.step_key}: {error.message}")
    if not errors and context.failure_event.message:
        errors.append(context.failure_event.message)
    return steps, errors


def build_failure_alert_sensor(
    env: str,
    default_status: dg.DefaultSensorStatus,
    environ: Mapping[str, str] | None = None,
) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name=ALERT_SENSOR_NAME,
        default_status=default_status,
        minimum_interval_seconds=30,
        description=f"Posts a short message to the chat webhook in {WEBHOOK_VARIABLE} (Teams or "
        'Slack, JSON {"text": ...}) when a run of this code location fails. Without the '
        "variable it only logs.",
    )
    def xledger_run_failure_alert(context: dg.RunFailureSensorContext) -> None:
        source = os.environ if environ is None else environ
        run = context.dagster_run
        steps, errors = _failures(context)
        text = failure_text(
            env=env,
            job=run.job_name,
            run_id=run.run_id,
            assets=sorted(dict.fromkeys(steps)),
            errors=errors,
            ui_url=(source.get(UI_URL_VARIABLE) or "").strip() or None,
        )
        url = (source.get(WEBHOOK_VARIABLE) or "").strip()
        if not url:
            context.log.info(f"{WEBHOOK_VARIABLE} is not set; not posting: {text}")
            return
        register_secret(url)
        post_alert(url, text)
        context.log.info(f"posted the failure of run {run.run_id} to {WEBHOOK_VARIABLE}")

    return xledger_run_failure_alert
