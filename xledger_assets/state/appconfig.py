"""Sync state in Azure App Configuration (``XLEDGER_STATE_URL`` ``https://<store>.azconfig.io``
with an Azure identity, or a connection string ``Endpoint=...;Id=...;Secret=...``).

Layout, all under the label ``XLEDGER_ENV`` (``dev``, ``prod``, ``local``) so environments that
share a store never see each other's state:

* ``xledger-sync:<dataset>``: the state, content type ``application/json``, the value
  ``SyncState.to_json()`` plus ``format``, ``commit_id`` and ``committed_at``. A commit is ONE
  conditional PUT: ``If-None-Match: *`` for the first state of a dataset
  (``add_configuration_setting``), ``If-Match: <etag read before>`` otherwise
  (``set_configuration_setting(..., match_condition=IfNotModified)``). A run that lost the race
  gets :class:`~xledger_assets.errors.StateConflictError` and the newer state stays. ``version``
  counts commits, as in the local store. ``state reset`` replaces the value by a reset marker
  (``{"format": 1, "dataset": ..., "reset_at": ...}``) rather than deleting the key, so that the
  predecessor's keys are not imported again afterwards.
* ``xledger-sync-lock:<dataset>``: the sync lock, a lease ``{"owner", "acquired_at",
  "expires_at"}`` created with ``If-None-Match: *``, renewed by a background thread while held
  (every lease/5, lease 5 minutes), deleted (``If-Match``) on release. A lease whose holder
  died expires and is then taken over with ``If-Match`` on the expired lease's ETag.

When a dataset has no key at all, :meth:`AppConfigStateStore.get` imports the predecessor app's
cursor keys (see :mod:`xledger_assets.state.legacy`) once, through the same conditional commit.

Errors (wrong secret, missing role, unreachable store) are :class:`StateError` naming
``XLEDGER_STATE_URL`` by its endpoint; the secret never appears in a message.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from azure.appconfiguration import AzureAppConfigurationClient, ConfigurationSetting
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

from xledger_assets.errors import ConfigurationError, StateConflictError, StateError, SyncError
from xledger_assets.redact import redact, register_secret
from xledger_assets.state import legacy
from xledger_assets.state.base import StateStore, SyncState

log = logging.getLogger(__name__)

STATE_KEY_PREFIX = "xledger-sync:"
LOCK_KEY_PREFIX = "xledger-sync-lock:"
CONTENT_TYPE = "application/json"
FORMAT_VERSION = 1
DEFAULT_LEASE_SECONDS = 300.0

#: An unreachable store fails within seconds instead of minutes of default retries.
CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 3,
    "retry_connect": 1,
    "retry_read": 2,
    "retry_backoff_factor": 0.5,
    "retry_backoff_max": 4,
    "connection_timeout": 5,
    "read_timeout": 30,
}

T = TypeVar("T")


def state_key(dataset: str) -> str:
    return f"{STATE_KEY_PREFIX}{dataset}"


def lock_key(dataset: str) -> str:
    return f"{LOCK_KEY_PREFIX}{dataset}"


def _escape_filter(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace(",", "\\,")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


def looks_like_app_configuration(url: str) -> bool:
    """Whether ``XLEDGER_STATE_URL`` means App Configuration (an http(s) URL or a connection
    string) rather than a local file."""
    text = url.strip().lower()
    if text.startswith(("https://", "http://")):
        return True
    parts = {p.partition("=")[0].strip() for p in text.split(";") if "=" in p}
    return "endpoint" in parts and ("secret" in parts or "id" in parts)


@dataclass(frozen=True)
class AppConfigTarget:
    """Where the store is and how to authenticate; ``endpoint`` is safe to show."""

    endpoint: str
    credential_id: str | None = None
    secret: str | None = None

    @property
    def uses_identity(self) -> bool:
        return self.secret is None


def parse_state_url(url: str) -> AppConfigTarget:
    text = url.strip()
    if not looks_like_app_configuration(text):
        raise ConfigurationError("XLEDGER_STATE_URL is not an App Configuration endpoint")
    if text.lower().startswith(("https://", "http://")):
        endpoint = text.rstrip("/")
        if endpoint.lower().startswith("http://"):
            raise ConfigurationError(
                f"XLEDGER_STATE_URL={endpoint}: an Azure identity is only sent over https; use "
                "https://<store>.azconfig.io, or a connection string Endpoint=...;Id=...;Secret=..."
            )
        return AppConfigTarget(endpoint)
    parts: dict[str, str] = {}
    for item in text.split(";"):
        name, sep, value = item.partition("=")
        if sep:
            parts[name.strip().lower()] = value.strip()
    secret = parts.get("secret") or ""
    register_secret(secret)
    missing = [n for n in ("Endpoint", "Id", "Secret") if not parts.get(n.lower())]
    if missing:
        raise ConfigurationError(
            "XLEDGER_STATE_URL looks like an App Configuration connection string but has no "
            f"{' or '.join(missing)} (expected Endpoint=https://<store>.azconfig.io;Id=...;"
            "Secret=...)"
        )
    try:
        base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            "XLEDGER_STATE_URL: the Secret of the App Configuration connection string is not "
            "base64; copy the whole connection string from the store's Access keys"
        ) from None
    endpoint = parts["endpoint"].rstrip("/")
    if not endpoint.lower().startswith(("https://", "http://")):
        raise ConfigurationError(
            f"XLEDGER_STATE_URL: the connection string's Endpoint {endpoint!r} is not a URL"
        )
    return AppConfigTarget(endpoint, parts["id"], secret)


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc or "").strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return redact(line)[:300]


@dataclass(frozen=True)
class _Stored:
    """What ``xledger-sync:<dataset>`` holds: nothing (``etag`` None), a reset marker
    (``state`` None) or a state."""

    state: SyncState | None
    etag: str | None
    doc: dict[str, Any] | None


class AppConfigStateStore(StateStore):
    def __init__(
        self,
        url: str,
        *,
        env_label: str = "local",
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        renew_seconds: float | None = None,
        import_legacy: bool = True,
        client: AzureAppConfigurationClient | None = None,
        utcnow: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.target = parse_state_url(url)
        self.url = self.target.endpoint
        self.label = env_label
        self.lease = timedelta(seconds=lease_seconds)
        self.renew_seconds = renew_seconds if renew_seconds is not None else lease_seconds / 5
        self.import_legacy = import_legacy
        self._utcnow = utcnow
        self._client = client or self._make_client()

    def _make_client(self) -> AzureAppConfigurationClient:
        t = self.target
        if t.uses_identity:
            from azure.identity import DefaultAzureCredential

            return AzureAppConfigurationClient(
                base_url=t.endpoint, credential=DefaultAzureCredential(), **CLIENT_OPTIONS
            )
        connection_string = f"Endpoint={t.endpoint};Id={t.credential_id};Secret={t.secret}"
        try:
            return AzureAppConfigurationClient.from_connection_string(
                connection_string, **CLIENT_OPTIONS
            )
        except (ValueError, AzureError):
            raise ConfigurationError(
                "XLEDGER_STATE_URL is not a valid App Configuration connection string "
                "(Endpoint=...;Id=...;Secret=...)"
            ) from None

    # -- error handling ----------------------------------------------------------------------

    def _call(
        self,
        action: str,
        fn: Callable[..., T],
        *args: Any,
        passthrough: tuple[type[BaseException], ...] = (),
        **kwargs: Any,
    ) -> T:
        try:
            return fn(*args, **kwargs)
        except passthrough:
            raise
        except AzureError as exc:
            raise self._error(exc, action) from None

    def _error(self, exc: AzureError, action: str) -> StateError:
        where = f"App Configuration at {self.url} (XLEDGER_STATE_URL)"
        how = "the Azure identity" if self.target.uses_identity else "the connection string"
        from azure.identity import CredentialUnavailableError

        if isinstance(exc, CredentialUnavailableError):
            return StateError(
                f"no Azure identity is available to reach {where} while {action}: "
                f"{_short(exc).rstrip('.')}; use a managed identity, `az login`, or a connection "
                "string"
            )
        if isinstance(exc, ClientAuthenticationError):
            if exc.status_code is None:  # azure-identity could not get a token
                return StateError(
                    f"could not get a token of the Azure identity for {where} while {action}: "
                    f"{_short(exc)}"
                )
            fix = (
                "check that the identity may read and write key-values (App Configuration "
                "Data Owner role)"
                if self.target.uses_identity
                else "check the connection string's Id and Secret"
            )
            return StateError(
                f"{where} refused the credentials of {how} (HTTP {exc.status_code}) while "
                f"{action}: {fix}"
            )
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
            return StateError(f"cannot reach {where} while {action}: {_short(exc)}")
        if isinstance(exc, HttpResponseError):
            if exc.status_code == 403:
                return StateError(
                    f"{where} refused access (HTTP 403) while {action}: {how} needs the "
                    "App Configuration Data Owner role"
                )
            return StateError(f"{where} answered HTTP {exc.status_code} while {action}")
        return StateError(f"{where} failed while {action}: {_short(exc)}")

    # -- reading -------------------------------------------------------------------------------

    def _parse(self, dataset: str, setting: ConfigurationSetting) -> _Stored:
        try:
            doc = json.loads(setting.value or "")
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
            state = None if "last_success" not in doc else SyncState.from_json(doc)
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(
                f"the App Configuration key {setting.key!r} (label {self.label!r}) at {self.url} "
                f"does not hold a valid sync state ({exc}); fix it, or run "
                f"`xledger-assets state reset {dataset} --yes` (the next run is then a full load)"
            ) from None
        if state is not None and state.dataset != dataset:
            raise StateError(
                f"the App Configuration key {setting.key!r} holds the state of {state.dataset!r}"
            )
        return _Stored(state, setting.etag, doc)

    def _read(self, dataset: str) -> _Stored:
        try:
            setting = self._call(
                f"reading the state of {dataset}",
                self._client.get_configuration_setting,
                state_key(dataset),
                label=self.label,
                passthrough=(ResourceNotFoundError,),
            )
        except ResourceNotFoundError:
            return _Stored(None, None, None)
        if setting is None:  # pragma: no cover  (only for If-None-Match reads)
            return _Stored(None, None, None)
        return self._parse(dataset, setting)

    def read_unlabelled(self, key: str) -> str | None:
        """The value of a key without label (the predecessor app's keys), None if absent."""
        try:
            setting = self._call(
                f"reading {key}",
                self._client.get_configuration_setting,
                key,
                label=None,
                passthrough=(ResourceNotFoundError,),
            )
        except ResourceNotFoundError:
            return None
        return None if setting is None else setting.value

    def get(self, dataset: str) -> SyncState | None:
        stored = self._read(dataset)
        if stored.etag is None and self.import_legacy:
            return self.import_legacy_state(dataset, stored=stored).state
        return stored.state

    def all(self) -> dict[str, SyncState]:
        out: dict[str, SyncState] = {}

        def collect() -> None:
            for setting in self._client.list_configuration_settings(
                key_filter=_escape_filter(STATE_KEY_PREFIX) + "*",
                label_filter=_escape_filter(self.label),
            ):
                dataset = setting.key[len(STATE_KEY_PREFIX) :]
                stored = self._parse(dataset, setting)
                if stored.state is not None:
                    out[dataset] = stored.state

        self._call("listing the sync states", collect)
        return dict(sorted(out.items()))

    # -- writing -------------------------------------------------------------------------------

    def _setting(self, key: str, doc: dict[str, Any]) -> ConfigurationSetting:
        return ConfigurationSetting(
            key=key,
            label=self.label,
            value=json.dumps(doc, sort_keys=True, separators=(",", ":")),
            content_type=CONTENT_TYPE,
        )

    def _put(self, key: str, doc: dict[str, Any], etag: str | None, action: str) -> str | None:
        """One conditional PUT: create (If-None-Match: *) when ``etag`` is None, otherwise
        replace (If-Match: etag). Raises ResourceExistsError/ResourceModifiedError if lost."""
        setting = self._setting(key, doc)
        lost = (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError)
        if etag is None:
            result = self._call(
                action, self._client.add_configuration_setting, setting, passthrough=lost
            )
        else:
            result = self._call(
                action,
                self._client.set_configuration_setting,
                setting,
                match_condition=MatchConditions.IfNotModified,
                etag=etag,
                passthrough=lost,
            )
        return result.etag

    @staticmethod
    def _same(current: SyncState | None, expected: SyncState | None) -> bool:
        if current is None or expected is None:
            return current is None and expected is None
        return current.version == expected.version and current.cursor == expected.cursor

    def _conflict(self, dataset: str, current: SyncState | None) -> StateConflictError:
        what = f"version {current.version}" if current else "a reset"
        return StateConflictError(
            f"the sync state of {dataset} changed while this run was syncing (another run "
            f"committed {what}); the newer state was kept and this run's cursor was not stored"
        )

    def commit(self, new: SyncState, expected: SyncState | None) -> SyncState:
        if expected is not None and expected.dataset != new.dataset:
            raise ValueError("expected and new state are of different datasets")
        stored = self._read(new.dataset)
        if not self._same(stored.state, expected):
            raise self._conflict(new.dataset, stored.state)
        result = replace(new, version=(stored.state.version if stored.state else 0) + 1)
        commit_id = uuid.uuid4().hex
        doc = {
            **result.to_json(),
            "format": FORMAT_VERSION,
            "commit_id": commit_id,
            "committed_at": _iso(self._utcnow()),
        }
        try:
            self._put(
                state_key(new.dataset), doc, stored.etag, f"storing the state of {new.dataset}"
            )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            after = self._read(new.dataset)
            if after.doc is not None and after.doc.get("commit_id") == commit_id:
                return result  # our write landed; only its response was lost and retried
            raise self._conflict(new.dataset, after.state) from None
        return result

    def reset(self, dataset: str) -> bool:
        for _attempt in range(5):
            stored = self._read(dataset)
            marker = {
                "format": FORMAT_VERSION,
                "dataset": dataset,
                "reset_at": _iso(self._utcnow()),
            }
            try:
                self._put(state_key(dataset), marker, stored.etag, f"resetting {dataset}")
            except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                continue  # changed in between: read again
            return stored.state is not None
        raise StateError(f"the state of {dataset} kept changing while resetting it; try again")

    # -- legacy import -------------------------------------------------------------------------

    def legacy_state(self, dataset: str) -> legacy.LegacyState | None:
        """The predecessor app's keys of a dataset, read only."""
        return legacy.read_legacy_state(self.read_unlabelled, dataset)

    def import_legacy_state(
        self, dataset: str, *, stored: _Stored | None = None
    ) -> legacy.ImportResult:
        """Import the predecessor's cursor if the dataset has no state (a reset marker counts as
        no state); committed like any other state. Legacy keys are left in place."""
        stored = stored if stored is not None else self._read(dataset)
        if stored.state is not None:
            return legacy.ImportResult(dataset, "exists", stored.state, None)
        found = self.legacy_state(dataset)
        if found is None or not found.importable:
            return legacy.ImportResult(dataset, "none", None, found)
        new = found.to_sync_state(self._utcnow())
        try:
            committed = self.commit(new, expected=None)
        except StateConflictError:
            # Another process imported or synced first: its state stands.
            return legacy.ImportResult(dataset, "exists", self._read(dataset).state, found)
        log.warning(
            "%s: no sync state in %s (label %s) yet; imported the predecessor's delta cursor "
            "%r from %s, so the next sync continues with changes instead of a full load "
            "(the old keys are left in place)",
            dataset,
            self.url,
            self.label,
            committed.cursor,
            found.source_key,
        )
        return legacy.ImportResult(dataset, "imported", committed, found)

    # -- lock ----------------------------------------------------------------------------------

    @contextmanager
    def lock(self, dataset: str) -> Iterator[None]:
        lease = _Lease(self, dataset)
        lease.acquire()
        try:
            yield
        finally:
            lease.release()

    def lease_info(self, dataset: str) -> dict[str, Any] | None:
        """The current lease of a dataset's lock (owner, acquired_at, expires_at), if any."""
        try:
            setting = self._call(
                f"reading the lock of {dataset}",
                self._client.get_configuration_setting,
                lock_key(dataset),
                label=self.label,
                passthrough=(ResourceNotFoundError,),
            )
        except ResourceNotFoundError:
            return None
        return _lease_doc(setting)


def _lease_doc(setting: ConfigurationSetting | None) -> dict[str, Any] | None:
    if setting is None:
        return None
    try:
        doc = json.loads(setting.value or "")
        return doc if isinstance(doc, dict) else {}
    except ValueError:
        return {}


def _expires(doc: dict[str, Any]) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(doc["expires_at"]))
    except (KeyError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class _Lease:
    """One holding of a dataset's lock key."""

    def __init__(self, store: AppConfigStateStore, dataset: str) -> None:
        self.store = store
        self.dataset = dataset
        self.key = lock_key(dataset)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.acquired_at = store._utcnow()
        self.etag: str | None = None
        self.lost = False
        self._etag_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _doc(self) -> dict[str, Any]:
        now = self.store._utcnow()
        return {
            "dataset": self.dataset,
            "owner": self.owner,
            "acquired_at": _iso(self.acquired_at),
            "renewed_at": _iso(now),
            "expires_at": (now + self.store.lease).astimezone(UTC).isoformat(),
        }

    def _busy(self, doc: dict[str, Any] | None) -> SyncError:
        holder = (doc or {}).get("owner", "another process")
        until = (doc or {}).get("expires_at", "its lease expires")
        return SyncError(
            f"another sync of {self.dataset} is running ({holder} holds the lock "
            f"{self.key!r} in {self.store.url} until {until}); wait for it to finish (a lock "
            "whose holder died expires by itself)"
        )

    def acquire(self) -> None:
        store = self.store
        lost = (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError)
        action = f"taking the sync lock of {self.dataset}"
        for _attempt in range(3):
            try:
                self.etag = store._put(self.key, self._doc(), None, action)
                self._start()
                return
            except ResourceExistsError:
                pass
            try:
                current = store._call(
                    action,
                    store._client.get_configuration_setting,
                    self.key,
                    label=store.label,
                    passthrough=(ResourceNotFoundError,),
                )
            except ResourceNotFoundError:
                continue  # released in between: try to create it again
            if current is None:  # pragma: no cover  (only conditional reads return None)
                continue
            doc = _lease_doc(current) or {}
            if doc.get("owner") == self.owner:  # our create landed, its response was lost
                self.etag = current.etag
                self._start()
                return
            expires = _expires(doc)
            if expires is not None and expires > store._utcnow():
                raise self._busy(doc)
            try:
                self.etag = store._put(self.key, self._doc(), current.etag, action)
            except lost:
                raise self._busy(None) from None
            log.warning(
                "%s: took over the expired sync lock of %s (expired %s): it probably died",
                self.dataset,
                doc.get("owner", "an unknown holder"),
                doc.get("expires_at", "at an unknown time"),
            )
            self._start()
            return
        raise self._busy(None)

    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._renew_loop, name=f"xledger-lease-{self.dataset}", daemon=True
        )
        self._thread.start()

    def _renew_loop(self) -> None:
        lost = (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError)
        while not self._stop.wait(self.store.renew_seconds):
            with self._etag_lock:
                if self._stop.is_set():
                    return
                try:
                    self.etag = self.store._put(
                        self.key, self._doc(), self.etag, f"renewing the lock of {self.dataset}"
                    )
                except lost:
                    self.lost = True
                    log.error(
                        "%s: lost the sync lock %s (another process took it over); the state "
                        "commit still refuses to move a newer cursor backwards",
                        self.dataset,
                        self.key,
                    )
                    return
                except StateError as exc:
                    log.warning(
                        "%s: could not renew the sync lock (%s); retrying", self.dataset, exc
                    )

    def release(self) -> None:
        self._stop.set()
        with self._etag_lock:
            pass  # wait for a renewal in flight
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.lost or self.etag is None:
            return
        try:
            self.store._call(
                f"releasing the sync lock of {self.dataset}",
                self.store._client.delete_configuration_setting,
                self.key,
                label=self.store.label,
                etag=self.etag,
                match_condition=MatchConditions.IfNotModified,
                passthrough=(ResourceModifiedError, ResourceNotFoundError),
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            log.warning("%s: the sync lock was taken over before it was released", self.dataset)
        except StateError as exc:
            log.warning(
                "%s: could not release the sync lock (%s); it expires by itself", self.dataset, exc
            )
