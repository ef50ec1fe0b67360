"""A stand-in for Xledger's ``/Flex/`` export links, for tests and local runs.

:class:`FlexlinkSandbox` makes seeded, deterministic data for the six flexlink datasets (Nordic
names, realistic codes, exact decimals, dates), keeps it as the *truth* (typed Python values:
``str``, ``int``, ``Decimal``, ``date``, ``None``) and serves it the way Xledger does, as real
xlsx files written with openpyxl or as the JSON variant. The files carry the quirks seen in real
exports, so a reader that passes against the sandbox handles them: numbers stored as text
(``"1 234,50"``), a date stored as an Excel serial number, a date typed as text, numeric codes
as number cells, a title row above the header, labels with stray spaces, an extra column,
trailing empty rows, and a subsidiary whose export has no rows.

Links look like Xledger's: ``/Flex/<numeric id>.xlsx?t=<token>`` and ``/Flex/<id>.json?t=...``.
A wrong or missing token gets the HTML page Xledger shows (HTTP 200, ``text/html``). Tests can
make a link answer with an HTML page, a 404, a renamed column, a 5xx for the next N requests,
slowly, or with any body at all.

:meth:`FlexlinkSandbox.handle` is plain ``(path, query, headers) -> (status, headers, body)``,
so any HTTP server can mount it (the sandbox server does, under ``/Flex/``). It sets
``Content-Type``; the server adds ``Content-Length``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import re
import string
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from http import HTTPStatus
from typing import Literal

import openpyxl
from openpyxl.styles import Font

from xledger_assets.catalog import DEFAULT_CATALOG, FlexlinkDataset

SUBSIDIARIES: tuple[str, ...] = (
    "Data Ductus AB",
    "Data Ductus Holding AB",
    "Data Ductus Luleå AB",
    "Tromb AB",
    "Data Ductus Inc",
)

#: Rows per subsidiary in the part-time-employees exports; Data Ductus Inc has none.
PART_TIME_ROWS: dict[str, int] = {
    "Data Ductus AB": 7,
    "Data Ductus Holding AB": 2,
    "Data Ductus Luleå AB": 5,
    "Tromb AB": 3,
    "Data Ductus Inc": 0,
}

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"

#: What Xledger shows for an export link with a wrong or expired token: a page, with HTTP 200.
LOGIN_PAGE = (
    b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Xledger</title>'
    b'</head>\n<body><div class="login"><h1>Xledger</h1>'
    b"<p>The link is not valid, or it has expired. Sign in to continue.</p>"
    b'<form method="post" action="/Account/Login"><input name="username">'
    b'<input name="password" type="password"><button>Sign in</button></form>'
    b"</div></body></html>\n"
)
NOT_FOUND_PAGE = (
    b"<!DOCTYPE html>\n<html><body><h1>404 - File or directory not found.</h1></body></html>\n"
)

Format = Literal["xlsx", "json"]
Response = tuple[int, dict[str, str], bytes]

_FIRST_NAMES = (
    "Åsa", "Björn", "Märta", "Örjan", "Linnéa", "Sölve", "Ingrid", "Pär", "Elsa", "Göran",
    "Maja", "Jörgen", "Ylva", "Håkan", "Åke", "Kristina", "Mikael", "Sofia",
)  # fmt: skip
_LAST_NAMES = (
    "Öberg", "Åström", "Lindqvist", "Bäckström", "Nilsson", "Sjöö", "Hägg", "Ek", "Wikström",
    "Lundgren", "Strömberg", "Nordström", "Sandén", "Jäderberg",
)  # fmt: skip
_GROUPS = (
    ("KONS", "Konsulter"),
    ("KONS-LLA", "Konsulter Luleå"),
    ("LEDN", "Ledningsgrupp"),
    ("ADM", "Administration och ekonomi"),
    ("SÄLJ", "Säljare"),
    ("UTV-GBG", "Utvecklare Göteborg"),
    ("TIM", "Timanställda"),
    ("DRIFT", "Drift & förvaltning"),
    ("ÖVR", "Övriga"),
)
_EMPLOYMENT_TYPES = (
    ("TV", "Tillsvidareanställning"),
    ("PROV", "Provanställning"),
    ("VIK", "Vikariat"),
    ("TIM", "Timanställning"),
    ("SÄS", "Säsongsanställning"),
    ("PRAKT", "Praktik"),
)
_COST_CATEGORIES = (
    ("KK100", "Resekostnader"),
    ("KK110", "Hotell och logi"),
    ("KK200", "Licenser och abonnemang"),
    ("KK300", "Utbildning"),
    ("KK310", "Representation"),
    ("KK400", "Förbrukningsmaterial"),
    ("KK500", "Underkonsulter"),
    ("KK900", "Övriga kostnader"),
)
_COST_ELEMENTS = (
    "KE100 Konsulttimmar",
    "KE110 Konsulttimmar senior",
    "KE200 Restid",
    "KE300 Jour och beredskap",
    "KE400 Övertid",
)
_PROJECTS = (
    "P10023 Kiruna gruvautomation",
    "P10031 Skellefteå kraftnät",
    "P10047 Luleå hamn IoT",
    "P10052 Göteborg e-tjänster",
    "P10068 Umeå vårdplattform",
    "P10075 Östersund drift",
)
_TIME_TYPES = (
    ("Normaltid", Decimal("1")),
    ("Övertid 50 %", Decimal("1.5")),
    ("Övertid 100 %", Decimal("2")),
    ("Restid", Decimal("0.75")),
    ("Jour", Decimal("0.25")),
    ("Beredskap", Decimal("0.125")),
    ("Utbildning", Decimal("0")),
)
_TIME_TYPE_LABELS = ("Time Type", "Project Cost Element", "Cost Factor", "Created", "Modified")
_PART_TIME_LABELS = (
    "Owner",
    "Employee #",
    "Work Schedule #",
    "Employee Name",
    "Work Schedule Name",
    "Date From",
    "Date To",
)
_SCHEDULES = ((50, "Deltid 50 %"), (60, "Deltid 60 %"), (75, "Deltid 75 %"), (80, "Deltid 80 %"))


@dataclass(frozen=True)
class _Behaviour:
    """How a link answers one request (or every request, when persistent)."""

    kind: Literal["status", "slow", "html", "not_found", "body"]
    status: int = 200
    seconds: float = 0.0
    body: bytes = b""
    content_type: str = ""


@dataclass
class _Sheet:
    """How an export is written: labels as they appear, and the cells as typed in Excel.

    ``cells`` rows follow ``labels`` (which may hold extra columns); ``json_rows`` are the same
    rows as the JSON variant carries them.
    """

    labels: list[str]
    cells: list[list[object]]
    json_rows: list[list[object]]
    title: str | None = None
    trailing_blank_rows: int = 0


@dataclass
class SandboxLink:
    """One export link: what it holds (``truth``), how it is reached, and how it answers now."""

    link_id: int
    dataset: str
    subsidiary: str | None
    token: str
    truth: list[dict[str, object]]
    sheet: _Sheet = field(repr=False)
    persistent: _Behaviour | None = None
    queued: deque[_Behaviour] = field(default_factory=deque)
    hits: int = 0
    initial_token: str = field(default="", repr=False)
    _cache: dict[str, bytes] = field(default_factory=dict, repr=False)

    def path(self, fmt: Format = "xlsx") -> str:
        return f"/Flex/{self.link_id}.{fmt}"


class FlexlinkSandbox:
    """The six flexlink datasets, seeded, served like Xledger's export links.

    The same ``seed`` always gives the same truth, ids and tokens (the xlsx bytes differ only in
    zip timestamps). Thread-safe: a threaded HTTP server may call :meth:`handle` concurrently.
    """

    def __init__(self, seed: int = 0, *, catalog_datasets: Sequence[FlexlinkDataset] = ()) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._datasets = {d.name: d for d in (catalog_datasets or DEFAULT_CATALOG.flexlinks)}
        rng = random.Random(f"flexlink-sandbox:{seed}")
        next_id = 41_000 + rng.randrange(50_000)
        self._links: dict[int, SandboxLink] = {}
        for dataset in self._datasets.values():
            subsidiaries: Sequence[str | None] = SUBSIDIARIES if dataset.per_subsidiary else (None,)
            for subsidiary in subsidiaries:
                next_id += rng.randrange(1, 400)
                truth, sheet = _make(
                    dataset, subsidiary, random.Random(f"{seed}:{dataset.name}:{subsidiary}")
                )
                token = _token(rng)
                self._links[next_id] = SandboxLink(
                    link_id=next_id,
                    dataset=dataset.name,
                    subsidiary=subsidiary,
                    token=token,
                    truth=truth,
                    sheet=sheet,
                    initial_token=token,
                )

    # --- what the links hold ------------------------------------------------------------------

    @property
    def links(self) -> tuple[SandboxLink, ...]:
        return tuple(self._links.values())

    def link(self, dataset: str, subsidiary: str | None = None) -> SandboxLink:
        """The link of ``dataset`` (and ``subsidiary``, for per-subsidiary datasets)."""
        for link in self._links.values():
            if link.dataset == dataset and link.subsidiary == subsidiary:
                return link
        raise KeyError(f"no sandbox flexlink for {dataset!r}, subsidiary {subsidiary!r}")

    def truth(self, dataset: str, subsidiary: str | None = None) -> list[dict[str, object]]:
        """The rows a correct reader returns, keyed by label, in table order.

        For a per-subsidiary dataset without ``subsidiary``: every subsidiary's rows in
        :data:`SUBSIDIARIES` order (the order of :meth:`env`), each with a ``Subsidiary`` key.
        """
        if self._datasets[dataset].per_subsidiary and subsidiary is None:
            return [
                {**row, "Subsidiary": link.subsidiary}
                for link in self._links.values()
                if link.dataset == dataset
                for row in link.truth
            ]
        return [dict(row) for row in self.link(dataset, subsidiary).truth]

    def extra_labels(self, dataset: str, subsidiary: str | None = None) -> list[str]:
        """Labels the export has but the catalog does not expect."""
        expected = {c.label for c in self._datasets[dataset].columns}
        return [
            label
            for label in self.link(dataset, subsidiary).sheet.labels
            if " ".join(label.split()) not in expected
        ]

    def url(
        self, base_url: str, dataset: str, subsidiary: str | None = None, *, fmt: Format = "xlsx"
    ) -> str:
        link = self.link(dataset, subsidiary)
        return f"{base_url.rstrip('/')}{link.path(fmt)}?t={link.token}"

    def env(self, base_url: str, *, fmt: Format = "xlsx") -> dict[str, str]:
        """The ``XLEDGER_FLEXLINK_*`` variables of all datasets, pointing at ``base_url``."""
        out: dict[str, str] = {}
        for dataset in self._datasets.values():
            if dataset.per_subsidiary:
                links = {
                    link.subsidiary: self.url(base_url, dataset.name, link.subsidiary, fmt=fmt)
                    for link in self._links.values()
                    if link.dataset == dataset.name
                }
                out[dataset.env_var] = json.dumps(links, ensure_ascii=False)
            else:
                out[dataset.env_var] = self.url(base_url, dataset.name, fmt=fmt)
        return out

    def xlsx_bytes(self, dataset: str, subsidiary: str | None = None) -> bytes:
        link = self.link(dataset, subsidiary)
        with self._lock:
            return self._file(link, "xlsx")

    def json_bytes(self, dataset: str, subsidiary: str | None = None) -> bytes:
        link = self.link(dataset, subsidiary)
        with self._lock:
            return self._file(link, "json")

    def hits(self, dataset: str, subsidiary: str | None = None) -> int:
        """Requests the link has received (any token, any outcome)."""
        return self.link(dataset, subsidiary).hits

    # --- how the links answer -----------------------------------------------------------------

    def serve_html(self, dataset: str, subsidiary: str | None = None) -> None:
        """From now on answer with Xledger's HTML page (HTTP 200), as for an expired link."""
        self._set(dataset, subsidiary, _Behaviour("html"))

    def serve_not_found(self, dataset: str, subsidiary: str | None = None) -> None:
        """From now on answer 404, as for a deleted link."""
        self._set(dataset, subsidiary, _Behaviour("not_found"))

    def serve_body(
        self,
        dataset: str,
        body: bytes,
        content_type: str = "application/octet-stream",
        subsidiary: str | None = None,
        *,
        status: int = 200,
    ) -> None:
        """From now on answer with exactly ``body``."""
        self._set(dataset, subsidiary, _Behaviour("body", status, 0.0, body, content_type))

    def fail(
        self, dataset: str, status: int = 503, times: int = 1, subsidiary: str | None = None
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (then as before)."""
        with self._lock:
            queue = self.link(dataset, subsidiary).queued
            queue.extend(_Behaviour("status", status) for _ in range(times))

    def slow(
        self, dataset: str, seconds: float, times: int = 1, subsidiary: str | None = None
    ) -> None:
        """Hold the next ``times`` requests for ``seconds`` before answering normally."""
        with self._lock:
            queue = self.link(dataset, subsidiary).queued
            queue.extend(_Behaviour("slow", seconds=seconds) for _ in range(times))

    def rename_column(
        self, dataset: str, old: str, new: str, subsidiary: str | None = None
    ) -> None:
        """Rename a header label in the served export (the truth keeps the catalog's name)."""
        with self._lock:
            link = self.link(dataset, subsidiary)
            labels = link.sheet.labels
            matches = [i for i, label in enumerate(labels) if " ".join(label.split()) == old]
            if not matches:
                raise KeyError(f"{dataset} has no label {old!r}")
            labels[matches[0]] = new
            link._cache.clear()

    def expire(self, dataset: str, subsidiary: str | None = None) -> str:
        """Give the link a new token (the old URL then gets the HTML page); returns the token."""
        with self._lock:
            link = self.link(dataset, subsidiary)
            link.token = _token(random.Random(f"{link.token}:expired"))
            return link.token

    def reset(self, dataset: str | None = None, subsidiary: str | None = None) -> None:
        """Serve normally again (all links, or one): no queued failures, renames or new tokens."""
        with self._lock:
            for link in self._links.values():
                if dataset is None or (link.dataset == dataset and link.subsidiary == subsidiary):
                    link.persistent = None
                    link.queued.clear()
                    link.token = link.initial_token
                    expected = self._datasets[link.dataset]
                    link.sheet = _make(
                        expected,
                        link.subsidiary,
                        random.Random(f"{self.seed}:{link.dataset}:{link.subsidiary}"),
                    )[1]
                    link._cache.clear()

    # --- serving ------------------------------------------------------------------------------

    def handle(
        self, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
    ) -> Response:
        """Answer one GET for ``/Flex/<id>.<xlsx|json>`` (the prefix may be stripped already)."""
        del headers  # Xledger's links ignore them too; the token is the only credential.
        match = re.fullmatch(r"/?(?:Flex/)?(\d+)\.(xlsx|json)", path.split("?", 1)[0])
        link = self._links.get(int(match.group(1))) if match else None
        if match is None or link is None:
            return 404, {"Content-Type": HTML_TYPE}, NOT_FOUND_PAGE
        fmt: Format = "json" if match.group(2) == "json" else "xlsx"
        with self._lock:
            link.hits += 1
            once = link.queued.popleft() if link.queued else None
            persistent = link.persistent
        if once is not None and once.kind == "slow":
            time.sleep(once.seconds)
        elif once is not None:
            return once.status, {"Content-Type": HTML_TYPE}, _status_page(once.status)
        if query.get("t", [""])[0] != link.token:
            return 200, {"Content-Type": HTML_TYPE}, LOGIN_PAGE
        if persistent is not None:
            if persistent.kind == "html":
                return 200, {"Content-Type": HTML_TYPE}, LOGIN_PAGE
            if persistent.kind == "not_found":
                return 404, {"Content-Type": HTML_TYPE}, NOT_FOUND_PAGE
            if persistent.kind == "body":
                return persistent.status, {"Content-Type": persistent.content_type}, persistent.body
        with self._lock:
            body = self._file(link, fmt)
        if fmt == "json":
            return 200, {"Content-Type": JSON_TYPE}, body
        disposition = f'attachment; filename="{link.link_id}.xlsx"'
        return 200, {"Content-Type": XLSX_TYPE, "Content-Disposition": disposition}, body

    def _set(self, dataset: str, subsidiary: str | None, behaviour: _Behaviour) -> None:
        with self._lock:
            self.link(dataset, subsidiary).persistent = behaviour

    def _file(self, link: SandboxLink, fmt: Format) -> bytes:
        """The served bytes, made on first use (caller holds the lock)."""
        if fmt not in link._cache:
            link._cache[fmt] = _xlsx(link.sheet) if fmt == "xlsx" else _json(link.sheet)
        return link._cache[fmt]


# --- data -------------------------------------------------------------------------------------


def _token(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits + "-_", k=64))


def _moment(rng: random.Random, year: int = 2023) -> dt.datetime:
    """A registration time stamp; never exactly midnight (see the one deliberate case below)."""
    start = dt.datetime(year, 1, 1, 7, 0, 0)
    return start + dt.timedelta(
        days=rng.randrange(700),
        hours=rng.randrange(10),
        minutes=rng.randrange(60),
        seconds=rng.randrange(1, 60),
    )


def _stamp(value: dt.datetime | None) -> str | None:
    """The text a date-time cell reads as in a text column (date only at midnight)."""
    if value is None:
        return None
    if value.time() == dt.time():
        return value.date().isoformat()
    return value.isoformat(sep=" ", timespec="seconds")


def _serial(day: dt.date) -> int:
    return (day - dt.date(1899, 12, 30)).days


def _make(
    dataset: FlexlinkDataset, subsidiary: str | None, rng: random.Random
) -> tuple[list[dict[str, object]], _Sheet]:
    makers = {
        "employee_groups": _employee_groups,
        "employment_types": _employment_types,
        "cost_categories": _cost_categories,
        "project_cost_setups": _project_cost_setups,
        "cost_element_per_time_type": _cost_element_per_time_type,
        "part_time_employees": _part_time_employees,
    }
    maker = makers.get(dataset.name)
    if maker is None:
        return _generic(dataset, rng)
    return maker(subsidiary, rng)


def _owner(rng: random.Random) -> str:
    return rng.choice(SUBSIDIARIES[:4])


def _employee_groups(_: str | None, rng: random.Random) -> tuple[list[dict[str, object]], _Sheet]:
    truth: list[dict[str, object]] = []
    cells: list[list[object]] = []
    for code, description in _GROUPS:
        owner = _owner(rng)
        truth.append({"Owner": owner, "Code": code, "Description": description})
        cells.append([owner, code, description])
    # A numeric code typed as a number, and a group nobody described.
    truth.append({"Owner": "Data Ductus AB", "Code": "100", "Description": "Tjänstemän Skellefteå"})
    cells.append(["Data Ductus AB", 100, "Tjänstemän Skellefteå"])
    truth.append({"Owner": "Tromb AB", "Code": "TMP", "Description": None})
    cells.append(["Tromb AB", "TMP", None])
    sheet = _Sheet(
        labels=["Owner", "Code", " Description "],  # stray spaces around a label
        cells=cells,
        json_rows=[[r["Owner"], r["Code"], r["Description"]] for r in truth],
        trailing_blank_rows=3,
    )
    return truth, sheet


def _employment_types(_: str | None, rng: random.Random) -> tuple[list[dict[str, object]], _Sheet]:
    truth: list[dict[str, object]] = []
    cells: list[list[object]] = []
    for owner in SUBSIDIARIES[:2]:
        for code, description in rng.sample(_EMPLOYMENT_TYPES, k=4):
            truth.append({"Owner": owner, "Code": code, "Description": description})
            cells.append([owner, code, description])
    truth.append({"Owner": "Data Ductus Luleå AB", "Code": "10", "Description": "Deltid 50 %"})
    cells.append(["Data Ductus Luleå AB", 10.0, "Deltid 50 %"])  # an integral float: "10"
    sheet = _Sheet(
        labels=["Owner", "Code", "Description"],
        cells=cells,
        json_rows=[[r["Owner"], r["Code"], r["Description"]] for r in truth],
    )
    return truth, sheet


def _cost_categories(_: str | None, rng: random.Random) -> tuple[list[dict[str, object]], _Sheet]:
    truth: list[dict[str, object]] = []
    cells: list[list[object]] = []
    json_rows: list[list[object]] = []
    editors = [f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}" for _ in range(3)]
    for number, (code, description) in enumerate(_COST_CATEGORIES):
        owner = _owner(rng)
        created = _moment(rng, 2022)
        modified: dt.datetime | None = created + dt.timedelta(days=rng.randrange(1, 300), seconds=7)
        if number == 2:
            modified = None
        if number == 4:
            modified = dt.datetime(2024, 1, 1)  # exactly midnight: reads as a date
        editor = rng.choice(editors)
        truth.append(
            {
                "Owner": owner,
                "Code": code,
                "Description": description,
                "Created": _stamp(created),
                "Modified": _stamp(modified),
            }
        )
        # The extra "Last Modified By" column sits between expected ones.
        created_cell: object = _stamp(created) if number == 5 else created  # typed as text once
        cells.append([owner, code, description, editor, created_cell, modified])
        json_rows.append([owner, code, description, editor, _stamp(created), _stamp(modified)])
    sheet = _Sheet(
        labels=["Owner", "Code", "Description", "Last Modified By", "Created", "Modified"],
        cells=cells,
        json_rows=json_rows,
    )
    return truth, sheet


def _project_cost_setups(
    _: str | None, rng: random.Random
) -> tuple[list[dict[str, object]], _Sheet]:
    truth: list[dict[str, object]] = []
    cells: list[list[object]] = []
    json_rows: list[list[object]] = []
    number = 0
    for project in _PROJECTS:
        for element in rng.sample(_COST_ELEMENTS, k=2):
            currency = rng.choice(("SEK", "SEK", "NOK", "EUR"))
            rate = Decimal(rng.randrange(65_000, 185_000)) / 100
            date_from = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(500))
            date_cell: object = date_from
            rate_cell: object = rate
            if number == 1:
                date_cell = _serial(date_from)  # a date stored as its serial number
            elif number == 3:
                date_cell = date_from.strftime("%d.%m.%Y")  # a date typed as text
            elif number == 5:
                date_cell = date_from.isoformat()
            if number == 2:
                rate = Decimal("1234.50")
                rate_cell = "1 234,50"  # a number stored as (Nordic) text
            elif number == 4:
                rate = Decimal("1234.5")
                rate_cell = "1,234.5"
            elif number == 6:
                rate = Decimal("980")
                rate_cell = "980"
            truth.append(
                {
                    "Object": "Projekt",
                    "Object Value": project,
                    "Cost Element": element,
                    "Date From": date_from,
                    "Cur": currency,
                    "Rate": rate,
                }
            )
            cells.append(["Projekt", project, element, date_cell, currency, rate_cell])
            json_date = (
                f"{date_from.isoformat()}T00:00:00" if number == 3 else date_from.isoformat()
            )
            json_rows.append(["Projekt", project, element, json_date, currency, rate])
            number += 1
    sheet = _Sheet(
        labels=["Object", "Object Value", "Cost Element", "Date From", "Cur", "Rate"],
        cells=cells,
        json_rows=json_rows,
        title="Project cost setups",  # a title row (and a blank row) above the header
    )
    return truth, sheet


