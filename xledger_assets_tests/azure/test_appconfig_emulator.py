"""The App Configuration emulator: HMAC verification and the key-value REST subset, over real
HTTP (hand-made requests with httpx, and the real azure-appconfiguration SDK)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from azure.appconfiguration import AzureAppConfigurationClient, ConfigurationSetting
from azure.core import MatchConditions
from azure.core.exceptions import (
    ClientAuthenticationError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)

from xledger_assets.sandbox.appconfig import AppConfigEmulator, sign_request

from .conftest import CREDENTIAL_ID, SECRET

API = "api-version=2023-11-01"
KV_JSON = "application/vnd.microsoft.appconfig.kv+json"


def _send(
    emu: AppConfigEmulator,
    method: str,
    target: str,
    body: bytes = b"",
    *,
    sign_target: str | None = None,
    sign_body: bytes | None = None,
    secret: str = SECRET,
    credential_id: str = CREDENTIAL_ID,
    date: datetime | None = None,
    headers: dict[str, str] | None = None,
    signed: bool = True,
) -> httpx.Response:
    host = f"127.0.0.1:{emu.port}"
    all_headers = dict(headers or {})
    if signed:
        all_headers.update(
            sign_request(
                method,
                sign_target if sign_target is not None else target,
                host,
                sign_body if sign_body is not None else body,
                credential_id=credential_id,
                secret_b64=secret,
                date=date,
            )
        )
    if body:
        all_headers.setdefault("Content-Type", KV_JSON)
    return httpx.request(method, f"{emu.endpoint}{target}", content=body, headers=all_headers)


def test_a_correctly_signed_request_is_served(emulator: AppConfigEmulator):
    emulator.seed("k", "v", label="dev")
    r = _send(emulator, "GET", f"/kv/k?label=dev&{API}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(KV_JSON)
    doc = r.json()
    assert r.headers["etag"] == f'"{doc["etag"]}"'
    assert {k: doc[k] for k in ("key", "label", "value", "locked", "tags")} == {
        "key": "k",
        "label": "dev",
        "value": "v",
        "locked": False,
        "tags": {},
    }
    datetime.fromisoformat(doc["last_modified"])  # RFC 3339
    assert emulator.requests[-1].authenticated


@pytest.mark.parametrize(
    ("case", "detail"),
    [
        ("unsigned", "missing or unsupported Authorization header"),
        ("wrong secret", "invalid signature"),
        ("unknown id", "unknown credential"),
        ("tampered query", "invalid signature"),
        ("tampered body", "x-ms-content-sha256 does not match the body"),
        ("stale", "the request date is too old or in the future"),
        ("future", "the request date is too old or in the future"),
    ],
)
def test_bad_requests_are_refused_with_401(emulator: AppConfigEmulator, case: str, detail: str):
    emulator.seed("k", "original", label="dev")
    body = json.dumps({"value": "changed"}).encode()
    target = f"/kv/k?label=dev&{API}"
    kwargs: dict = {}
    if case == "unsigned":
        kwargs = {"signed": False}
    elif case == "wrong secret":
        kwargs = {"secret": "d3Jvbmctc2VjcmV0"}
    elif case == "unknown id":
        kwargs = {"credential_id": "someone-else"}
    elif case == "tampered query":
        kwargs = {"sign_target": f"/kv/k?label=prod&{API}"}
    elif case == "tampered body":
        kwargs = {"sign_body": json.dumps({"value": "harmless"}).encode()}
    elif case == "stale":
        kwargs = {"date": datetime.now(UTC) - timedelta(minutes=20)}
    elif case == "future":
        kwargs = {"date": datetime.now(UTC) + timedelta(minutes=20)}
    r = _send(emulator, "PUT", target, body, **kwargs)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("HMAC-SHA256")
    assert r.json()["detail"] == detail
    assert emulator.value("k", "dev") == "original"
    last = emulator.requests[-1]
    assert (last.method, last.status, last.authenticated, last.detail) == (
        "PUT",
        401,
        False,
        detail,
    )


def test_a_date_within_the_allowed_skew_is_accepted(emulator: AppConfigEmulator):
    r = _send(emulator, "GET", f"/kv/missing?{API}", date=datetime.now(UTC) - timedelta(minutes=10))
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


def test_preconditions(emulator: AppConfigEmulator):
    body = json.dumps({"value": "1", "content_type": "application/json"}).encode()
    create = _send(emulator, "PUT", f"/kv/k?label=dev&{API}", body, headers={"If-None-Match": "*"})
    assert create.status_code == 200
    etag = create.json()["etag"]
    again = _send(emulator, "PUT", f"/kv/k?label=dev&{API}", body, headers={"If-None-Match": "*"})
    assert again.status_code == 412
    wrong = _send(emulator, "PUT", f"/kv/k?label=dev&{API}", body, headers={"If-Match": '"nope"'})
    assert wrong.status_code == 412
    right = _send(
        emulator, "PUT", f"/kv/k?label=dev&{API}", body, headers={"If-Match": f'"{etag}"'}
    )
    assert right.status_code == 200
    new_etag = right.json()["etag"]
    assert new_etag != etag
    not_modified = _send(
        emulator, "GET", f"/kv/k?label=dev&{API}", headers={"If-None-Match": f'"{new_etag}"'}
    )
    assert not_modified.status_code == 304
    missing_if_match = _send(emulator, "PUT", f"/kv/other?{API}", body, headers={"If-Match": "*"})
    assert missing_if_match.status_code == 412
    stale_delete = _send(emulator, "DELETE", f"/kv/k?label=dev&{API}", headers={"If-Match": etag})
    assert stale_delete.status_code == 412
    delete = _send(emulator, "DELETE", f"/kv/k?label=dev&{API}", headers={"If-Match": new_etag})
    assert delete.status_code == 200 and delete.json()["value"] == "1"
    assert _send(emulator, "DELETE", f"/kv/k?label=dev&{API}").status_code == 204
    assert emulator.list_keys() == []


def test_locked_key_values_refuse_writes(emulator: AppConfigEmulator):
    emulator.seed("frozen", "v", locked=True)
    r = _send(emulator, "PUT", f"/kv/frozen?{API}", json.dumps({"value": "x"}).encode())
    assert r.status_code == 409
    assert emulator.value("frozen") == "v"


def test_api_version_is_required(emulator: AppConfigEmulator):
    assert _send(emulator, "GET", "/kv/k").status_code == 400


def test_the_real_sdk_against_the_emulator(emulator: AppConfigEmulator):
    client = AzureAppConfigurationClient.from_connection_string(emulator.connection_string)
    added = client.add_configuration_setting(
        ConfigurationSetting(
            key="a:b", label="dev", value='{"n":1}', content_type="application/json"
        )
    )
    assert (added.key, added.label, added.value, added.content_type) == (
        "a:b",
        "dev",
        '{"n":1}',
        "application/json",
    )
    assert added.last_modified is not None and added.etag
    with pytest.raises(ResourceExistsError):
        client.add_configuration_setting(ConfigurationSetting(key="a:b", label="dev", value="x"))
    updated = client.set_configuration_setting(
        ConfigurationSetting(key="a:b", label="dev", value="2"),
        match_condition=MatchConditions.IfNotModified,
        etag=added.etag,
    )
    with pytest.raises(ResourceModifiedError):
        client.set_configuration_setting(
            ConfigurationSetting(key="a:b", label="dev", value="3"),
            match_condition=MatchConditions.IfNotModified,
            etag=added.etag,
        )
    assert client.get_configuration_setting("a:b", label="dev").value == "2"
    with pytest.raises(ResourceNotFoundError):
        client.get_configuration_setting("a:b", label="prod")
    emulator.seed("plain", "no label")
    assert client.get_configuration_setting("plain").value == "no label"
    emulator.page_size = 2
    for i in range(5):
        emulator.seed(f"p:{i}", str(i), label="dev")
    listed = client.list_configuration_settings(key_filter="p:*", label_filter="dev")
    assert [(s.key, s.value) for s in listed] == [(f"p:{i}", str(i)) for i in range(5)]
    assert emulator.count("GET", path_prefix="/kv", status=200) >= 3  # paged via @nextLink
    exact = client.list_configuration_settings(key_filter="p:1,plain,a:b", label_filter="dev,\0")
    assert [(s.key, s.label) for s in exact] == [("a:b", "dev"), ("p:1", "dev"), ("plain", None)]
    deleted = client.delete_configuration_setting(
        "a:b", label="dev", etag=updated.etag, match_condition=MatchConditions.IfNotModified
    )
    assert deleted is not None and deleted.value == "2"
    assert emulator.get("a:b", "dev") is None


def test_the_sdk_with_a_wrong_secret_gets_401(emulator: AppConfigEmulator):
    bad = emulator.connection_string.replace(SECRET, "d3Jvbmctc2VjcmV0LXZhbHVl")
    client = AzureAppConfigurationClient.from_connection_string(bad)
    with pytest.raises(ClientAuthenticationError):
        client.get_configuration_setting("k")
    assert [(r.status, r.detail) for r in emulator.requests] == [(401, "invalid signature")]
