"""The App Configuration state store: the real azure-appconfiguration SDK against the emulator."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from xledger_assets.errors import ConfigurationError, StateConflictError, StateError, SyncError
from xledger_assets.sandbox.appconfig import AppConfigEmulator
from xledger_assets.state import LocalStateStore, open_state_store
from xledger_assets.state.appconfig import AppConfigStateStore, lock_key, state_key
from xledger_assets.state.base import SyncState
from xledger_assets.state.legacy import LegacyState, parse_cursor, parse_flag

from .conftest import SECRET

NOW = datetime(2024, 7, 11, 21, 17, 9, tzinfo=UTC)


def _store(emu: AppConfigEmulator, label: str = "dev", **kwargs) -> AppConfigStateStore:
    return AppConfigStateStore(emu.connection_string, env_label=label, **kwargs)


def _state(cursor: str | None, when: str = "2024-07-11T21:17:09+00:00", **kw) -> SyncState:
    fields = {"mode": "full", "last_file": "d/full_sync-20240711_21_17_09-d.parquet", **kw}
    return SyncState(dataset="d", cursor=cursor, last_success=when, **fields)


def _seed_legacy(emu: AppConfigEmulator, dataset: str, **values: str) -> None:
    for suffix, value in values.items():
        emu.seed(f"{dataset}-{suffix}", value)


def test_open_state_store_picks_app_configuration(emulator: AppConfigEmulator, tmp_path):
    store = open_state_store(emulator.connection_string, env_label="prod")
    assert isinstance(store, AppConfigStateStore)
    assert (store.url, store.label) == (emulator.endpoint, "prod")
    assert SECRET not in store.url
    identity = open_state_store("https://mystore.azconfig.io/", env_label="dev")
    assert isinstance(identity, AppConfigStateStore)
    assert identity.url == "https://mystore.azconfig.io" and identity.target.uses_identity
    assert isinstance(open_state_store(str(tmp_path / "s.json")), LocalStateStore)


def test_commit_get_and_versions(emulator: AppConfigEmulator):
    store = _store(emulator)
    assert store.get("d") is None
    first = store.commit(_state("c1"), expected=None)
    assert first == _state("c1", version=1)
    assert store.get("d") == first
    second = store.commit(_state("c2", mode="changes"), expected=first)
    assert second == _state("c2", mode="changes", version=2)
    assert store.get("d") == second
    assert store.all() == {"d": second}
    kv = emulator.get(state_key("d"), "dev")
    assert kv is not None and kv.content_type == "application/json"
    doc = json.loads(kv.value or "")
    assert {k: doc[k] for k in ("dataset", "cursor", "mode", "last_success", "last_file")} == {
        "dataset": "d",
        "cursor": "c2",
        "mode": "changes",
        "last_success": "2024-07-11T21:17:09+00:00",
        "last_file": "d/full_sync-20240711_21_17_09-d.parquet",
    }
    assert (doc["version"], doc["format"]) == (2, 1)
    assert len(doc["commit_id"]) == 32


def test_a_commit_is_one_conditional_put(emulator: AppConfigEmulator):
    store = _store(emulator)
    emulator.clear_requests()
    first = store.commit(_state("c1"), expected=None)
    puts = [r for r in emulator.requests if r.method == "PUT"]
    assert [(r.path, r.query["label"], r.status) for r in puts] == [
        ("/kv/xledger-sync:d", "dev", 200)
    ]
    emulator.clear_requests()
    store.commit(_state("c2"), expected=first)
    assert emulator.count("PUT") == 1
    assert emulator.count() == 2  # one GET (the ETag to match) and the PUT


def test_a_stale_expected_state_is_a_conflict_and_the_newer_state_stays(
    emulator: AppConfigEmulator,
):
    a, b = _store(emulator), _store(emulator)
    base = a.commit(_state("c1"), expected=None)
    seen_by_b = b.get("d")
    assert seen_by_b == base
    newer = a.commit(_state("c2"), expected=base)
    with pytest.raises(StateConflictError) as info:
        b.commit(_state("c-old"), expected=seen_by_b)
    assert "the newer state was kept" in str(info.value)
    assert str(info.value) == (
        "the sync state of d changed while this run was syncing (another run committed "
        "version 2); the newer state was kept and this run's cursor was not stored"
    )
    assert a.get("d") == newer
    # A first commit when another run already made one is a conflict too.
    with pytest.raises(StateConflictError):
        b.commit(_state("c-first"), expected=None)
    assert b.get("d") == newer


def test_losing_the_race_between_read_and_write_is_caught_by_the_etag(
    emulator: AppConfigEmulator,
):
    """B commits in the window between A's read and A's conditional PUT: A's If-Match fails."""
    a, b = _store(emulator), _store(emulator)
    base = a.commit(_state("c1"), expected=None)
    interleaved: dict[str, SyncState | None] = {}

    def before(method: str, path: str) -> None:
        if method == "PUT" and path == "/kv/xledger-sync:d" and "b" not in interleaved:
            interleaved["b"] = None  # B's own PUT passes through this hook too
            interleaved["b"] = b.commit(_state("c2-b"), expected=base)

    emulator.before_request = before
    with pytest.raises(StateConflictError, match="the newer state was kept"):
        a.commit(_state("c2-a"), expected=base)
    emulator.before_request = None
    assert interleaved["b"] == _state("c2-b", version=2)
    assert a.get("d") == _state("c2-b", version=2)
    assert [r.status for r in emulator.requests if r.method == "PUT"][-2:] == [200, 412]


