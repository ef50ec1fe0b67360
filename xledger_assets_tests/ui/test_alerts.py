"""The run-failure alert against a real webhook server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from xledger_assets.alerts import (
    ALERT_SENSOR_NAME,
    UI_URL_VARIABLE,
    WEBHOOK_VARIABLE,
    build_failure_alert_sensor,
    failure_text,
    post_alert,
)
from xledger_assets.assets.api import build_api_asset
from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.redact import register_secret
from xledger_assets_tests.conftest import Product

HOOK_PATH = "/webhookb2/abc/IncomingWebhook/s3cr3t-hook-key"


class Webhook:
    """Records every POST body; answers ``status``."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.paths: list[str] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.paths.append(self.path)
                hook.posts.append(json.loads(body))
                self.send_response(hook.status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"1" if hook.status == 200 else b"no such hook")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}{HOOK_PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Webhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    with Webhook() as hook:
        yield hook


def _failed_run(product: Product, instance: dg.DagsterInstance, mode: str = "auto"):
    d = DEFAULT_CATALOG.api_dataset("timesheets")
    result = dg.materialize(
        [build_api_asset(d)],
        resources=product.resources(),
        run_config={"ops": {d.name: {"config": {"mode": mode}}}},
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    return result


def _context(result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance):
    return dg.build_run_status_sensor_context(
        sensor_name=ALERT_SENSOR_NAME,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure()


@pytest.mark.parametrize("lake_env", ["local"], indirect=True)
def test_a_failed_run_posts_a_short_redacted_message(
    product: Product, webhook: Webhook, monkeypatch
):
    token = "very-secret-token-0xdeadbeef"
    register_secret(token)
    product.sandbox.sandbox.set_token("the-new-token")  # the configured token is refused now
    monkeypatch.setenv("XLEDGER_API_TOKEN", token)
    instance = dg.DagsterInstance.ephemeral()
    result = _failed_run(product, instance)
    sensor = build_failure_alert_sensor(
        "prod",
        dg.DefaultSensorStatus.RUNNING,
        environ={WEBHOOK_VARIABLE: webhook.url, UI_URL_VARIABLE: "https://dagster.example/"},
    )
    assert sensor.name == ALERT_SENSOR_NAME
    sensor(_context(result, instance))
    assert webhook.paths == [HOOK_PATH]
    [post] = webhook.posts
    assert list(post) == ["text"]
    text = post["text"]
    lines = text.splitlines()
    assert lines[0] == f"Xledger sync (prod): run {result.run_id[:8]} failed: timesheets."
    assert "Xledger refused the API token" in text
    assert lines[-1] == f"https://dagster.example/runs/{result.run_id}"
    assert token not in text and "***" not in lines[0]
    assert len(text) < 1200


def test_failure_text_is_redacted_and_short():
    register_secret("tok-abcdef-123456")
    text = failure_text(
        env="dev",
        job="timesheets_full_resync",
        run_id="0123456789abcdef",
        assets=[],
        errors=["x" * 5000, "token tok-abcdef-123456 refused", "x" * 5000],
    )
    first = "Xledger sync (dev): run 01234567 of timesheets_full_resync failed."
    assert text.splitlines()[0] == first
    assert "tok-abcdef-123456" not in text and "token *** refused" in text
    assert len(text) < 1400


def test_a_failing_webhook_is_reported_without_its_url(webhook: Webhook):
    webhook.status = 404
    with pytest.raises(RuntimeError) as err:
        post_alert(webhook.url, "hello")
    assert "answered HTTP 404" in str(err.value)
    assert "s3cr3t-hook-key" not in str(err.value)
    assert webhook.posts == [{"text": "hello"}]


@pytest.mark.parametrize("lake_env", ["local"], indirect=True)
def test_without_a_webhook_it_only_logs(product: Product, webhook: Webhook):
    instance = dg.DagsterInstance.ephemeral()
    product.sandbox.sandbox.set_token("another-token")
    result = _failed_run(product, instance)
    sensor = build_failure_alert_sensor("local", dg.DefaultSensorStatus.STOPPED, environ={})
    sensor(_context(result, instance))
    assert webhook.posts == []
