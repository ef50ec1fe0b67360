"""What the delta sensor hands to its run: built only from a page that provably holds every
delta after the stored cursor; parsed back strictly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from xledger_assets.errors import SyncError
from xledger_assets.sync.handoff import HANDOFF_LIMIT, DeltaHandoff, handoff_from_page

AT = datetime(2026, 12, 1, 12, tzinfo=UTC)
HEAD = (
    '{"v": 1, "dataset": "projects", "after": "a", "until": "b", '
    + '"read_at": "2026-01-01T00:00:00",'
)


def _page(*deltas: tuple[str, object, str], more: bool = False) -> dict:
    edges = [{"cursor": c, "node": {"dbId": i, "mutationType": k}} for c, i, k in deltas]
    return {"edges": edges, "pageInfo": {"hasNextPage": more}}


def test_latest_mutation_wins_in_the_order_of_the_latest():
    page = _page(
        ("c1", 1, "ADDED"), ("c2", "2", "ADDED"), ("c3", 1, "UPDATED"), ("c4", 2, "DELETED")
    )
    h = handoff_from_page("projects", "c0", "c4", page, AT)
    assert h == DeltaHandoff("projects", "c0", "c4", AT, ((1, "UPDATED"), (2, "DELETED")))


@pytest.mark.parametrize(
    ("newest", "page"),
    [
        ("c2", _page(("c1", 1, "ADDED"), more=True)),  # more pages
        ("c9", _page(("c1", 1, "ADDED"))),  # the newest delta was not reached
        ("c1", _page(("c0", 1, "ADDED"), ("c1", 2, "ADDED"))),  # the stored cursor came back
        ("c1", _page(("c1", 1, "MOVED"))),  # an unknown kind
        ("c1", _page(("c1", "x1", "ADDED"))),  # a dbId that is no integer
        (
            "c1",
            {
                "edges": [{"node": {"dbId": 1, "mutationType": "ADDED"}}],
                "pageInfo": {"hasNextPage": False},
            },
        ),
        ("c1", {"edges": [], "pageInfo": {}}),  # no hasNextPage
        ("c1", None),  # the field was not answered
        ("c3", _page()),  # empty, but the newest delta is not the stored cursor
    ],
)
def test_no_handoff_from_a_page_that_may_not_hold_everything(newest, page):
    assert handoff_from_page("projects", "c0", newest, page, AT) is None


def test_too_many_deltas_are_left_to_the_run():
    deltas = [(f"c{i}", i, "ADDED") for i in range(1, HANDOFF_LIMIT + 2)]
    page = _page(*deltas)
    assert handoff_from_page("projects", "c0", deltas[-1][0], page, AT) is None
    page = _page(*deltas[:HANDOFF_LIMIT])
    assert (
        len(handoff_from_page("projects", "c0", f"c{HANDOFF_LIMIT}", page, AT).changes)
        == HANDOFF_LIMIT
    )


def test_an_empty_page_at_the_newest_delta_is_a_keep_alive():
    h = handoff_from_page(
        "projects", "c5", "c5", {"edges": None, "pageInfo": {"hasNextPage": False}}, AT
    )
    assert h == DeltaHandoff("projects", "c5", "c5", AT, ()) and h.keep_alive
    none = handoff_from_page("projects", None, None, _page(), AT)  # never a delta at all
    assert none == DeltaHandoff("projects", None, None, AT, ())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{not json",
            "the run config's handoff of projects is not JSON (it is written by the delta sensor)",
        ),
        ('{"v": 2}', "the run config's handoff of projects is not a version 1 handoff object"),
        (
            '{"v": 1, "dataset": "employees"}',
            "the run config's handoff of projects is for the dataset 'employees'",
        ),
        (
            HEAD.replace("2026-01-01T00:00:00", "x") + ' "changes": []}',
            "the run config's handoff of projects has read_at 'x', not an ISO date-time",
        ),
        (
            HEAD + ' "changes": [[1, "ADDED"], [1, "DELETED"]]}',
            "the run config's handoff of projects names a dbId twice",
        ),
        (
            HEAD + ' "changes": [[true, "ADDED"]]}',
            "the run config's handoff of projects has a change [True, 'ADDED'] that is not "
            "[dbId, kind]",
        ),
        (
            HEAD + ' "changes": [[1, "ADDED"]], "complete": false}',
            "the run config's handoff of projects has complete=False",
        ),
    ],
)
def test_a_malformed_handoff_names_what_is_wrong(text, message):
    with pytest.raises(SyncError) as err:
        DeltaHandoff.from_config(text, "projects")
    assert str(err.value) == message


def test_round_trip_keeps_a_naive_read_at_as_utc():
    h = DeltaHandoff("projects", "a", "b", AT, ((7, "UPDATED"),))
    assert DeltaHandoff.from_config(h.to_config(), "projects") == h
    text = h.to_config().replace("+00:00", "")
    assert DeltaHandoff.from_config(text, "projects").read_at == AT
