"""A lake in Azure Data Lake Storage Gen2 (``XLEDGER_LAKE_URL=abfs[s]://<container>@<account>
.dfs.core.windows.net[/prefix]``), written and read through the **Blob API**.

Why the Blob API (``azure-storage-blob``) and not the DFS API (``azure-storage-file-datalake``):
ADLS Gen2 serves the same files through both, but Azurite, the local emulator the tests and
``make demo`` use, has no DFS endpoint (``create_file``, ``append_data``, ``get_paths`` and
renames all fail there with HTTP 400). The Blob API works on Azurite and on real ADLS Gen2 alike,
and it has what the lake needs: conditional writes.

Publishing is atomic and never overwrites. A blob only becomes visible (listed, readable) when
it is committed: the staged file is uploaded as blocks (``stage_block``, 8 MiB each, streamed
from the staged local file so memory stays bounded), then committed with ``commit_block_list``
under ``If-None-Match: *`` (``match_condition=MatchConditions.IfMissing``). If the name exists
the service refuses the commit and the existing file stays as it was. Uncommitted blocks are
never listed and are dropped by the service after a week; those of a run that died do not get in
the way of the next attempt (its block ids have the same length, a service requirement, and the
commit names only its own blocks). Small files take the same path: a single conditional Put Blob
is refused by Azurite when uncommitted blocks of a died run exist under the name.

Credentials, in this order:

1. ``AZURE_STORAGE_CONNECTION_STRING``: its ``BlobEndpoint`` (or account name and endpoint
   suffix) and key or SAS are used, not the host of ``XLEDGER_LAKE_URL``. This is how Azurite is
   reached (``BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1``).
2. ``AZURE_STORAGE_ACCOUNT_KEY`` or ``AZURE_STORAGE_SAS_TOKEN`` with the URL's account.
3. ``DefaultAzureCredential`` (managed identity in Azure, ``az login`` on a laptop); the identity
   needs the *Storage Blob Data Contributor* role on the container.

Only the emulator (a connection string pointing at 127.0.0.1/localhost or at the account
``devstoreaccount1``) creates a missing container; in Azure a missing container is a
configuration error (it belongs to the infrastructure, with its access rules).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import (
    BlobBlock,
    BlobServiceClient,
    ContainerClient,
    ContentSettings,
    ExponentialRetry,
)

from xledger_assets.errors import ConfigurationError, LakeError, LakeFileExistsError
from xledger_assets.lake.base import Lake
from xledger_assets.lake.naming import LakeFile
from xledger_assets.redact import redact, register_secret
from xledger_assets.sync.checkpoints import checkpoint

#: Size of one uploaded block (memory per upload is about one block).
BLOCK_SIZE = 8 * 1024 * 1024
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"

#: Network behaviour: an unreachable endpoint fails within seconds, not after minutes of the
#: SDK's default retries (15 s initial backoff, 20 s connect timeout).
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 60
RETRY_TOTAL = 3
RETRY_CONNECT = 1

EMULATOR_ACCOUNT = "devstoreaccount1"
STORAGE_SCOPE = "https://storage.azure.com/.default"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_URL = re.compile(r"(?P<scheme>abfss?)://(?P<container>[^@/]*)@(?P<host>[^/?#]+)(?P<path>/[^?#]*)?")
_HOST = re.compile(r"(?P<account>[a-z0-9]{3,24})\.(?P<service>dfs|blob)\.(?P<suffix>[a-z0-9.-]+)")
_CONTAINER = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
_SAS_SIGNATURE = re.compile(r"(?i)(sig=)[^&\s\"']+")


@dataclass(frozen=True)
class AbfsLocation:
    """The parts of an ``abfs[s]://container@account.dfs.<suffix>/prefix`` URL."""

    scheme: str  # "abfs" or "abfss"
    container: str
    account: str
    host: str  # account.dfs.core.windows.net (lower case)
    endpoint_suffix: str  # core.windows.net
    prefix: str  # "" or "a/b" (no leading or trailing slash)

    @property
    def url(self) -> str:
        base = f"{self.scheme}://{self.container}@{self.host}"
        return f"{base}/{self.prefix}" if self.prefix else base

    @property
    def blob_endpoint(self) -> str:
        return f"https://{self.account}.blob.{self.endpoint_suffix}"

    def blob_name(self, relative_path: str) -> str:
        return f"{self.prefix}/{relative_path}" if self.prefix else relative_path

    def folder(self, dataset: str) -> str:
        return self.blob_name(f"{dataset}/")