def test_a_first_commit_race_is_caught_by_if_none_match(emulator: AppConfigEmulator):
    a, b = _store(emulator), _store(emulator)
    done: list[bool] = []

    def before(method: str, path: str) -> None:
        if method == "PUT" and path == "/kv/xledger-sync:d" and not done:
            done.append(True)
            b.commit(_state("c1-b"), expected=None)

    emulator.before_request = before
    with pytest.raises(StateConflictError):
        a.commit(_state("c1-a"), expected=None)
    emulator.before_request = None
    assert a.get("d") == _state("c1-b", version=1)


def test_racing_stores_exactly_one_wins(emulator: AppConfigEmulator):
    base = _store(emulator).commit(_state("c0"), expected=None)
    stores = [_store(emulator) for _ in range(6)]
    barrier = threading.Barrier(len(stores))
    outcomes: dict[int, object] = {}

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = stores[i].commit(_state(f"c1-{i}"), expected=base)
        except StateConflictError as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    winners = [i for i, o in outcomes.items() if isinstance(o, SyncState)]
    losers = [o for o in outcomes.values() if isinstance(o, StateConflictError)]
    assert len(winners) == 1 and len(losers) == len(stores) - 1
    assert _store(emulator).get("d") == _state(f"c1-{winners[0]}", version=2)
    assert all("the newer state was kept" in str(e) for e in losers)


def test_labels_keep_environments_apart(emulator: AppConfigEmulator):
    dev, prod = _store(emulator, "dev"), _store(emulator, "prod")
    dev_state = dev.commit(_state("dev-cursor"), expected=None)
    assert prod.get("d") is None
    assert prod.all() == {}
    prod_state = prod.commit(_state("prod-cursor"), expected=None)
    assert dev.get("d") == dev_state and prod.get("d") == prod_state
    assert dev.all() == {"d": dev_state}
    assert emulator.list_keys() == [(state_key("d"), "dev"), (state_key("d"), "prod")]
    with dev.lock("d"), prod.lock("d"):  # locks are per environment too
        pass


def test_reset_forgets_the_state_and_does_not_reimport_legacy_keys(emulator: AppConfigEmulator):
    _seed_legacy(emulator, "d", deltas_cursor="old", initial_sync_complete="true")
    store = _store(emulator)
    imported = store.get("d")
    assert imported is not None and imported.cursor == "old"
    committed = store.commit(_state("c2"), expected=imported)
    assert store.reset("d") is True
    assert store.get("d") is None  # the legacy keys are not imported again
    assert store.all() == {}
    assert json.loads(emulator.value(state_key("d"), "dev") or "")["dataset"] == "d"
    assert store.reset("d") is False
    again = store.commit(_state("c3"), expected=None)
    assert again.version == 1 and committed.version == 2
    assert emulator.value("d-deltas_cursor") == "old"


