"""Asset checks: what the UI shows next to every dataset.

Data checks read the lake (through :mod:`xledger_assets.lake`) and never Xledger, so they cost
no API request. They judge the dataset's **newest file**: the one the latest materialization
wrote, or, when it wrote none (a changes run that found no change), the newest one already in
the lake; every result names the file it looked at. Row counts of earlier full loads come from
the materializations that wrote them (``dagster/row_count``, no lake read), else from the lake.

- API datasets: ``db_ids_unique`` (blocking), ``schema_matches_catalog``,
  ``row_count_vs_previous_full`` (a warning) and ``tombstones_only_in_changes``.
- Flexlink datasets: ``expected_labels_present`` and ``key_column_not_empty``.
- ``xledger_token_health`` (API datasets): whether Xledger accepts the API token. It has no run
  of its own: the delta sensor reports it on every tick from the request it makes anyway, and
  every API materialization reports it from its own requests.
"""

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from xledger_assets.arrow_types import ARROW_TYPES, MUTATION_COLUMN
from xledger_assets.assets.failures import plain_failures
from xledger_assets.catalog import ApiDataset, FlexlinkDataset
from xledger_assets.errors import ConfigurationError, XledgerAuthError
from xledger_assets.flexlinks import flexlink_schema
from xledger_assets.lake import FULL_SYNC, Lake, LakeFile, LocalLake
from xledger_assets.redact import redact
from xledger_assets.resources import LakeStoreResource

TOKEN_CHECK = "xledger_token_health"
UNIQUE_IDS = "db_ids_unique"
SCHEMA = "schema_matches_catalog"
ROW_COUNT = "row_count_vs_previous_full"
TOMBSTONES = "tombstones_only_in_changes"
LABELS = "expected_labels_present"
KEY_NOT_EMPTY = "key_column_not_empty"

#: The ``path`` metadata of a materialization that wrote no file (a changes run, no change).
NO_FILE = "none"

API_CHECKS = (UNIQUE_IDS, SCHEMA, ROW_COUNT, TOMBSTONES)
FLEXLINK_CHECKS = (LABELS, KEY_NOT_EMPTY)

TOKEN_REJECTED = (
    "Xledger rejected the API token: it may have expired or been revoked — generate a new API "
    "token in Xledger (a domain administrator can) and update the secret XLEDGER_API_TOKEN "
    "(where the code location reads it from, e.g. its Key Vault secret); runs that call "
    "Xledger fail until then"
)
TOKEN_OK = "Xledger accepted the API token"

_SAMPLE = 10  # dbIds or columns listed in a result


# -- outcomes (plain data, no Dagster) ---------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One check's verdict; ``severity`` applies when it did not pass."""

    passed: bool
    description: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR


def expected_api_schema(dataset: ApiDataset) -> list[tuple[str, pa.DataType]]:
    """Column names and types of every file of an API dataset (contract)."""
    cols = [(f.path, ARROW_TYPES[f.type]) for f in dataset.fields]
    return [*cols, (MUTATION_COLUMN, pa.string())]


def schema_outcome(
    actual: pa.Schema, expected: Sequence[tuple[str, pa.DataType]], where: str
) -> Outcome:
    """Names in order and types equal the catalog's; trailing ``_...`` columns are allowed."""
    names = list(actual.names)
    want = [n for n, _ in expected]
    problems: list[str] = []
    missing = [n for n in want if n not in names]
    extra = [n for n in names if n not in want and not n.startswith("_")]
    if missing:
        problems.append(f"missing {', '.join(missing[:_SAMPLE])}")
    if extra:
        problems.append(f"unexpected {', '.join(extra[:_SAMPLE])}")
    if not missing and names[: len(want)] != want:
        problems.append("columns out of order")
    wrong = [
        f"{n} is {actual.field(n).type} (expected {t})"
        for n, t in expected
        if n in names and not actual.field(n).type.equals(t)
    ]
    if wrong:
        problems.append("; ".join(wrong[:_SAMPLE]))
    meta = {"columns": len(names), "expected_columns": len(want)}
    if problems:
        return Outcome(False, f"{where}: {'; '.join(problems)}", {**meta, "problems": problems})
    return Outcome(True, f"{where}: {len(want)} columns with the catalog's names and types", meta)