def _cost_element_per_time_type(
    _: str | None, rng: random.Random
) -> tuple[list[dict[str, object]], _Sheet]:
    truth: list[dict[str, object]] = []
    cells: list[list[object]] = []
    json_rows: list[list[object]] = []
    for number, (time_type, factor) in enumerate(_TIME_TYPES):
        element = rng.choice(_COST_ELEMENTS)
        created = _moment(rng)
        modified = created + dt.timedelta(days=rng.randrange(1, 90), minutes=3)
        factor_cell: object = "1,5" if factor == Decimal("1.5") else factor
        row = [time_type, element, factor, _stamp(created), _stamp(modified)]
        truth.append(dict(zip(_TIME_TYPE_LABELS, row, strict=True)))
        # Created as a date-time cell, Modified as text, except the first row.
        modified_cell: object = modified if number == 0 else _stamp(modified)
        cells.append([time_type, element, factor_cell, created, modified_cell])
        json_rows.append(row)
    sheet = _Sheet(
        labels=list(_TIME_TYPE_LABELS),
        cells=cells,
        json_rows=json_rows,
    )
    return truth, sheet


def _part_time_employees(
    subsidiary: str | None, rng: random.Random
) -> tuple[list[dict[str, object]], _Sheet]:
    assert subsidiary is not None
    truth: list[dict[str, object]] = []
    cells: list[list[object]] = []
    json_rows: list[list[object]] = []
    base = 1000 + 100 * SUBSIDIARIES.index(subsidiary)
    for number in range(PART_TIME_ROWS.get(subsidiary, 3)):
        employee = base + rng.randrange(1, 99)
        name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
        percent, schedule_name = rng.choice(_SCHEDULES)
        schedule_code = str(percent) if number % 2 else f"WS{percent:03d}"
        date_from = dt.date(2022, 1, 1) + dt.timedelta(days=rng.randrange(800))
        date_to = date_from + dt.timedelta(days=rng.randrange(60, 500)) if number % 3 else None
        values: list[object] = [
            subsidiary,
            employee,
            schedule_code,
            name,
            schedule_name,
            date_from,
            date_to,
        ]
        truth.append(dict(zip(_PART_TIME_LABELS, values, strict=True)))
        written = list(values)
        if number % 2:
            written[2] = percent  # a numeric schedule code as a number cell: reads "80"
        if number == 2:
            written[1] = str(employee)  # an employee number stored as text
        if number == 3:
            written[5] = _serial(date_from)
        cells.append(written)
        json_rows.append(values)
    sheet = _Sheet(
        labels=[*_PART_TIME_LABELS[:-1], "Date  To"],  # a doubled space inside a label
        cells=cells,
        json_rows=json_rows,
        trailing_blank_rows=2,
    )
    return truth, sheet


