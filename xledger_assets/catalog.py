"""The datasets, as data.

Adding an Xledger entity is one ``ApiDataset`` entry plus a ``queries/<name>.fields`` file;
adding a flexlink is one ``FlexlinkDataset`` entry plus its environment variable.
Nothing here talks to the network or to Dagster.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

FieldType = Literal["id", "int", "text", "bool", "date", "datetime", "decimal"]
FIELD_TYPES: tuple[str, ...] = ("id", "int", "text", "bool", "date", "datetime", "decimal")


@dataclass(frozen=True)
class Field:
    """One column: a GraphQL field path (``employee.dbId``) and its lake type."""

    path: str
    type: FieldType

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))


@dataclass(frozen=True)
class ApiDataset:
    """An Xledger GraphQL entity synced into ``<lake>/<name>/``.

    ``deltas_field`` None means the entity has no delta endpoint: every run is a full load.
    ``fixed_filter`` is a GraphQL input-object literal body applied to every items query, e.g.
    ``'assignmentDate_gte: "{first_day_of_previous_month}"'``; placeholders are filled at run
    time by :func:`xledger_assets.sync.filters.render_filter`.
    """

    name: str
    items_field: str
    deltas_field: str | None
    id_list_type: str  # element type of filter.dbId_in, e.g. "Int!" or "Int64String!"
    description: str
    full_schedule: str | None = "0 3 * * 6"  # weekly full resync (UTC cron)
    fixed_filter: str | None = None
    fields_file: str | None = None  # defaults to queries/<name>.fields
    freshness_days: float = 7.0  # the UI flags the asset when its last materialization is older
    row_count_tolerance: float = 0.25  # a full load may differ this much from the previous one

    @property
    def fields(self) -> tuple[Field, ...]:
        return load_fields(self.fields_file or f"{self.name}.fields")

    @property
    def filter_type(self) -> str:
        return self.items_field[0].upper() + self.items_field[1:]


@dataclass(frozen=True)
class FlexlinkColumn:
    label: str
    type: FieldType


@dataclass(frozen=True)
class FlexlinkDataset:
    """An Excel export link ("Flexlink") made in the Xledger UI, read whole on every run.

    ``per_subsidiary`` links come as a JSON object ``{"<subsidiary>": "<url>"}`` and their rows
    get an extra ``Subsidiary`` column.
    """

    name: str
    columns: tuple[FlexlinkColumn, ...]
    description: str
    schedule: str = "0 4 * * *"
    per_subsidiary: bool = False
    freshness_days: float = 2.0  # the UI flags the asset when its last materialization is older
    key_column: str | None = None  # a label that is never empty (default: the first column)

    @property
    def key_label(self) -> str:
        return self.key_column or self.columns[0].label

    @property
    def env_var(self) -> str:
        return f"XLEDGER_FLEXLINK_{self.name.upper()}"


def _cols(spec: str) -> tuple[FlexlinkColumn, ...]:
    out = []
    for item in spec.split("|"):
        label, _, typ = item.rpartition(":")
        assert typ in FIELD_TYPES, item
        out.append(FlexlinkColumn(label.strip(), typ))  # type: ignore[arg-type]
    return tuple(out)


@cache
def load_fields(file_name: str) -> tuple[Field, ...]:
    """Read a ``.fields`` file shipped in ``xledger_assets/queries``."""
    text = resources.files("xledger_assets.queries").joinpath(file_name).read_text("utf-8")
    out: list[Field] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        path, _, typ = line.partition(" ")
        typ = typ.strip()
        if typ not in FIELD_TYPES:
            raise ValueError(f"queries/{file_name} line {number}: unknown type {typ!r}")
        out.append(Field(path, typ))  # type: ignore[arg-type]
    if not out or out[0].path != "dbId":
        raise ValueError(f"queries/{file_name}: the first field must be dbId")
    return tuple(out)


API_DATASETS: tuple[ApiDataset, ...] = (
    ApiDataset(
        "timesheets",
        "timesheets",
        "timesheet_deltas",
        "Int64String!",
        "Hours registered by employees: one row per timesheet line, with project, activity, "
        "time type and approval status.",
        full_schedule="0 2 * * 6",
        freshness_days=1.0,
    ),
    ApiDataset(
        "projects",
        "projects",
        "project_deltas",
        "Int!",
        "Projects with customer, company, project manager and the project-group hierarchy.",
        full_schedule="20 2 * * 6",
    ),
    ApiDataset(
        "employees",
        "employees",
        "employee_deltas",
        "Int!",
        "Employees with employment period, position, employment type, group and contact data.",
        full_schedule="40 2 * * 6",
    ),
    ApiDataset(
        "customers",
        "customers",
        "customer_deltas",
        "Int!",
        "Customers with company, addresses, subledger group and accounts payable account.",
        full_schedule="0 3 * * 6",
    ),
    ApiDataset(
        "suppliers",
        "suppliers",
        "supplier_deltas",
        "Int!",
        "Suppliers with company, address, bank account and contact.",
        full_schedule="20 3 * * 6",
    ),
    ApiDataset(
        "transactions",
        "transactions",
        "transaction_deltas",
        "Int64String!",
        "General ledger transactions with account, dimensions, tax, header and period.",
        full_schedule="40 3 * * 6",
        freshness_days=1.0,
    ),
    ApiDataset(
        "ar_transactions",
        "arTransactions",
        "arTransaction_deltas",
        "Int!",
        "Accounts receivable (customer ledger) transactions with invoice, due and payment dates.",
        full_schedule="0 4 * * 6",
        freshness_days=1.0,
    ),
    ApiDataset(
        "ap_transactions",
        "apTransactions",
        "apTransaction_deltas",
        "Int!",
        "Accounts payable (supplier ledger) transactions with invoice, due and payment dates.",
        full_schedule="20 4 * * 6",
        freshness_days=1.0,
    ),
)

_THREE_TEXT = "Owner:text|Code:text|Description:text"

FLEXLINK_DATASETS: tuple[FlexlinkDataset, ...] = (
    FlexlinkDataset(
        "employee_groups",
        _cols(_THREE_TEXT),
        "Employee groups (Flexlink export).",
        schedule="0 5 * * *",
        key_column="Code",
    ),
    FlexlinkDataset(
        "employment_types",
        _cols(_THREE_TEXT),
        "Employment types (Flexlink export).",
        schedule="5 5 * * *",
        key_column="Code",
    ),
    FlexlinkDataset(
        "cost_categories",
        _cols(_THREE_TEXT + "|Created:text|Modified:text"),
        "Cost categories (Flexlink export).",
        schedule="10 5 * * *",
        key_column="Code",
    ),
    FlexlinkDataset(
        "project_cost_setups",
        _cols(
            "Object:text|Object Value:text|Cost Element:text|Date From:date|Cur:text|Rate:decimal"
        ),
        "Cost rates per project object and cost element (Flexlink export).",
        schedule="15 5 * * *",
        key_column="Object Value",
    ),
    FlexlinkDataset(
        "cost_element_per_time_type",
        _cols(
            "Time Type:text|Project Cost Element:text|Cost Factor:decimal|"
            "Created:text|Modified:text"
        ),
        "Project cost element and cost factor per time type (Flexlink export).",
        schedule="20 5 * * *",
        key_column="Time Type",
    ),
    FlexlinkDataset(
        "part_time_employees",
        _cols(
            "Owner:text|Employee #:int|Work Schedule #:text|Employee Name:text|"
            "Work Schedule Name:text|Date From:date|Date To:date"
        ),
        "Part-time employees and their work schedules, one export link per subsidiary.",
        schedule="25 5 * * *",
        key_column="Employee #",
        per_subsidiary=True,
    ),
)


@dataclass(frozen=True)
class Catalog:
    api: tuple[ApiDataset, ...] = API_DATASETS
    flexlinks: tuple[FlexlinkDataset, ...] = FLEXLINK_DATASETS

    def api_dataset(self, name: str) -> ApiDataset:
        for d in self.api:
            if d.name == name:
                return d
        raise KeyError(f"unknown API dataset {name!r}")

    def flexlink(self, name: str) -> FlexlinkDataset:
        for d in self.flexlinks:
            if d.name == name:
                return d
        raise KeyError(f"unknown flexlink dataset {name!r}")


DEFAULT_CATALOG = Catalog()
