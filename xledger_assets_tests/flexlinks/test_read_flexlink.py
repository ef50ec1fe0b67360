"""read_flexlink end to end: every dataset over HTTP from the sandbox, compared cell by cell."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import httpx
import pyarrow as pa
import pytest

from xledger_assets.arrow_types import DECIMAL_TYPE
from xledger_assets.catalog import DEFAULT_CATALOG, FlexlinkDataset
from xledger_assets.errors import (
    ConfigurationError,
    FlexlinkHeaderError,
    FlexlinkLinkError,
    FlexlinkSubsidiaryError,
)
from xledger_assets.flexlinks import (
    DownloadSettings,
    FlexlinkTable,
    flexlink_schema,
    flexlink_sources,
    read_flexlink,
)
from xledger_assets.sandbox.flexlinks import SUBSIDIARIES, FlexlinkSandbox

DATASETS = DEFAULT_CATALOG.flexlinks
PART_TIME = DEFAULT_CATALOG.flexlink("part_time_employees")
GROUPS = DEFAULT_CATALOG.flexlink("employee_groups")

#: The exact contract schema (CONTRACT.md, "Columns of flexlink datasets").
CONTRACT_SCHEMAS = {
    "employee_groups": [
        ("Owner", pa.string()),
        ("Code", pa.string()),
        ("Description", pa.string()),
    ],
    "employment_types": [
        ("Owner", pa.string()),
        ("Code", pa.string()),
        ("Description", pa.string()),
    ],
    "cost_categories": [
        ("Owner", pa.string()),
        ("Code", pa.string()),
        ("Description", pa.string()),
        ("Created", pa.string()),
        ("Modified", pa.string()),
    ],
    "project_cost_setups": [
        ("Object", pa.string()),
        ("Object Value", pa.string()),
        ("Cost Element", pa.string()),
        ("Date From", pa.date32()),
        ("Cur", pa.string()),
        ("Rate", DECIMAL_TYPE),
    ],
    "cost_element_per_time_type": [
        ("Time Type", pa.string()),
        ("Project Cost Element", pa.string()),
        ("Cost Factor", DECIMAL_TYPE),
        ("Created", pa.string()),
        ("Modified", pa.string()),
    ],
    "part_time_employees": [
        ("Owner", pa.string()),
        ("Employee #", pa.int64()),
        ("Work Schedule #", pa.string()),
        ("Employee Name", pa.string()),
        ("Work Schedule Name", pa.string()),
        ("Date From", pa.date32()),
        ("Date To", pa.date32()),
        ("Subsidiary", pa.string()),
    ],
}


def _assert_same_cells(result: FlexlinkTable, truth: list[dict[str, object]]) -> None:
    """Cell by cell, with the Python type of every value checked as well."""
    rows = result.table.to_pylist()
    assert len(rows) == len(truth)
    for number, (got, want) in enumerate(zip(rows, truth, strict=True), start=1):
        assert list(got) == list(want), f"row {number}"
        for label in want:
            assert got[label] == want[label], f"row {number}, {label}"
            if want[label] is not None:
                assert type(got[label]) is type(want[label]), f"row {number}, {label}"


@pytest.mark.parametrize("fmt", ["xlsx", "json"])
@pytest.mark.parametrize("dataset", DATASETS, ids=lambda d: d.name)
def test_every_dataset_matches_the_sandbox_truth(
    dataset: FlexlinkDataset,
    fmt: str,
    sandbox: FlexlinkSandbox,
    base_url: str,
    client: httpx.Client,
    fast: DownloadSettings,
) -> None:
    env = sandbox.env(base_url, fmt=fmt)  # type: ignore[arg-type]
    result = read_flexlink(dataset, env, client=client, settings=fast)
    assert result.table.schema == pa.schema(CONTRACT_SCHEMAS[dataset.name])
    assert result.table.schema == flexlink_schema(dataset)
    _assert_same_cells(result, sandbox.truth(dataset.name))
    assert result.source_format == fmt
    assert result.extra_labels == (
        ("Last Modified By",) if dataset.name == "cost_categories" else ()
    )


def test_rows_per_source_and_labels(
    sandbox: FlexlinkSandbox, base_url: str, client: httpx.Client, fast: DownloadSettings
) -> None:
    env = sandbox.env(base_url)
    groups = read_flexlink(GROUPS, env, client=client, settings=fast)
    assert groups.rows_per_source == {"employee_groups": 11}
    assert groups.labels_found == ("Owner", "Code", "Description")  # " Description " stripped
    assert groups.summary() == {
        "rows": 11,
        "rows_per_source": {"employee_groups": 11},
        "labels_found": ["Owner", "Code", "Description"],
        "extra_labels": [],
        "source_format": "xlsx",
    }


def test_sandbox_values_land_exactly(
    sandbox: FlexlinkSandbox, base_url: str, client: httpx.Client, fast: DownloadSettings
) -> None:
    """A few cells spelled out, so the truth itself is checked and not only echoed."""
    env = sandbox.env(base_url)
    setups = read_flexlink(
        DEFAULT_CATALOG.flexlink("project_cost_setups"), env, client=client, settings=fast
    ).table.to_pylist()
    assert setups[2]["Rate"] == Decimal("1234.50")  # written as the text "1 234,50"
    assert setups[4]["Rate"] == Decimal("1234.5")  # written as the text "1,234.5"
    assert isinstance(setups[1]["Date From"], dt.date)  # written as a serial number
    groups = read_flexlink(GROUPS, env, client=client, settings=fast).table.to_pylist()
    assert groups[-2] == {
        "Owner": "Data Ductus AB",
        "Code": "100",
        "Description": "Tjänstemän Skellefteå",
    }
    assert groups[-1] == {"Owner": "Tromb AB", "Code": "TMP", "Description": None}


# --- part-time employees: one link per subsidiary ---------------------------------------------


def test_part_time_employees_from_every_subsidiary(
    sandbox: FlexlinkSandbox, base_url: str, client: httpx.Client, fast: DownloadSettings
) -> None:
    result = read_flexlink(PART_TIME, sandbox.env(base_url), client=client, settings=fast)
    assert result.rows_per_source == {
        "Data Ductus AB": 7,
        "Data Ductus Holding AB": 2,
        "Data Ductus Luleå AB": 5,
        "Tromb AB": 3,
        "Data Ductus Inc": 0,  # zero rows is fine
    }
    assert list(result.rows_per_source) == list(SUBSIDIARIES)
    assert result.table.column_names[-1] == "Subsidiary"
    subsidiaries = result.table.column("Subsidiary").to_pylist()
    assert subsidiaries == (
        ["Data Ductus AB"] * 7
        + ["Data Ductus Holding AB"] * 2
        + ["Data Ductus Luleå AB"] * 5
        + ["Tromb AB"] * 3
    )
    # Not the employment-types rows (the predecessor's bug): each row's owner is its subsidiary.
    assert result.table.column("Owner").to_pylist() == subsidiaries
    assert result.labels_found == (
        "Owner",
        "Employee #",
        "Work Schedule #",
        "Employee Name",
        "Work Schedule Name",
        "Date From",
        "Date To",
    )


def test_one_failed_subsidiary_fails_the_whole_dataset(
    sandbox: FlexlinkSandbox, base_url: str, client: httpx.Client, fast: DownloadSettings
) -> None:
    sandbox.serve_html("part_time_employees", "Tromb AB")
    with pytest.raises(FlexlinkSubsidiaryError) as info:
        read_flexlink(PART_TIME, sandbox.env(base_url), client=client, settings=fast)
    assert str(info.value) == (
        "part_time_employees: 1 of 5 subsidiary links failed ('Tromb AB'), so nothing was read: "
        "the flexlink for part_time_employees (subsidiary 'Tromb AB') returned an HTML page "
        "(HTTP 200), not an Excel file: the link may have expired; create a new export link and "
        "update the 'Tromb AB' entry of XLEDGER_FLEXLINK_PART_TIME_EMPLOYEES"
    )
    assert list(info.value.failures) == ["Tromb AB"]
    assert isinstance(info.value.failures["Tromb AB"], FlexlinkLinkError)
    # Every link was still tried, so one run reports every broken subsidiary.
    assert [sandbox.hits("part_time_employees", s) for s in SUBSIDIARIES] == [1, 1, 1, 1, 1]


def test_several_failed_subsidiaries_are_all_named(
    sandbox: FlexlinkSandbox, base_url: str, client: httpx.Client, fast: DownloadSettings
) -> None:
    sandbox.serve_not_found("part_time_employees", "Data Ductus AB")
    sandbox.rename_column("part_time_employees", "Employee #", "Anst.nr", "Data Ductus Inc")
    with pytest.raises(FlexlinkSubsidiaryError) as info:
        read_flexlink(PART_TIME, sandbox.env(base_url), client=client, settings=fast)
    message = str(info.value)
    assert message.startswith(
        "part_time_employees: 2 of 5 subsidiary links failed ('Data Ductus AB', "
        "'Data Ductus Inc'), so nothing was read: the flexlink for part_time_employees "
        "(subsidiary 'Data Ductus AB') answered HTTP 404 (Not Found)"
    )
    assert "(subsidiary 'Data Ductus Inc') is missing the labels ['Employee #']" in message
    assert isinstance(info.value.failures["Data Ductus Inc"], FlexlinkHeaderError)


def test_part_time_json_links_and_a_single_subsidiary(
    sandbox: FlexlinkSandbox, base_url: str, client: httpx.Client, fast: DownloadSettings
) -> None:
    links = {"Tromb AB": sandbox.url(base_url, "part_time_employees", "Tromb AB", fmt="json")}
    env = {PART_TIME.env_var: json.dumps(links)}
    result = read_flexlink(PART_TIME, env, client=client, settings=fast)
    assert result.rows_per_source == {"Tromb AB": 3}
    assert result.source_format == "json"
    truth = sandbox.truth("part_time_employees", "Tromb AB")
    assert result.table.to_pylist() == [{**row, "Subsidiary": "Tromb AB"} for row in truth]


def test_mixed_formats_are_reported(
    sandbox: FlexlinkSandbox, base_url: str, client: httpx.Client, fast: DownloadSettings
) -> None:
    links = {
        "Tromb AB": sandbox.url(base_url, "part_time_employees", "Tromb AB", fmt="json"),
        "Data Ductus AB": sandbox.url(base_url, "part_time_employees", "Data Ductus AB"),
    }
    env = {PART_TIME.env_var: json.dumps(links)}
    result = read_flexlink(PART_TIME, env, client=client, settings=fast)
    assert result.source_format == "mixed"
    assert result.rows_per_source == {"Tromb AB": 3, "Data Ductus AB": 7}


def test_default_client_and_os_environ(
    sandbox: FlexlinkSandbox, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in sandbox.env(base_url).items():
        monkeypatch.setenv(name, value)
    result = read_flexlink(GROUPS, settings=DownloadSettings(timeout=2, attempts=1))
    assert result.num_rows == 11


# --- configuration ----------------------------------------------------------------------------

_URL = "https://www.xledger.net/Flex/123.xlsx?t=SECRETTOKEN123"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {},
            "XLEDGER_FLEXLINK_EMPLOYEE_GROUPS is not set: set it to the flexlink URL for "
            "employee_groups (Xledger UI: Create Export Link on the table, exported as Excel)",
        ),
        (
            {"XLEDGER_FLEXLINK_EMPLOYEE_GROUPS": "  "},
            "XLEDGER_FLEXLINK_EMPLOYEE_GROUPS is empty: set it to the flexlink URL for "
            "employee_groups (Xledger UI: Create Export Link on the table, exported as Excel)",
        ),
        (
            {"XLEDGER_FLEXLINK_EMPLOYEE_GROUPS": "www.xledger.net/Flex/1.xlsx?t=SECRETTOKEN123"},
            "XLEDGER_FLEXLINK_EMPLOYEE_GROUPS is not an http(s) URL; expected a flexlink like "
            "https://www.xledger.net/Flex/<id>.xlsx?t=<token>",
        ),
    ],
)
def test_single_link_configuration_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        read_flexlink(GROUPS, env)
    assert str(info.value) == message
    assert "SECRETTOKEN123" not in str(info.value)


_EXPECTED_SHAPE = 'expected {"<subsidiary>": "<url>", ...}'


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            None,
            "XLEDGER_FLEXLINK_PART_TIME_EMPLOYEES is not set: set it to the flexlink JSON "
            "object of subsidiary -> flexlink URL for part_time_employees (Xledger UI: Create "
            "Export Link on the table, exported as Excel)",
        ),
        (
            '{"Tromb AB": "' + _URL + '",}',
            "XLEDGER_FLEXLINK_PART_TIME_EMPLOYEES is not valid JSON (Expecting property name "
            f"enclosed in double quotes at line 1 column 71); {_EXPECTED_SHAPE}",
        ),
        (
            _URL,
            "XLEDGER_FLEXLINK_PART_TIME_EMPLOYEES is not valid JSON (Expecting value at line "
            f"1 column 1); {_EXPECTED_SHAPE}",
        ),
        (
            json.dumps([_URL]),
            "XLEDGER_FLEXLINK_PART_TIME_EMPLOYEES must be a JSON object, not a "
            f"JSON array; {_EXPECTED_SHAPE}",
        ),
        (
            "{}",
            "XLEDGER_FLEXLINK_PART_TIME_EMPLOYEES is an empty JSON object: it needs at least "
            f"one subsidiary; {_EXPECTED_SHAPE}",
        ),
        (
            '{"Tromb AB": "' + _URL + '", "Tromb AB": "' + _URL + '"}',
            "XLEDGER_FLEXLINK_PART_TIME_EMPLOYEES names the subsidiary 'Tromb AB' twice; "
            f"{_EXPECTED_SHAPE}",
        ),
        (
            json.dumps({"Tromb AB": 5}),
            "XLEDGER_FLEXLINK_PART_TIME_EMPLOYEES: the entry for "
            "'Tromb AB' must be a non-empty URL string, not a JSON number",
        ),
        (
            json.dumps({"Tromb AB": "ftp://x/Flex/1.xlsx?t=SECRETTOKEN123"}),
            "XLEDGER_FLEXLINK_PART_TIME_EMPLOYEES (entry 'Tromb AB') is not an http(s) URL; "
            "expected a flexlink like https://www.xledger.net/Flex/<id>.xlsx?t=<token>",
        ),
        (
            json.dumps({" ": _URL}),
            "XLEDGER_FLEXLINK_PART_TIME_EMPLOYEES has an entry with an empty subsidiary name",
        ),
    ],
)
def test_subsidiary_configuration_errors(raw: str | None, message: str) -> None:
    env = {} if raw is None else {PART_TIME.env_var: raw}
    with pytest.raises(ConfigurationError) as info:
        read_flexlink(PART_TIME, env)
    assert str(info.value) == message
    assert "SECRETTOKEN123" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_sources_keep_the_order_of_the_json_object() -> None:
    env = {PART_TIME.env_var: json.dumps({"Tromb AB": _URL, "Data Ductus AB": _URL + "4"})}
    sources = flexlink_sources(PART_TIME, env)
    assert [s.subsidiary for s in sources] == ["Tromb AB", "Data Ductus AB"]
    assert [s.key for s in sources] == ["Tromb AB", "Data Ductus AB"]
    assert "SECRETTOKEN" not in repr(sources)
    assert sources[0].expected_format == "xlsx"