def test_the_lock_is_exclusive_and_released(emulator: AppConfigEmulator):
    a, b = _store(emulator), _store(emulator)
    with a.lock("d"):
        info = a.lease_info("d")
        assert info is not None and info["dataset"] == "d"
        with pytest.raises(SyncError) as exc, b.lock("d"):
            pass
        assert str(exc.value).startswith("another sync of d is running (")
        with b.lock("other"):
            pass
    assert emulator.get(lock_key("d"), "dev") is None  # deleted on release
    with b.lock("d"):
        assert emulator.get(lock_key("d"), "dev") is not None


def test_an_expired_lease_is_taken_over(emulator: AppConfigEmulator):
    dead = {
        "dataset": "d",
        "owner": "dead-host:123:abc",
        "acquired_at": "2024-07-11T20:00:00+00:00",
        "expires_at": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
    }
    emulator.seed(lock_key("d"), json.dumps(dead), label="dev", content_type="application/json")
    store = _store(emulator)
    with store.lock("d"):
        holder = emulator.json_value(lock_key("d"), "dev")
        assert holder["owner"] != dead["owner"]
        assert holder["owner"].split(":")[0] == socket.gethostname()
        assert datetime.fromisoformat(holder["expires_at"]) > datetime.now(UTC) + timedelta(
            seconds=250
        )
    assert emulator.get(lock_key("d"), "dev") is None


def test_a_live_lease_is_renewed_while_held(emulator: AppConfigEmulator):
    holder = _store(emulator, lease_seconds=0.6, renew_seconds=0.1)
    other = _store(emulator)
    with holder.lock("d"):
        first = emulator.json_value(lock_key("d"), "dev")["expires_at"]
        time.sleep(1.2)  # twice the lease: only renewal keeps it alive
        with pytest.raises(SyncError, match="another sync of d is running"), other.lock("d"):
            pass
        assert emulator.json_value(lock_key("d"), "dev")["expires_at"] > first
    assert emulator.count("PUT", path_prefix="/kv/xledger-sync-lock:d") >= 5


def test_a_lease_without_renewal_expires(emulator: AppConfigEmulator):
    holder = _store(emulator, lease_seconds=0.3, renew_seconds=3600)
    other = _store(emulator)
    with holder.lock("d"):
        time.sleep(0.5)
        with other.lock("d"):  # the holder looks dead: taken over
            pass


def test_legacy_keys_are_imported_on_first_get(emulator: AppConfigEmulator):
    _seed_legacy(
        emulator,
        "timesheets",
        deltas_cursor="delta-42",
        initial_sync_complete="true",
        initial_sync_cursor="initial-7",
    )
    etags = {k: emulator.get(k).etag for k, _ in emulator.list_keys()}  # type: ignore[union-attr]
    store = _store(emulator, utcnow=lambda: NOW)
    state = store.get("timesheets")
    assert state == SyncState(
        dataset="timesheets",
        cursor="delta-42",
        mode="changes",
        last_success="2024-07-11T21:17:09+00:00",
        last_file=None,
        version=1,
    )
    assert emulator.json_value(state_key("timesheets"), "dev")["cursor"] == "delta-42"
    # the predecessor's keys are untouched
    assert {k: emulator.get(k).etag for k in etags} == etags  # type: ignore[union-attr]
    assert emulator.value("timesheets-deltas_cursor") == "delta-42"
    emulator.clear_requests()
    assert store.get("timesheets") == state  # imported once: later reads just read
    assert emulator.count("PUT") == 0 and emulator.count() == 1


@pytest.mark.parametrize(
    ("values", "expected_cursor"),
    [
        (
            {"deltas_cursor": "", "initial_sync_complete": "True", "initial_sync_cursor": "i-1"},
            "i-1",
        ),
        ({"initial_sync_complete": "1", "initial_sync_cursor": '"i-2"'}, "i-2"),
        ({"deltas_cursor": " d-3 ", "initial_sync_complete": "true"}, "d-3"),
        ({"deltas_cursor": "d-4", "initial_sync_complete": "false"}, None),
        ({"deltas_cursor": "d-5"}, None),
        ({"initial_sync_complete": "true", "deltas_cursor": "null"}, None),
        ({}, None),
    ],
)
def test_legacy_import_rule(emulator: AppConfigEmulator, values: dict, expected_cursor):
    _seed_legacy(emulator, "projects", **values)
    store = _store(emulator, utcnow=lambda: NOW)
    state = store.get("projects")
    if expected_cursor is None:
        assert state is None
        assert emulator.get(state_key("projects"), "dev") is None  # nothing written
    else:
        assert state is not None
        assert (state.cursor, state.mode, state.last_file, state.version) == (
            expected_cursor,
            "changes",
            None,
            1,
        )