def _generic(
    dataset: FlexlinkDataset, rng: random.Random
) -> tuple[list[dict[str, object]], _Sheet]:
    """Plain data for a catalog entry the sandbox has no hand-made generator for."""
    samples: dict[str, object] = {
        "text": "Åtgärd",
        "int": 7,
        "id": 7,
        "decimal": Decimal("12.5"),
        "date": dt.date(2024, 1, 31),
        "bool": True,
        "datetime": dt.datetime(2024, 1, 31, 8, 30),
    }
    labels = [c.label for c in dataset.columns]
    truth: list[dict[str, object]] = []
    for n in range(rng.randrange(2, 6)):
        truth.append(
            {
                c.label: f"{samples['text']} {n}" if c.type == "text" else samples[c.type]
                for c in dataset.columns
            }
        )
    rows = [[row[label] for label in labels] for row in truth]
    return truth, _Sheet(labels=labels, cells=rows, json_rows=rows)


# --- files ------------------------------------------------------------------------------------

_FIXED_TIME = dt.datetime(2024, 5, 1, 6, 0, 0)


def _xlsx(sheet: _Sheet) -> bytes:
    """A real workbook, styled roughly like Xledger's export (bold header, formatted cells)."""
    workbook = openpyxl.Workbook()
    workbook.properties.creator = "Xledger"
    workbook.properties.created = _FIXED_TIME
    workbook.properties.modified = _FIXED_TIME
    ws = workbook.active
    assert ws is not None
    ws.title = "Export"
    if sheet.title:
        ws.append([sheet.title])
        ws.cell(ws.max_row, 1).font = Font(bold=True, size=14)
        ws.append([])
    ws.append(sheet.labels)
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    for row in sheet.cells:
        ws.append(row)
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, dt.datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            elif isinstance(cell.value, dt.date):
                cell.number_format = "yyyy-mm-dd"
            elif isinstance(cell.value, Decimal):
                cell.number_format = "#,##0.00"
    for _ in range(sheet.trailing_blank_rows):
        ws.append(["  "] + [""] * (len(sheet.labels) - 1))  # "empty" rows Excel leaves behind
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _json(sheet: _Sheet) -> bytes:
    """The JSON variant; numbers are written as exact literals (Decimal), never via float."""
    fields = ",".join(_json_value({"title": " ".join(label.split())}) for label in sheet.labels)
    rows = ",\n".join("[" + ",".join(_json_value(v) for v in row) + "]" for row in sheet.json_rows)
    return f'{{"fields": [{fields}],\n"rows": [\n{rows}\n]}}\n'.encode()


def _json_value(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (dt.date, dt.datetime)):
        return json.dumps(value.isoformat())
    return json.dumps(value, ensure_ascii=False)


def _status_page(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return f"<!DOCTYPE html>\n<html><body><h1>{status} - {phrase}</h1></body></html>\n".encode()