def parse_abfs_url(url: str) -> AbfsLocation:
    """Split ``XLEDGER_LAKE_URL``; ConfigurationError naming it when it is malformed."""
    expected = "abfs://<container>@<account>.dfs.core.windows.net[/prefix]"
    m = _URL.fullmatch(url.strip())
    if not m:
        raise ConfigurationError(f"XLEDGER_LAKE_URL={url!r} is not of the form {expected}")
    container = m.group("container")
    host = m.group("host").lower()
    h = _HOST.fullmatch(host)
    if not h:
        raise ConfigurationError(
            f"XLEDGER_LAKE_URL={url!r}: the host {host!r} is not <account>.dfs.<suffix> "
            f"(expected {expected})"
        )
    if not _CONTAINER.fullmatch(container):
        raise ConfigurationError(
            f"XLEDGER_LAKE_URL={url!r}: {container!r} is not a valid container name (3-63 "
            "lower-case letters, digits and single hyphens)"
        )
    parts = [p for p in (m.group("path") or "").split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise ConfigurationError(f"XLEDGER_LAKE_URL={url!r}: the path may not contain . or ..")
    return AbfsLocation(
        scheme=m.group("scheme"),
        container=container,
        account=h.group("account"),
        host=host,
        endpoint_suffix=h.group("suffix"),
        prefix="/".join(parts),
    )


def parse_connection_string(connection_string: str) -> dict[str, str]:
    """``Key=Value;...`` as a dict with lower-cased keys (values may contain ``=``)."""
    parts: dict[str, str] = {}
    for item in connection_string.split(";"):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            parts[key.strip().lower()] = value.strip()
    return parts


def is_emulator_connection_string(connection_string: str | None) -> bool:
    """Whether a storage connection string points at a local emulator (Azurite).

    True for ``UseDevelopmentStorage=true``, for the emulator account ``devstoreaccount1`` and for
    a ``BlobEndpoint`` on a loopback host. Without a connection string the lake is in Azure.
    """
    if not connection_string:
        return False
    parts = parse_connection_string(connection_string)
    if parts.get("usedevelopmentstorage", "").lower() == "true":
        return True
    if parts.get("accountname") == EMULATOR_ACCOUNT:
        return True
    endpoint = parts.get("blobendpoint")
    if endpoint:
        try:
            host = urlsplit(endpoint).hostname
        except ValueError:
            return False
        return host is not None and host.lower() in _LOOPBACK_HOSTS
    return False


def _client_options() -> dict[str, Any]:
    return {
        "retry_policy": ExponentialRetry(
            initial_backoff=1,
            increment_base=2,
            retry_total=RETRY_TOTAL,
            random_jitter_range=1,
            retry_connect=RETRY_CONNECT,
        ),
        "connection_timeout": CONNECT_TIMEOUT_SECONDS,
        "read_timeout": READ_TIMEOUT_SECONDS,
    }


@dataclass(frozen=True)
class _Connection:
    service: BlobServiceClient
    endpoint: str  # shown in messages; never holds a secret
    emulator: bool
    credential_source: str  # which variable or mechanism supplied the credential
    token_credential: Any = None  # DefaultAzureCredential, when that is what is used


def connect(location: AbfsLocation, env: Mapping[str, str]) -> _Connection:
    """The Blob service client for a lake location, with credentials from ``env``."""
    conn_str = (env.get("AZURE_STORAGE_CONNECTION_STRING") or "").strip()
    if conn_str:
        parts = parse_connection_string(conn_str)
        for secret_key in ("accountkey", "sharedaccesssignature"):
            register_secret(parts.get(secret_key))
        account = parts.get("accountname")
        if account and account.lower() != location.account:
            raise ConfigurationError(
                f"XLEDGER_LAKE_URL names the storage account {location.account!r} but "
                f"AZURE_STORAGE_CONNECTION_STRING is for the account {account!r}; make them agree"
            )
        try:
            service = BlobServiceClient.from_connection_string(conn_str, **_client_options())
        except (ValueError, AzureError):
            raise ConfigurationError(
                "AZURE_STORAGE_CONNECTION_STRING is not a valid storage connection string "
                "(expected DefaultEndpointsProtocol=...;AccountName=...;AccountKey=...;"
                "BlobEndpoint=...)"
            ) from None
        endpoint = parts.get("blobendpoint") or service.url
        return _Connection(
            service,
            endpoint.rstrip("/"),
            is_emulator_connection_string(conn_str),
            "AZURE_STORAGE_CONNECTION_STRING",
        )
    options = _client_options()
    key = (env.get("AZURE_STORAGE_ACCOUNT_KEY") or "").strip()
    sas = (env.get("AZURE_STORAGE_SAS_TOKEN") or "").strip().lstrip("?")
    credential: Any
    if key:
        register_secret(key)
        credential = {"account_name": location.account, "account_key": key}
        source = "AZURE_STORAGE_ACCOUNT_KEY"
    elif sas:
        register_secret(sas)
        from azure.core.credentials import AzureSasCredential

        credential = AzureSasCredential(sas)
        source = "AZURE_STORAGE_SAS_TOKEN"
    else:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
        source = "DefaultAzureCredential"
    service = BlobServiceClient(location.blob_endpoint, credential=credential, **options)
    token = credential if source == "DefaultAzureCredential" else None
    return _Connection(service, location.blob_endpoint, False, source, token)


class AzureLake(Lake):
    """The lake in one container (and optional folder prefix) of a storage account."""

    def __init__(self, url: str, *, env: Mapping[str, str] | None = None) -> None:
        self.location = parse_abfs_url(url)
        self.url = self.location.url
        self._connection = connect(self.location, os.environ if env is None else env)
        self._container: ContainerClient = self._connection.service.get_container_client(
            self.location.container
        )
        self._container_ready = False
        self._ready_lock = threading.Lock()

    @property
    def is_emulator(self) -> bool:
        return self._connection.emulator

    # -- Lake ----------------------------------------------------------------------------------

    def list_files(self, dataset: str) -> list[LakeFile]:
        self._ensure_container()
        folder = self.location.folder(dataset)
        files: list[LakeFile] = []
        try:
            for name in self._container.list_blob_names(name_starts_with=folder):
                rest = name[len(folder) :]
                if "/" in rest:
                    continue
                parsed = LakeFile.parse(dataset, rest)
                if parsed is not None:
                    files.append(parsed)
        except AzureError as exc:
            raise self._error(exc, f"listing {self._display(folder)}") from None
        return sorted(files)

    def publish(self, staged: Path, file: LakeFile) -> None:
        self._ensure_container()
        name = self.location.blob_name(file.relative_path)
        blob = self._container.get_blob_client(name)
        exists_message = f"{self.uri(file)} already exists; lake files are never overwritten"
        try:
            if blob.exists():
                raise LakeFileExistsError(exists_message)
            with open(staged, "rb") as fh:
                blocks, md5 = self._stage_blocks(blob, fh)
            try:
                blob.commit_block_list(
                    blocks,
                    content_settings=ContentSettings(
                        content_type=PARQUET_CONTENT_TYPE, content_md5=bytearray(md5)
                    ),
                    # If-None-Match: * (the SDK adds the "*"): refused when the name exists.
                    match_condition=MatchConditions.IfMissing,
                )
            except (ResourceExistsError, ResourceModifiedError):
                raise LakeFileExistsError(exists_message) from None
            except HttpResponseError as exc:
                if exc.status_code in (409, 412):
                    raise LakeFileExistsError(exists_message) from None
                raise
        except AzureError as exc:
            raise self._error(exc, f"writing {self.uri(file)}") from None
        except OSError as exc:
            raise LakeError(f"cannot read the staged file {staged}: {exc.strerror}") from None
        staged.unlink(missing_ok=True)

    def _stage_blocks(self, blob: Any, fh: Any) -> tuple[list[BlobBlock], bytes]:
        """Upload the file as uncommitted blocks (invisible until committed); the block list
        and the file's MD5."""
        upload_id = uuid.uuid4().hex  # blocks of concurrent uploads to one name never mix
        digest = hashlib.md5(usedforsecurity=False)
        blocks: list[BlobBlock] = []
        for index, chunk in enumerate(_chunks(fh, BLOCK_SIZE)):
            block_id = base64.b64encode(f"{upload_id}-{index:08d}".encode()).decode()
            blob.stage_block(block_id, chunk, length=len(chunk), validate_content=True)
            checkpoint("lake.block_staged")
            digest.update(chunk)
            blocks.append(BlobBlock(block_id=block_id))
        return blocks, digest.digest()

    def read_table(self, file: LakeFile) -> pa.Table:
        self._ensure_container()
        name = self.location.blob_name(file.relative_path)
        try:
            data = self._container.get_blob_client(name).download_blob(max_concurrency=1).readall()
        except ResourceNotFoundError:
            raise LakeError(f"{self.uri(file)} does not exist") from None
        except AzureError as exc:
            raise self._error(exc, f"reading {self.uri(file)}") from None
        # Parse from memory: handing pyarrow a Python file object can abort the interpreter at
        # exit (pyarrow 26).
        return pq.read_table(pa.BufferReader(data))

    def uri(self, file: LakeFile) -> str:
        return self._display(self.location.blob_name(file.relative_path))

    # -- helpers -------------------------------------------------------------------------------

    def _display(self, blob_name: str) -> str:
        loc = self.location
        return f"{loc.scheme}://{loc.container}@{loc.host}/{blob_name}"

    def _ensure_container(self) -> None:
        """Check once per lake that the container exists (the emulator creates it)."""
        if self._container_ready:
            return
        with self._ready_lock:
            if self._container_ready:
                return
            self._check_identity()
            try:
                self._container.get_container_properties()
            except ResourceNotFoundError:
                if not self.is_emulator:
                    raise LakeError(self._missing_container_message()) from None
                try:
                    self._container.create_container()
                except ResourceExistsError:
                    pass
                except AzureError as exc:
                    raise self._error(exc, "creating the container") from None
            except AzureError as exc:
                raise self._error(exc, "opening the container") from None
            self._container_ready = True

    def _check_identity(self) -> None:
        """Get the identity's token once up front: without an identity this fails at once
        with a plain message, instead of after the storage client's retries."""
        credential = self._connection.token_credential
        if credential is None:
            return
        try:
            credential.get_token(STORAGE_SCOPE)
        except ClientAuthenticationError as exc:
            raise LakeError(
                f"could not get a token of DefaultAzureCredential for Azure Storage "
                f"(XLEDGER_LAKE_URL={self.url}): {_short(exc).rstrip('.')}; use a managed "
                "identity or `az login`, or set AZURE_STORAGE_CONNECTION_STRING"
            ) from None

    def _missing_container_message(self) -> str:
        loc = self.location
        return (
            f"the container {loc.container!r} does not exist in the storage account "
            f"{loc.account!r} (XLEDGER_LAKE_URL={self.url}); create it (it is part of the "
            "infrastructure) or fix XLEDGER_LAKE_URL"
        )

    def _error(self, exc: Exception, action: str) -> LakeError:
        where = f"(XLEDGER_LAKE_URL={self.url}, endpoint {self._connection.endpoint})"
        source = self._connection.credential_source
        if isinstance(exc, ClientAuthenticationError):
            return LakeError(
                f"Azure Storage refused the credentials from {source} while {action} {where}: "
                f"{_short(exc)}"
            )
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
            return LakeError(
                f"cannot reach Azure Storage while {action} {where}: {_short(exc)}; check "
                "XLEDGER_LAKE_URL and the network"
            )
        if isinstance(exc, HttpResponseError):
            code = getattr(exc, "error_code", None) or ""
            if code == "ContainerNotFound":
                return LakeError(self._missing_container_message())
            if exc.status_code == 403:
                return LakeError(
                    f"Azure Storage refused access (HTTP 403 {code}) while {action} {where}: "
                    f"check the credentials from {source} and that the identity has the Storage "
                    "Blob Data Contributor role on the container"
                )
            return LakeError(
                f"Azure Storage answered HTTP {exc.status_code} {code} while {action} {where}"
            )
        return LakeError(f"Azure Storage failed while {action} {where}: {_short(exc)}")


def _chunks(fh: Any, size: int) -> Iterator[bytes]:
    while chunk := fh.read(size):
        yield chunk


def _short(exc: BaseException) -> str:
    """The first line of an SDK error, without SAS signatures or registered secrets."""
    text = str(getattr(exc, "message", None) or exc or type(exc).__name__)
    line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return redact(_SAS_SIGNATURE.sub(r"\1***", line))[:300]