def test_legacy_import_can_be_disabled(emulator: AppConfigEmulator):
    _seed_legacy(emulator, "d", deltas_cursor="x", initial_sync_complete="true")
    assert _store(emulator, import_legacy=False).get("d") is None


def test_legacy_value_parsing():
    flags = (None, "true", "TRUE", " 1 ", "yes", "false", "0", '"true"')
    assert [parse_flag(v) for v in flags] == [
        None, True, True, True, True, False, False, True,
    ]  # fmt: skip
    assert [parse_cursor(v) for v in (None, "", "null", "None", '"abc"', " x ")] == [
        None, None, None, None, "abc", "x",
    ]  # fmt: skip
    legacy = LegacyState("d", None, True, "i")
    assert (legacy.importable, legacy.cursor, legacy.source_key) == (
        True,
        "i",
        "d-initial_sync_cursor",
    )
    assert LegacyState("d", "x", False, None).reason == "d-initial_sync_complete is not true"


def test_a_wrong_secret_is_a_state_error_without_the_secret(emulator: AppConfigEmulator):
    wrong = "d3Jvbmctc2VjcmV0LWZvci10aGUtdGVzdA=="
    store = AppConfigStateStore(emulator.connection_string.replace(SECRET, wrong), env_label="dev")
    with pytest.raises(StateError) as info:
        store.get("d")
    message = str(info.value)
    assert message == (
        f"App Configuration at {emulator.endpoint} (XLEDGER_STATE_URL) refused the credentials "
        "of the connection string (HTTP 401) while reading the state of d: check the connection "
        "string's Id and Secret"
    )
    assert wrong not in message and SECRET not in message
    assert [r.status for r in emulator.requests] == [401]


def test_an_unreachable_store_fails_fast(emulator: AppConfigEmulator):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"Endpoint=http://127.0.0.1:{port};Id=x;Secret={SECRET}"
    store = AppConfigStateStore(url, env_label="dev")
    started = time.monotonic()
    with pytest.raises(StateError) as info:
        store.commit(_state("c"), expected=None)
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert message.startswith(
        f"cannot reach App Configuration at http://127.0.0.1:{port} (XLEDGER_STATE_URL) while "
        "reading the state of d: "
    )
    assert SECRET not in message


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        (f"Endpoint=https://x.azconfig.io;Secret={SECRET}", "has no Id"),
        ("Endpoint=https://x.azconfig.io;Id=abc;Secret=not base64!", "is not base64"),
        ("http://127.0.0.1:1234", "an Azure identity is only sent over https"),
    ],
)
def test_malformed_state_urls(url: str, fragment: str):
    with pytest.raises(ConfigurationError, match="XLEDGER_STATE_URL") as info:
        open_state_store(url)
    assert fragment in str(info.value)
    assert SECRET not in str(info.value) and "not base64!" not in str(info.value)


def test_a_corrupt_value_is_a_clear_error(emulator: AppConfigEmulator):
    emulator.seed(state_key("d"), "{not json", label="dev")
    with pytest.raises(StateError, match="does not hold a valid sync state") as info:
        _store(emulator).get("d")
    assert "xledger-assets state reset d --yes" in str(info.value)


def test_a_missing_identity_is_a_state_error():
    from azure.appconfiguration import AzureAppConfigurationClient

    from .test_azure_lake import _NoIdentity

    client = AzureAppConfigurationClient(
        base_url="https://mystore.azconfig.io", credential=_NoIdentity()
    )
    store = AppConfigStateStore("https://mystore.azconfig.io", env_label="dev", client=client)
    with pytest.raises(StateError) as info:
        store.get("d")
    assert str(info.value) == (
        "no Azure identity is available to reach App Configuration at "
        "https://mystore.azconfig.io (XLEDGER_STATE_URL) while reading the state of d: "
        "DefaultAzureCredential failed to retrieve a token from the included credentials; use "
        "a managed identity, `az login`, or a connection string"
    )