def unique_ids_outcome(table: pa.Table, where: str) -> Outcome:
    if "dbId" not in table.column_names:
        return Outcome(False, f"{where}: no dbId column")
    ids = table.column("dbId")
    nulls = ids.null_count
    dupes: list[int] = []
    duplicated = 0
    if table.num_rows:
        counts = pc.value_counts(ids.drop_null())
        many = counts.filter(pc.greater(counts.field("counts"), 1))
        duplicated = len(many)
        dupes = [int(v) for v in many.field("values").to_pylist()[:_SAMPLE]]
    meta: dict[str, Any] = {"rows": table.num_rows, "duplicated_db_ids": duplicated}
    if nulls:
        meta["null_db_ids"] = nulls
    if duplicated or nulls:
        parts = []
        if duplicated:
            parts.append(f"{duplicated} dbIds appear more than once (e.g. {dupes})")
        if nulls:
            parts.append(f"{nulls} rows have no dbId")
        return Outcome(False, f"{where}: {'; '.join(parts)}", {**meta, "examples": dupes})
    return Outcome(True, f"{where}: {table.num_rows} rows, every dbId once", meta)


def tombstones_outcome(table: pa.Table, file: LakeFile, where: str) -> Outcome:
    """Full loads hold only ADDED rows; DELETED rows of a changes file hold a dbId and nulls."""
    if MUTATION_COLUMN not in table.column_names:
        return Outcome(False, f"{where}: no {MUTATION_COLUMN} column")
    kinds = table.column(MUTATION_COLUMN)
    counts = {str(r["values"]): int(r["counts"]) for r in pc.value_counts(kinds).to_pylist() if r}
    meta: dict[str, Any] = {
        "added": counts.get("ADDED", 0),
        "updated": counts.get("UPDATED", 0),
        "deleted": counts.get("DELETED", 0),
    }
    unknown = sorted(k for k in counts if k not in ("ADDED", "UPDATED", "DELETED"))
    if unknown:
        return Outcome(False, f"{where}: unknown {MUTATION_COLUMN} values {unknown}", meta)
    if file.kind == FULL_SYNC:
        other = meta["updated"] + meta["deleted"]
        if other:
            return Outcome(
                False,
                f"{where}: a full load must hold only ADDED rows, but {meta['deleted']} are "
                f"DELETED and {meta['updated']} UPDATED",
                meta,
            )
        return Outcome(True, f"{where}: a full load, every row ADDED, no tombstones", meta)
    deleted = table.filter(pc.equal(kinds, "DELETED"))
    payload = [c for c in table.column_names if c not in ("dbId", MUTATION_COLUMN)]
    filled = [c for c in payload if deleted.column(c).null_count != deleted.num_rows]
    if filled:
        return Outcome(
            False,
            f"{where}: DELETED rows must hold only the dbId, but have values in "
            f"{', '.join(filled[:_SAMPLE])}",
            {**meta, "filled_columns": filled[:_SAMPLE]},
        )
    return Outcome(True, f"{where}: {meta['deleted']} tombstones, each only a dbId", meta)


def row_count_outcome(
    newest: tuple[str, int] | None, previous: tuple[str, int] | None, tolerance: float
) -> Outcome:
    """The newest full load's rows against the previous full load's (a warning, not an error)."""
    warn = dg.AssetCheckSeverity.WARN
    if newest is None:
        return Outcome(False, "no full load in the lake yet", severity=warn)
    name, rows = newest
    meta: dict[str, Any] = {"rows": rows, "tolerance": f"{tolerance:.0%}"}
    if previous is None:
        return Outcome(True, f"{name}: {rows} rows, the first full load (nothing to compare)", meta)
    prev_name, prev_rows = previous
    meta["previous_rows"] = prev_rows
    if prev_rows == 0:
        return Outcome(True, f"{name}: {rows} rows; the previous full load was empty", meta)
    change = (rows - prev_rows) / prev_rows
    meta["change"] = f"{change:+.1%}"
    text = f"{name}: {rows} rows, {change:+.1%} against {prev_rows} in {prev_name}"
    if abs(change) > tolerance:
        return Outcome(False, f"{text}: more than the {tolerance:.0%} tolerance", meta, warn)
    return Outcome(True, f"{text} (tolerance {tolerance:.0%})", meta)


