"""The ADLS Gen2 lake through the Blob API, against a real Azurite on 127.0.0.1."""

from __future__ import annotations

import base64
import socket
import time
import uuid
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from azure.core.exceptions import ServiceRequestError
from azure.storage.blob import BlobClient, BlobServiceClient

import xledger_assets.lake.azure as azure_lake
from xledger_assets.errors import ConfigurationError, LakeError, LakeFileExistsError
from xledger_assets.lake import open_lake
from xledger_assets.lake.azure import (
    AzureLake,
    is_emulator_connection_string,
    parse_abfs_url,
)
from xledger_assets.lake.current import current_state
from xledger_assets.lake.naming import LakeFile
from xledger_assets_tests.azurite import ACCOUNT_KEY, Azurite

SCHEMA = pa.schema([("dbId", pa.int64()), ("x", pa.string()), ("mutationType", pa.string())])


def _lake(env: dict[str, str]) -> AzureLake:
    lake = AzureLake(env["XLEDGER_LAKE_URL"], env=env)
    return lake


def _stage(lake: AzureLake, rows: list[dict], dataset: str = "d") -> Path:
    staged = lake.new_staging_path(dataset)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), staged)
    return staged


def _file(kind: str, second: int, dataset: str = "d") -> LakeFile:
    return LakeFile.new(dataset, kind, datetime(2024, 7, 11, 21, 17, second))  # type: ignore[arg-type]


def _blob(lake: AzureLake, file: LakeFile) -> BlobClient:
    return lake._container.get_blob_client(lake.location.blob_name(file.relative_path))


def test_publish_list_read_round_trip(azurite: Azurite):
    env = azurite.lake_env(prefix="raw/xledger")
    lake = _lake(env)
    assert lake.list_files("d") == []
    full = _file("full_sync", 9)
    changes = _file("sync_changes", 10)
    rows = [{"dbId": 1, "x": "a", "mutationType": "ADDED"}]
    staged = _stage(lake, rows)
    lake.publish(staged, full)
    assert not staged.exists()  # the staged copy is removed once published
    lake.publish(_stage(lake, [{"dbId": 1, "x": "b", "mutationType": "UPDATED"}]), changes)
    assert lake.list_files("d") == [full, changes]
    assert lake.list_files("other") == []
    assert lake.read_table(full).to_pylist() == rows
    assert lake.uri(full) == (f"{env['XLEDGER_LAKE_URL']}/d/full_sync-20240711_21_17_09-d.parquet")
    assert lake.uri(full).startswith("abfs://lake-")
    props = _blob(lake, full).get_blob_properties()
    assert props.name == "raw/xledger/d/full_sync-20240711_21_17_09-d.parquet"
    assert props.content_settings.content_type == "application/vnd.apache.parquet"


def test_open_lake_uses_the_environment(azurite_lake_env: dict[str, str], monkeypatch):
    for name, value in azurite_lake_env.items():
        monkeypatch.setenv(name, value)
    lake = open_lake(azurite_lake_env["XLEDGER_LAKE_URL"])
    assert isinstance(lake, AzureLake)
    assert lake.url == azurite_lake_env["XLEDGER_LAKE_URL"]
    assert lake.is_emulator
    f = _file("full_sync", 1)
    lake.publish(_stage(lake, []), f)
    assert lake.list_files("d") == [f]


def test_foreign_and_nested_blobs_are_not_listed(azurite: Azurite):
    lake = _lake(azurite.lake_env())
    f = _file("full_sync", 1)
    lake.publish(_stage(lake, []), f)
    container = lake._container
    container.upload_blob("d/notes.txt", b"x")
    container.upload_blob("d/sub/full_sync-20240711_21_17_02-d.parquet", b"x")
    container.upload_blob("d/full_sync-20240711_21_17_03-other.parquet", b"x")
    container.upload_blob("dd/full_sync-20240711_21_17_04-dd.parquet", b"x")
    assert lake.list_files("d") == [f]


def test_an_existing_name_is_never_overwritten(azurite: Azurite):
    lake = _lake(azurite.lake_env())
    f = _file("full_sync", 1)
    lake.publish(_stage(lake, [{"dbId": 1, "x": "original", "mutationType": "ADDED"}]), f)
    original = _blob(lake, f).download_blob().readall()
    staged = _stage(lake, [{"dbId": 2, "x": "intruder", "mutationType": "ADDED"}])
    with pytest.raises(LakeFileExistsError) as info:
        lake.publish(staged, f)
    assert str(info.value) == (f"{lake.uri(f)} already exists; lake files are never overwritten")
    assert _blob(lake, f).download_blob().readall() == original
    assert lake.read_table(f).column("x").to_pylist() == ["original"]
    assert staged.exists()  # the caller still owns (and discards) its staged file


