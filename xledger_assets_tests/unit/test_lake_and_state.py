from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xledger_assets.errors import LakeError, StateConflictError, StateError, SyncError
from xledger_assets.lake.current import current_state
from xledger_assets.lake.local import LocalLake
from xledger_assets.lake.naming import LakeFile
from xledger_assets.state.base import SyncState
from xledger_assets.state.local import LocalStateStore
from xledger_assets.sync.filters import render_filter


def test_file_names_follow_the_contract():
    f = LakeFile.new("timesheets", "full_sync", datetime(2024, 7, 11, 21, 17, 9, 999, tzinfo=UTC))
    assert f.relative_path == "timesheets/full_sync-20240711_21_17_09-timesheets.parquet"
    assert LakeFile.parse("timesheets", f.name) == f
    assert LakeFile.parse("projects", f.name) is None
    assert LakeFile.parse("timesheets", "notes.txt") is None


def _publish(lake: LocalLake, kind: str, second: int, rows: list[dict]) -> LakeFile:
    f = LakeFile.new("d", kind, datetime(2024, 1, 1, 0, 0, second))
    staged = lake.new_staging_path("d")
    schema = pa.schema([("dbId", pa.int64()), ("x", pa.string()), ("mutationType", pa.string())])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), staged)
    lake.publish(staged, f)
    return f


def test_publish_never_overwrites_and_current_state_applies_changes(tmp_path: Path):
    lake = LocalLake(tmp_path)
    first = _publish(lake, "full_sync", 1, [{"dbId": 1, "x": "old", "mutationType": "ADDED"}])
    _publish(
        lake,
        "full_sync",
        2,
        [
            {"dbId": 1, "x": "a", "mutationType": "ADDED"},
            {"dbId": 2, "x": "b", "mutationType": "ADDED"},
            {"dbId": 3, "x": "c", "mutationType": "ADDED"},
        ],
    )
    _publish(
        lake,
        "sync_changes",
        3,
        [
            {"dbId": 2, "x": None, "mutationType": "DELETED"},
            {"dbId": 4, "x": "d", "mutationType": "ADDED"},
        ],
    )
    _publish(
        lake,
        "sync_changes",
        4,
        [
            {"dbId": 4, "x": "d2", "mutationType": "UPDATED"},
            {"dbId": 2, "x": "b again", "mutationType": "ADDED"},
            {"dbId": 3, "x": None, "mutationType": "DELETED"},
        ],
    )
    table = current_state(lake, "d")
    assert table.to_pylist() == [
        {"dbId": 1, "x": "a", "mutationType": "ADDED"},
        {"dbId": 2, "x": "b again", "mutationType": "ADDED"},
        {"dbId": 4, "x": "d2", "mutationType": "UPDATED"},
    ]
    staged = lake.new_staging_path("d")
    staged.write_bytes(b"new")
    with pytest.raises(LakeError, match="already exists; lake files are never overwritten"):
        lake.publish(staged, first)
    assert pq.read_table(tmp_path / first.relative_path).column("x").to_pylist() == ["old"]
    assert [p.name for p in (tmp_path / "d").iterdir() if not p.name.endswith(".parquet")] == []


def test_no_files_means_no_state(tmp_path: Path):
    assert current_state(LocalLake(tmp_path), "nothing") is None


def _state(cursor: str) -> SyncState:
    return SyncState("d", cursor, "full", "2024-01-01T00:00:00+00:00", "d/f.parquet")


def test_state_commits_check_the_version(tmp_path: Path):
    store = LocalStateStore(tmp_path / "s" / "state.json")
    assert store.get("d") is None
    one = store.commit(_state("c1"), None)
    assert one.version == 1 and store.get("d") == one
    two = store.commit(_state("c2"), one)
    assert two.version == 2
    with pytest.raises(StateConflictError, match="the newer state was kept"):
        store.commit(_state("stale"), one)
    with pytest.raises(StateConflictError):
        store.commit(_state("stale"), None)
    assert store.get("d").cursor == "c2"
    assert store.reset("d") is True and store.get("d") is None


def test_sync_lock_is_exclusive(tmp_path: Path):
    store = LocalStateStore(tmp_path / "state.json")
    with store.lock("d"):
        with pytest.raises(SyncError, match="another sync of d is running"), store.lock("d"):
            pass
        with store.lock("other"):
            pass
    with store.lock("d"):
        pass


def test_broken_state_file_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(StateError, match="is not a valid state document"):
        LocalStateStore(path).get("d")


def test_fixed_filter_dates():
    from datetime import date

    assert (
        render_filter('assignmentDate_gte: "{first_day_of_previous_month}"', date(2024, 1, 15))
        == 'assignmentDate_gte: "2023-12-01"'
    )
    assert render_filter(None, date(2024, 1, 1)) is None