def labels_outcome(actual: pa.Schema, dataset: FlexlinkDataset, where: str) -> Outcome:
    want = flexlink_schema(dataset)
    missing = [n for n in want.names if n not in actual.names]
    meta = {"expected_labels": list(want.names), "labels": list(actual.names)}
    if missing:
        return Outcome(False, f"{where}: labels missing: {', '.join(missing)}", meta)
    wrong = [
        f"{n} is {actual.field(n).type} (expected {want.field(n).type})"
        for n in want.names
        if not actual.field(n).type.equals(want.field(n).type)
    ]
    if wrong:
        return Outcome(False, f"{where}: {'; '.join(wrong)}", meta)
    return Outcome(True, f"{where}: all {len(want.names)} expected labels present", meta)


def key_outcome(table: pa.Table, dataset: FlexlinkDataset, where: str) -> Outcome:
    """No row without a key value: every row empty is an error, some rows a warning."""
    key = dataset.key_label
    if key not in table.column_names:
        return Outcome(False, f"{where}: no {key!r} column")
    column = table.column(key)
    empty = column.null_count
    if pa.types.is_string(column.type) and len(column):
        blank = pc.equal(pc.utf8_trim_whitespace(column.fill_null("")), "")
        empty = int(pc.sum(blank.cast(pa.int64())).as_py() or 0)
    meta = {"key_column": key, "rows": table.num_rows, "empty_keys": empty}
    if table.num_rows and empty == table.num_rows:
        return Outcome(False, f"{where}: {key!r} is empty in every row", meta)
    if empty:
        warn = dg.AssetCheckSeverity.WARN
        return Outcome(False, f"{where}: {key!r} is empty in {empty} rows", meta, warn)
    return Outcome(True, f"{where}: {key!r} set in all {table.num_rows} rows", meta)


# -- the lake side -----------------------------------------------------------------------------


class _LakeView:
    """A dataset's files, each read at most once per check run."""

    def __init__(self, lake: Lake, dataset: str) -> None:
        self.lake = lake
        self.dataset = dataset
        self.files = lake.list_files(dataset)
        self._tables: dict[LakeFile, pa.Table] = {}

    @property
    def newest(self) -> LakeFile | None:
        return self.files[-1] if self.files else None

    def fulls(self) -> list[LakeFile]:
        return [f for f in self.files if f.kind == FULL_SYNC]

    def table(self, file: LakeFile) -> pa.Table:
        if file not in self._tables:
            self._tables[file] = self.lake.read_table(file)
        return self._tables[file]

    def row_count(self, file: LakeFile, recorded: Mapping[str, int]) -> int:
        """From the materialization that wrote the file, else the file's footer (local lake),
        else the file."""
        uri = self.lake.uri(file)
        if uri in recorded:
            return recorded[uri]
        if file in self._tables:
            return self._tables[file].num_rows
        if isinstance(self.lake, LocalLake):
            return pq.read_metadata(os.fspath(self.lake.root / file.relative_path)).num_rows
        return self.table(file).num_rows


def _recorded_row_counts(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, int]:
    """File path → row count, from the asset's recent materializations (no lake read)."""
    out: dict[str, int] = {}
    try:
        records = instance.fetch_materializations(key, limit=500).records
    except Exception:  # the event log is a convenience here, the lake the fallback
        return out
    for record in records:
        mat = record.asset_materialization
        if mat is None:
            continue
        path = getattr(mat.metadata.get("path"), "value", None)
        rows = getattr(mat.metadata.get("dagster/row_count"), "value", None)
        if isinstance(path, str) and isinstance(rows, int) and path not in out:
            out[path] = rows
    return out


def _latest_wrote_no_file(instance: dg.DagsterInstance, key: dg.AssetKey) -> bool:
    try:
        event = instance.get_latest_materialization_event(key)
    except Exception:
        return False
    mat = event.asset_materialization if event else None
    if mat is None:
        return False
    return getattr(mat.metadata.get("path"), "value", None) == NO_FILE


def _where(file: LakeFile, no_file: bool) -> str:
    prefix = "the latest run wrote no file (no changes); newest file " if no_file else ""
    return f"{prefix}{file.name}"


def _file_meta(view: _LakeView, file: LakeFile) -> dict[str, Any]:
    return {"file": dg.MetadataValue.path(view.lake.uri(file)), "file_kind": file.kind}