@pytest.mark.parametrize("block_size", [azure_lake.BLOCK_SIZE, 1024])
def test_the_conditional_write_itself_refuses_an_existing_name(
    azurite: Azurite, monkeypatch, block_size: int
):
    """Even when the existence pre-check is raced (it says free), the write is conditional:
    a single Put Blob (small file) and the block-list commit (large file) both refuse."""
    lake = _lake(azurite.lake_env())
    f = _file("full_sync", 1)
    lake.publish(_stage(lake, [{"dbId": 1, "x": "original", "mutationType": "ADDED"}]), f)
    original = _blob(lake, f).download_blob().readall()
    monkeypatch.setattr(azure_lake, "BLOCK_SIZE", block_size)
    monkeypatch.setattr(BlobClient, "exists", lambda self, **kw: False)
    big = [{"dbId": i, "x": f"row {i}", "mutationType": "ADDED"} for i in range(3000)]
    staged = _stage(lake, big)
    assert (staged.stat().st_size > block_size) == (block_size == 1024)
    with pytest.raises(
        LakeFileExistsError, match="already exists; lake files are never overwritten"
    ):
        lake.publish(staged, f)
    assert _blob(lake, f).download_blob().readall() == original


def test_large_files_are_uploaded_in_blocks_and_appear_whole(azurite: Azurite, monkeypatch):
    lake = _lake(azurite.lake_env())
    monkeypatch.setattr(azure_lake, "BLOCK_SIZE", 4096)
    rows = [{"dbId": i, "x": f"value {i}" * 3, "mutationType": "ADDED"} for i in range(5000)]
    staged = _stage(lake, rows)
    data = staged.read_bytes()
    f = _file("full_sync", 1)
    lake.publish(staged, f)
    blob = _blob(lake, f)
    committed, uncommitted = blob.get_block_list("all")
    assert len(committed) == -(-len(data) // 4096) and len(committed) > 10
    assert uncommitted == []
    assert blob.download_blob().readall() == data
    assert lake.read_table(f).to_pylist() == rows


def test_a_partially_staged_upload_is_not_listed(azurite: Azurite, monkeypatch):
    lake = _lake(azurite.lake_env())
    f = _file("full_sync", 1)
    assert lake.list_files("d") == []  # (creates the emulator's container)
    # Blocks staged under the final name but never committed (an earlier run that died; block
    # ids of one blob must all have the same length, as this module's ids do).
    block_id = base64.b64encode(f"{uuid.uuid4().hex}-{0:08d}".encode()).decode()
    _blob(lake, f).stage_block(block_id, b"partial parquet bytes")
    assert lake.list_files("d") == []
    with pytest.raises(LakeError, match="does not exist"):
        lake.read_table(f)

    # A block upload that fails half way leaves nothing under the final name either.
    monkeypatch.setattr(azure_lake, "BLOCK_SIZE", 1024)
    real_stage_block = BlobClient.stage_block
    calls = []

    def failing_stage_block(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise ServiceRequestError("connection reset by peer")
        return real_stage_block(self, *args, **kwargs)

    monkeypatch.setattr(BlobClient, "stage_block", failing_stage_block)
    rows = [{"dbId": i, "x": str(i), "mutationType": "ADDED"} for i in range(3000)]
    with pytest.raises(LakeError, match="cannot reach Azure Storage while writing"):
        lake.publish(_stage(lake, rows), f)
    assert lake.list_files("d") == []
    monkeypatch.undo()

    # The name is still free: a complete publish works and shows only its own data.
    lake.publish(_stage(lake, [{"dbId": 7, "x": "whole", "mutationType": "ADDED"}]), f)
    assert lake.list_files("d") == [f]
    assert lake.read_table(f).to_pylist() == [{"dbId": 7, "x": "whole", "mutationType": "ADDED"}]


def test_current_state_is_rebuilt_from_azurite(azurite: Azurite):
    lake = _lake(azurite.lake_env(prefix="p"))
    lake.publish(
        _stage(lake, [{"dbId": 1, "x": "old", "mutationType": "ADDED"}]), _file("full_sync", 1)
    )
    lake.publish(
        _stage(
            lake,
            [
                {"dbId": 1, "x": "a", "mutationType": "ADDED"},
                {"dbId": 2, "x": "b", "mutationType": "ADDED"},
                {"dbId": 3, "x": "c", "mutationType": "ADDED"},
            ],
        ),
        _file("full_sync", 2),
    )
    lake.publish(
        _stage(
            lake,
            [
                {"dbId": 2, "x": None, "mutationType": "DELETED"},
                {"dbId": 4, "x": "d", "mutationType": "ADDED"},
            ],
        ),
        _file("sync_changes", 3),
    )
    lake.publish(
        _stage(lake, [{"dbId": 4, "x": "d2", "mutationType": "UPDATED"}]), _file("sync_changes", 4)
    )
    table = current_state(lake, "d")
    assert table is not None
    assert table.to_pylist() == [
        {"dbId": 1, "x": "a", "mutationType": "ADDED"},
        {"dbId": 3, "x": "c", "mutationType": "ADDED"},
        {"dbId": 4, "x": "d2", "mutationType": "UPDATED"},
    ]
    assert current_state(lake, "empty") is None


def test_the_emulator_creates_a_missing_container(azurite: Azurite):
    env = azurite.lake_env()
    container = parse_abfs_url(env["XLEDGER_LAKE_URL"]).container
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    assert not service.get_container_client(container).exists()
    lake = _lake(env)
    assert lake.list_files("d") == []
    assert service.get_container_client(container).exists()


def test_a_missing_container_in_azure_is_a_clear_error(azurite: Azurite):
    env = azurite.lake_env()
    lake = _lake(env)
    # The same real 404 from the service, but classified as Azure (not the emulator).
    lake._connection = replace(lake._connection, emulator=False)
    with pytest.raises(LakeError) as info:
        lake.list_files("d")
    container = parse_abfs_url(env["XLEDGER_LAKE_URL"]).container
    assert str(info.value) == (
        f"the container {container!r} does not exist in the storage account 'devstoreaccount1' "
        f"(XLEDGER_LAKE_URL={env['XLEDGER_LAKE_URL']}); create it (it is part of the "
        "infrastructure) or fix XLEDGER_LAKE_URL"
    )
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    assert not service.get_container_client(container).exists()


def test_emulator_classification():
    key = f"AccountKey={ACCOUNT_KEY};"
    assert is_emulator_connection_string("UseDevelopmentStorage=true")
    assert is_emulator_connection_string(
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;{key}"
    )
    assert is_emulator_connection_string(
        f"AccountName=lake;{key}BlobEndpoint=http://127.0.0.1:10000/lake;"
    )
    assert is_emulator_connection_string(
        f"AccountName=lake;{key}BlobEndpoint=http://localhost:10000/lake"
    )
    assert not is_emulator_connection_string(
        f"DefaultEndpointsProtocol=https;AccountName=prodlake;{key}EndpointSuffix=core.windows.net"
    )
    assert not is_emulator_connection_string(
        f"AccountName=prodlake;{key}BlobEndpoint=https://prodlake.blob.core.windows.net/"
    )
    assert not is_emulator_connection_string(None)
    assert not is_emulator_connection_string("")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_endpoint_fails_fast_naming_the_variable():
    port = _closed_port()
    url = "abfs://lake@devstoreaccount1.dfs.core.windows.net/x"
    env = {
        "XLEDGER_LAKE_URL": url,
        "AZURE_STORAGE_CONNECTION_STRING": (
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        ),
    }
    lake = AzureLake(url, env=env)
    started = time.monotonic()
    with pytest.raises(LakeError) as info:
        lake.list_files("d")
    elapsed = time.monotonic() - started
    assert elapsed < 10
    message = str(info.value)
    assert message.startswith("cannot reach Azure Storage while opening the container ")
    assert f"(XLEDGER_LAKE_URL={url}, endpoint http://127.0.0.1:{port}/devstoreaccount1)" in message
    assert ACCOUNT_KEY not in message


def test_a_wrong_key_is_refused_without_echoing_it(azurite: Azurite):
    wrong_key = base64.b64encode(
        b"not the azurite key, 64 bytes long.............................."
    ).decode()
    env = azurite.lake_env()
    env["AZURE_STORAGE_CONNECTION_STRING"] = env["AZURE_STORAGE_CONNECTION_STRING"].replace(
        ACCOUNT_KEY, wrong_key
    )
    lake = _lake(env)
    with pytest.raises(LakeError) as info:
        lake.list_files("d")
    message = str(info.value)
    assert "XLEDGER_LAKE_URL=" in message
    assert "HTTP 403" in message
    assert wrong_key not in message and ACCOUNT_KEY not in message


def test_url_parsing():
    loc = parse_abfs_url("abfss://raw@mylake.dfs.core.windows.net/xledger/prod/")
    assert (loc.scheme, loc.container, loc.account, loc.prefix) == (
        "abfss",
        "raw",
        "mylake",
        "xledger/prod",
    )
    assert loc.url == "abfss://raw@mylake.dfs.core.windows.net/xledger/prod"
    assert loc.blob_endpoint == "https://mylake.blob.core.windows.net"
    assert loc.blob_name("d/f.parquet") == "xledger/prod/d/f.parquet"
    bare = parse_abfs_url("abfs://raw@mylake.dfs.core.chinacloudapi.cn")
    assert (bare.prefix, bare.blob_endpoint) == ("", "https://mylake.blob.core.chinacloudapi.cn")
    assert bare.blob_name("d/f.parquet") == "d/f.parquet"
    for bad in (
        "abfs://mylake.dfs.core.windows.net/raw",  # no container
        "abfs://raw@mylake.example.com",  # not <account>.dfs.<suffix>
        "abfs://Raw_Data@mylake.dfs.core.windows.net",  # invalid container name
        "abfs://raw@mylake.dfs.core.windows.net/a/../b",
    ):
        with pytest.raises(ConfigurationError, match="XLEDGER_LAKE_URL"):
            parse_abfs_url(bad)
    with pytest.raises(ConfigurationError, match="use abfs://"):
        open_lake("az://raw/xledger")


def test_connection_string_for_another_account_is_refused(azurite: Azurite):
    env = {
        "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
    }
    with pytest.raises(ConfigurationError) as info:
        AzureLake("abfs://raw@prodlake.dfs.core.windows.net", env=env)
    assert str(info.value) == (
        "XLEDGER_LAKE_URL names the storage account 'prodlake' but "
        "AZURE_STORAGE_CONNECTION_STRING is for the account 'devstoreaccount1'; make them agree"
    )
    assert ACCOUNT_KEY not in str(info.value)


def test_credentials_without_a_connection_string():
    url = "abfs://raw@prodlake.dfs.core.windows.net/xledger"
    with_key = AzureLake(url, env={"AZURE_STORAGE_ACCOUNT_KEY": ACCOUNT_KEY})
    conn = with_key._connection
    assert (conn.credential_source, conn.endpoint, conn.emulator) == (
        "AZURE_STORAGE_ACCOUNT_KEY",
        "https://prodlake.blob.core.windows.net",
        False,
    )
    assert with_key._container.account_name == "prodlake"
    sas = AzureLake(url, env={"AZURE_STORAGE_SAS_TOKEN": "?sv=2024-01-01&sig=abc%2Fdef"})
    assert sas._connection.credential_source == "AZURE_STORAGE_SAS_TOKEN"
    identity = AzureLake(url, env={})
    assert identity._connection.credential_source == "DefaultAzureCredential"
    assert identity.url == url and not identity.is_emulator
    assert identity._container.url == "https://prodlake.blob.core.windows.net/raw"


class _NoIdentity:
    """A token credential that has no identity (as DefaultAzureCredential on a laptop without
    `az login`), so the test never reaches a real identity endpoint."""

    def get_token(self, *scopes, **kwargs):
        from azure.identity import CredentialUnavailableError

        raise CredentialUnavailableError(
            "DefaultAzureCredential failed to retrieve a token from the included credentials."
        )


def test_a_missing_identity_fails_at_once():
    url = "abfs://raw@prodlake.dfs.core.windows.net"
    lake = AzureLake(url, env={})
    lake._connection = replace(lake._connection, token_credential=_NoIdentity())
    started = time.monotonic()
    with pytest.raises(LakeError) as info:
        lake.list_files("d")
    assert time.monotonic() - started < 1
    assert str(info.value) == (
        f"could not get a token of DefaultAzureCredential for Azure Storage (XLEDGER_LAKE_URL="
        f"{url}): DefaultAzureCredential failed to retrieve a token from the included "
        "credentials; use a managed identity or `az login`, or set AZURE_STORAGE_CONNECTION_STRING"
    )