def evaluate_api_checks(
    dataset: ApiDataset,
    lake: Lake,
    selected: Iterable[str] = API_CHECKS,
    *,
    recorded_rows: Mapping[str, int] | None = None,
    latest_wrote_no_file: bool = False,
) -> dict[str, Outcome]:
    """The API dataset's data checks against its newest file (and full loads for row counts)."""
    view = _LakeView(lake, dataset.name)
    out: dict[str, Outcome] = {}
    newest = view.newest
    wanted = list(selected)
    if newest is None:
        none = "no file in the lake yet: materialize the asset first"
        warn = dg.AssetCheckSeverity.WARN
        return {name: Outcome(False, none, severity=warn) for name in wanted}
    where = _where(newest, latest_wrote_no_file)
    meta = _file_meta(view, newest)
    for name in wanted:
        if name == UNIQUE_IDS:
            outcome = unique_ids_outcome(view.table(newest), where)
        elif name == SCHEMA:
            outcome = schema_outcome(view.table(newest).schema, expected_api_schema(dataset), where)
        elif name == TOMBSTONES:
            outcome = tombstones_outcome(view.table(newest), newest, where)
        elif name == ROW_COUNT:
            out[name] = _row_count_check(view, dataset, recorded_rows or {})
            continue
        else:
            raise KeyError(f"unknown check {name!r}")
        out[name] = _with_meta(outcome, meta)
    return out


def _row_count_check(view: _LakeView, dataset: ApiDataset, recorded: Mapping[str, int]) -> Outcome:
    fulls = view.fulls()
    if not fulls:
        return row_count_outcome(None, None, dataset.row_count_tolerance)
    counted = [(f.name, view.row_count(f, recorded)) for f in fulls[-2:]]
    previous = counted[0] if len(counted) == 2 else None
    outcome = row_count_outcome(counted[-1], previous, dataset.row_count_tolerance)
    return _with_meta(outcome, _file_meta(view, fulls[-1]))


def evaluate_flexlink_checks(
    dataset: FlexlinkDataset, lake: Lake, selected: Iterable[str] = FLEXLINK_CHECKS
) -> dict[str, Outcome]:
    view = _LakeView(lake, dataset.name)
    newest = view.fulls()[-1] if view.fulls() else None
    wanted = list(selected)
    if newest is None:
        none = "no file in the lake yet: materialize the asset first"
        warn = dg.AssetCheckSeverity.WARN
        return {name: Outcome(False, none, severity=warn) for name in wanted}
    table = view.table(newest)
    meta = _file_meta(view, newest)
    out: dict[str, Outcome] = {}
    for name in wanted:
        if name == LABELS:
            outcome = labels_outcome(table.schema, dataset, newest.name)
        elif name == KEY_NOT_EMPTY:
            outcome = key_outcome(table, dataset, newest.name)
        else:
            raise KeyError(f"unknown check {name!r}")
        out[name] = _with_meta(outcome, meta)
    return out


def _with_meta(outcome: Outcome, extra: Mapping[str, Any]) -> Outcome:
    return Outcome(
        outcome.passed, outcome.description, {**extra, **outcome.metadata}, outcome.severity
    )


# -- Dagster definitions -------------------------------------------------------------------------

_API_DESCRIPTIONS = {
    UNIQUE_IDS: "Every dbId appears once in the newest file (a full load, or a changes file, "
    "where each dbId holds its latest state). Blocking: downstream assets wait for a fix.",
    SCHEMA: "The newest file's column names, order and types equal the catalog's field "
    "selection (queries/<dataset>.fields) plus mutationType.",
    ROW_COUNT: "The newest full load's row count stays within the catalog's tolerance of the "
    "previous full load's (a warning: a drop may be real, or a filter gone wrong).",
    TOMBSTONES: "DELETED rows (tombstones: a dbId and nulls) appear only in sync_changes files; "
    "a full load holds only ADDED rows.",
}
_FLEXLINK_DESCRIPTIONS = {
    LABELS: "The newest file has every Excel header label the catalog expects, with its type.",
    KEY_NOT_EMPTY: "The dataset's key column has a value in every row (empty in some rows: a "
    "warning; in every row: an error).",
}
TOKEN_DESCRIPTION = (
    "Whether Xledger accepts the API token (XLEDGER_API_TOKEN). Reported by the delta sensor on "
    "every tick from the one request it makes anyway, and by every run of the asset; it costs "
    "no request of its own, so it is not run on its own."
)


def _result(key: dg.AssetKey, name: str, outcome: Outcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=name,
        passed=outcome.passed,
        description=outcome.description,
        metadata=dict(outcome.metadata),
        severity=outcome.severity,
    )


def build_api_checks(dataset: ApiDataset) -> dg.AssetChecksDefinition:
    key = dg.AssetKey(dataset.name)
    specs = [
        dg.AssetCheckSpec(
            name, asset=key, description=_API_DESCRIPTIONS[name], blocking=name == UNIQUE_IDS
        )
        for name in API_CHECKS
    ]

    @dg.multi_asset_check(
        name=f"{dataset.name}_lake_checks",
        specs=specs,
        can_subset=True,
        description=f"Checks the newest lake file of {dataset.name} (no Xledger request).",
    )
    def _checks(
        context: dg.AssetCheckExecutionContext, lake_store: LakeStoreResource
    ) -> Iterator[dg.AssetCheckResult]:
        selected = [k.name for k in context.selected_asset_check_keys]
        recorded = _recorded_row_counts(context.instance, key) if ROW_COUNT in selected else {}
        with plain_failures():
            outcomes = evaluate_api_checks(
                dataset,
                lake_store.lake(),
                selected,
                recorded_rows=recorded,
                latest_wrote_no_file=_latest_wrote_no_file(context.instance, key),
            )
        for name in selected:
            yield _result(key, name, outcomes[name])

    return _checks


def build_flexlink_checks(dataset: FlexlinkDataset) -> dg.AssetChecksDefinition:
    key = dg.AssetKey(dataset.name)
    specs = [
        dg.AssetCheckSpec(name, asset=key, description=_FLEXLINK_DESCRIPTIONS[name])
        for name in FLEXLINK_CHECKS
    ]

    @dg.multi_asset_check(
        name=f"{dataset.name}_lake_checks",
        specs=specs,
        can_subset=True,
        description=f"Checks the newest lake file of {dataset.name}.",
    )
    def _checks(
        context: dg.AssetCheckExecutionContext, lake_store: LakeStoreResource
    ) -> Iterator[dg.AssetCheckResult]:
        selected = [k.name for k in context.selected_asset_check_keys]
        with plain_failures():
            outcomes = evaluate_flexlink_checks(dataset, lake_store.lake(), selected)
        for name in selected:
            yield _result(key, name, outcomes[name])

    return _checks


# -- token health ------------------------------------------------------------------------------


def token_check_spec(dataset: ApiDataset) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(TOKEN_CHECK, asset=dataset.name, description=TOKEN_DESCRIPTION)


_XLEDGER_SAID = re.compile(r"refused the API token \((?P<said>.+?)\)(?::|$)")


def token_problem(exc: BaseException) -> str | None:
    """The plain message when ``exc`` means the token is missing or refused, else None."""
    if isinstance(exc, XledgerAuthError):
        text = redact(str(exc))
        found = _XLEDGER_SAID.search(text)
        return f"{TOKEN_REJECTED}. Xledger said: {found.group('said') if found else text}"
    if isinstance(exc, ConfigurationError) and "XLEDGER_API_TOKEN" in str(exc):
        return redact(str(exc))
    return None


def token_check_result(
    dataset: str, passed: bool, description: str, metadata: Mapping[str, Any] | None = None
) -> dg.AssetCheckResult:
    """The token check's result from inside an API asset's run."""
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey(dataset),
        check_name=TOKEN_CHECK,
        passed=passed,
        description=description,
        metadata=dict(metadata or {}),
    )


def token_check_evaluations(
    datasets: Iterable[str], passed: bool, description: str, metadata: Mapping[str, Any]
) -> list[dg.AssetCheckEvaluation]:
    """The token check of every API dataset, as the sensor reports it (no run)."""
    return [
        dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey(name),
            check_name=TOKEN_CHECK,
            passed=passed,
            description=description,
            metadata=dict(metadata),
        )
        for name in datasets
    ]


__all__ = [
    "API_CHECKS",
    "FLEXLINK_CHECKS",
    "TOKEN_CHECK",
    "Outcome",
    "build_api_checks",
    "build_flexlink_checks",
    "evaluate_api_checks",
    "evaluate_flexlink_checks",
    "token_check_evaluations",
    "token_check_result",
    "token_check_spec",
    "token_problem",
]
