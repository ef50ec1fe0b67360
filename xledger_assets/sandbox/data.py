"""Deterministic, Nordic-flavoured seed data for the sandbox.

Records are stored exactly as the API serializes them: nested dicts of JSON values (decimals,
dates and ``Int64String`` ids as strings). A key missing from a nested dict resolves to ``null``.
Every entity draws from its own ``random.Random(f"{seed}:{entity}")``, so the records of one
entity do not depend on the sizes of the others.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

Record = dict[str, Any]


@dataclass(frozen=True)
class EntitySpec:
    """One Xledger entity as the API exposes it."""

    name: str  # dataset / lake folder name
    items_field: str
    deltas_field: str
    node_type: str
    id_list_type: str  # element type of filter.dbId_in
    string_ids: bool  # node dbId is an Int64String (serialized as a JSON string)
    id_base: int


# fmt: off
ENTITIES: dict[str, EntitySpec] = {
    e.name: e
    for e in (
        EntitySpec("timesheets", "timesheets", "timesheet_deltas", "Timesheet",
                   "Int64String!", True, 112706067815138),
        EntitySpec("projects", "projects", "project_deltas", "Project",
                   "Int!", False, 104512003300017),
        EntitySpec("employees", "employees", "employee_deltas", "Employee",
                   "Int!", False, 100231000004211),
        EntitySpec("customers", "customers", "customer_deltas", "Customer",
                   "Int!", False, 101877000120003),
        EntitySpec("suppliers", "suppliers", "supplier_deltas", "Supplier",
                   "Int!", False, 102433000512007),
        EntitySpec("transactions", "transactions", "transaction_deltas", "Transaction",
                   "Int64String!", False, 118820440000153),
        EntitySpec("ar_transactions", "arTransactions", "arTransaction_deltas", "ArTransaction",
                   "Int!", False, 119003770001021),
        EntitySpec("ap_transactions", "apTransactions", "apTransaction_deltas", "ApTransaction",
                   "Int!", False, 119105220004417),
    )
}
# fmt: on

_ALIASES: dict[str, str] = {}
for _spec in ENTITIES.values():
    _ALIASES[_spec.name] = _spec.name
    _ALIASES[_spec.items_field] = _spec.name
    _ALIASES[_spec.deltas_field] = _spec.name


def entity_spec(name: str) -> EntitySpec:
    """Look an entity up by dataset name, items root field or deltas root field."""
    try:
        return ENTITIES[_ALIASES[name]]
    except KeyError:
        raise KeyError(f"unknown entity {name!r}; expected one of {', '.join(ENTITIES)}") from None


# --------------------------------------------------------------------------------- vocabulary

# fmt: off
FIRST_NAMES = (
    "Åsa", "Björn", "Göran", "Märta", "Sölve", "Ingrid", "Lars", "Kjell", "Sigrid", "Bjørn",
    "Øystein", "Åse", "Håkan", "Jörgen", "Frida", "Linnéa", "Mikael", "Ragnhild", "Tor", "Søren",
    "Päivi", "Elin", "Maja", "Oskar", "Nils", "Ærlend", "Gunnel", "Stina", "Jonas", "Hege",
)
LAST_NAMES = (
    "Öberg", "Åkesson", "Lindqvist", "Ødegård", "Bråthen", "Sjöström", "Nyström", "Fjällström",
    "Holmgren", "Løvås", "Kärrman", "Strömberg", "Håland", "Grøndahl", "Jönsson", "Wikström",
    "Berg", "Söderlund", "Bäckström", "Mæland", "Öhman", "Ek", "Lundgren", "Østby",
)
# (place, zip code, country code)
PLACES = (
    ("Luleå", "972 31", "SE"), ("Umeå", "903 25", "SE"), ("Göteborg", "411 04", "SE"),
    ("Malmö", "211 20", "SE"), ("Västerås", "722 12", "SE"), ("Örebro", "702 10", "SE"),
    ("Kiruna", "981 31", "SE"), ("Skellefteå", "931 30", "SE"), ("Stockholm", "111 52", "SE"),
    ("Piteå", "941 33", "SE"), ("Tromsø", "9008", "NO"), ("Bodø", "8006", "NO"),
    ("Ålesund", "6002", "NO"), ("Bærum", "1337", "NO"), ("Trondheim", "7011", "NO"),
    ("Oslo", "0150", "NO"), ("Mo i Rana", "8622", "NO"),
)
STREETS = {
    "SE": (
        "Storgatan", "Kungsgatan", "Drottninggatan", "Sjögatan", "Köpmangatan", "Västra vägen",
        "Hamngatan", "Ågatan", "Södra Järnvägsgatan", "Skolgatan", "Smedjegatan",
    ),
    "NO": (
        "Storgata", "Kongens gate", "Sjøgata", "Øvre Slottsgate", "Fjordveien", "Bryggen",
        "Strandgata", "Dronningens gate", "Bakkegata",
    ),
}
COUNTRIES = {
    "SE": {"dbId": 752, "code": "SE", "description": "Sverige"},
    "NO": {"dbId": 578, "code": "NO", "description": "Norge"},
    "FI": {"dbId": 246, "code": "FI", "description": "Suomi"},
    "DK": {"dbId": 208, "code": "DK", "description": "Danmark"},
    "US": {"dbId": 840, "code": "US", "description": "USA"},
}
COMPANY_WORDS = (
    "Energi", "Bygg", "Fastigheter", "Elnät", "Gruvteknik", "Transport", "Sjømat", "Kraft",
    "Skog & Trä", "Hamn", "Data", "Vård", "Fjärrvärme", "Anläggning", "Bil & Maskin",
)
OWNERS = (
    ("Data Ductus AB", "DD", "1001"),
    ("Data Ductus Holding AB", "DDH", "1000"),
    ("Data Ductus Luleå AB", "DDL", "1002"),
    ("Tromb AB", "TRB", "1003"),
    ("Data Ductus Inc", "DDI", "1004"),
    ("Data Ductus Norge AS", "DDN", "1005"),
)
ACTIVITIES = (
    ("UTV", "Utveckling"), ("MÖT", "Möte"), ("RES", "Resa"), ("ADM", "Administration"),
    ("SUP", "Support"), ("UTB", "Utbildning"), ("DRF", "Drift & förvaltning"),
)
TIME_TYPES = (
    ("NORM", "Normaltid"), ("ÖT50", "Övertid 50 %"), ("ÖT100", "Övertid 100 %"),
    ("SEM", "Semester"), ("SJUK", "Sjukfrånvaro"), ("FLEX", "Flextid"), ("JOUR", "Jour"),
)
TIMESHEET_TEXTS = (
    "Möte med kund", "Felsökning i produktion", "Planering sprint 14", "Kodgranskning",
    'Workshop "arkitektur"', "Resa Luleå–Kiruna", "Dokumentation, del 2",
    "Uppföljning\nmed IT-chef", "Installation av server", "Support ärende #4711",
)
# code, description, translated, group code, group description, sys code, sys description
ACCOUNTS = (
    ("1510", "Kundfordringar", "Accounts receivable", "15", "Kundfordringar",
     "1500", "Fordringar"),
    ("1930", "Företagskonto", "Business account", "19", "Kassa och bank",
     "1900", "Likvida medel"),
    ("2440", "Leverantörsskulder", "Accounts payable", "24", "Kortfristiga skulder",
     "2400", "Skulder"),
    ("2610", "Utgående moms 25 %", "Output VAT 25%", "26", "Moms och punktskatter",
     "2600", "Moms"),
    ("2640", "Ingående moms", "Input VAT", "26", "Moms och punktskatter",
     "2600", "Moms"),
    ("3010", "Försäljning tjänster", "Sales of services", "30", "Försäljning",
     "3000", "Intäkter"),
    ("4010", "Inköp material", "Purchase of materials", "40", "Inköp",
     "4000", "Varukostnader"),
    ("5010", "Lokalhyra", "Rent of premises", "50", "Lokalkostnader",
     "5000", "Övriga kostnader"),
    ("6110", "Kontorsmateriel", "Office supplies", "61", "Kontorsmateriel och trycksaker",
     "6100", "Övriga kostnader"),
    ("7010", "Löner till tjänstemän", "Salaries to employees", "70", "Löner",
     "7000", "Personalkostnader"),
)
CURRENCIES = (
    ("SEK", "Svensk krona"), ("NOK", "Norsk krone"), ("EUR", "Euro"), ("USD", "US dollar"),
)
RATES = {"SEK": "1.000000", "NOK": "0.982300", "EUR": "11.523400", "USD": "10.714500"}
TAX_RULES = (
    ("U25", "Utgående moms 25 %"), ("U12", "Utgående moms 12 %"), ("I25", "Ingående moms 25 %"),
    ("NO25", "Utgående mva 25 %"), ("FRI", "Momsfri"),
)
TRANSACTION_SOURCES = (
    ("GL", "Huvudbok"), ("AR", "Kundreskontra"), ("AP", "Leverantörsreskontra"),
    ("PR", "Projekt"), ("SAL", "Lön"),
)
PROCESS_LEVELS = ("Registered", "Approved", "Posted")
TIMESHEET_STATUSES = ("Open", "Submitted", "Approved", "Rejected")
OBJECT_KINDS = ("Avdelning", "Kostnadsställe", "Projekt", "Produkt")
GL_OBJECT_NAMES = (
    "Luleå", "Umeå", "Stockholm", "Tromsø", "Drift", "Utveckling", "Försäljning", "Ledning",
    "Infrastruktur", "Säkerhet", "Øst", "Nord",
)
POSITIONS = ("Systemutvecklare", "Projektledare", "Konsult", "Arkitekt", "Drifttekniker", "VD")
POSITION_CATEGORIES = ("Tjänsteman", "Chef", "Specialist")
COMPENSATION_TYPES = (("MÅN", "Månadslön"), ("TIM", "Timlön"), ("PROV", "Provision"))
EMPLOYMENT_TYPES = (
    ("TV", "Tillsvidare"), ("PROV", "Provanställning"), ("VIK", "Vikariat"), ("DEL", "Deltid"),
)
EMPLOYEE_GROUPS = (("KONS", "Konsulter"), ("ADM", "Administration"), ("LED", "Ledning"))
EXIT_REASONS = (("EGEN", "Egen uppsägning"), ("PENS", "Pension"), ("AVSL", "Avslutad anställning"))
GENDERS = ("Female", "Male", "Other")
SUBLEDGER_GROUPS = (
    "Kunder Sverige", "Kunder Norge", "Koncernbolag", "Leverantörer Sverige", "Leverantörer utland",
)
# (description, index of the parent group)
PROJECT_GROUPS = (
    ("Alla projekt", None), ("Kundprojekt", 0), ("Interna projekt", 0),
    ("Offentlig sektor", 1), ("Industri", 1), ("Energi & gruv", 4), ("Förvaltning", 2),
    ("Kommuner i Norrbotten", 3), ("Gruvindustri Kiruna", 5), ("Vattenkraft Lule älv", 5),
)
FLEXI_CODES = (
    ("A", "Affärsområde A"), ("B", "Affärsområde B"), ("Ö", "Övrigt"), ("N", "Norrbotten"),
)
PROJECT_WORDS = (
    "Drift och förvaltning", "Molnmigrering", "Säkerhetsrevision", "Nätverksbyte",
    "Integrationsplattform", "Supportavtal", "Förstudie", "Utbyggnad fiber",
)
SLTR_TYPES = ("Invoice", "Credit note", "Payment", "Reminder fee")
# fmt: on

_ASCII = str.maketrans(
    {
        "å": "a",
        "ä": "a",
        "ö": "o",
        "ø": "o",
        "æ": "ae",
        "é": "e",
        "ü": "u",
        "Å": "A",
        "Ä": "A",
        "Ö": "O",
        "Ø": "O",
        "Æ": "AE",
    }
)


def _ascii(text: str) -> str:
    return text.translate(_ASCII).lower().replace(" ", "").replace("&", "")


def dec(rng: random.Random, lo: float, hi: float, scale: int) -> str:
    """An exact decimal string between lo and hi with ``scale`` decimals (may be negative)."""
    unit = 10**scale
    value = rng.randint(int(lo * unit), int(hi * unit))
    sign = "-" if value < 0 else ""
    digits = str(abs(value)).rjust(scale + 1, "0")
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"


def fmt_dt(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


class Pools:
    """Shared reference data (owners, people, accounts, ...), independent of entity sizes."""

    def __init__(self, seed: int | str, today: date) -> None:
        rng = random.Random(f"{seed}:pools")
        self.today = today
        ids = iter(range(109000000000000 + rng.randint(0, 10**6), 10**15, 17))
        self.owners = [
            {"dbId": str(next(ids)), "code": code, "description": name, "ownerCode": oc}
            for name, code, oc in OWNERS
        ]
        self.people = []
        for i in range(80):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            self.people.append((next(ids), str(1000 + i * 3), first, last))
        self.employee_refs = [
            {"dbId": pid, "code": code, "description": f"{first} {last}"}
            for pid, code, first, last in self.people
        ]
        self.projects = [
            {
                "dbId": next(ids),
                "code": f"P-{20100 + i * 7}",
                "description": f"{rng.choice(PROJECT_WORDS)} – {rng.choice(PLACES)[0]}",
            }
            for i in range(40)
        ]
        self.activities = [{"dbId": next(ids), "code": c, "description": d} for c, d in ACTIVITIES]
        self.time_types = [{"dbId": next(ids), "code": c, "description": d} for c, d in TIME_TYPES]
        self.timesheet_statuses = [{"name": n} for n in TIMESHEET_STATUSES]
        self.object_kinds = [{"dbId": next(ids), "name": n} for n in OBJECT_KINDS]
        self.gl_objects = [
            {
                "dbId": next(ids),
                "id": f"{rng.choice(OBJECT_KINDS)[:3].upper()}{100 + i}",
                "code": str(100 + i * 10),
                "description": name,
                "objectKind": rng.choice(self.object_kinds),
            }
            for i, name in enumerate(GL_OBJECT_NAMES)
        ]
        self.accounts = []
        for code, desc, trans, gcode, gdesc, scode, sdesc in ACCOUNTS:
            self.accounts.append(
                {
                    "dbId": next(ids),
                    "code": code,
                    "description": desc,
                    "descriptionTranslated": trans,
                    "accountGroup": {
                        "dbId": next(ids),
                        "code": gcode,
                        "codeTranslated": gcode,
                        "description": gdesc,
                    },
                    "sysAccount": {
                        "dbId": next(ids),
                        "code": scode,
                        "codeTranslated": f"S{scode}",
                        "description": sdesc,
                    },
                }
            )
        self.currencies = [{"dbId": next(ids), "code": c, "description": d} for c, d in CURRENCIES]
        self.tax_rules = [{"dbId": next(ids), "code": c, "description": d} for c, d in TAX_RULES]
        self.sources = [
            {"dbId": next(ids), "code": c, "description": d} for c, d in TRANSACTION_SOURCES
        ]
        self.process_levels = [{"name": n} for n in PROCESS_LEVELS]
        self.sltr_types = [{"name": n} for n in SLTR_TYPES]
        self.ar_ledger = {"name": "Customer ledger"}
        self.ap_ledger = {"name": "Supplier ledger"}
        self.periods = []
        year, month = today.year, today.month
        for _ in range(26):
            start = date(year, month, 1)
            nxt = date(year + (month == 12), month % 12 + 1, 1)
            self.periods.append(
                {
                    "dbId": next(ids),
                    "description": f"{year}-{month:02d}",
                    "fiscalYear": year,
                    "fromDate": start.isoformat(),
                    "toDate": (nxt - timedelta(days=1)).isoformat(),
                    "monthNumber": month,
                }
            )
            year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        self.subledger_groups = [
            {"dbId": next(ids), "code": str(10 + i), "description": d}
            for i, d in enumerate(SUBLEDGER_GROUPS)
        ]
        self.positions = [
            {"dbId": next(ids), "code": f"POS{i}", "description": d}
            for i, d in enumerate(POSITIONS)
        ]
        self.position_categories = [
            {"dbId": next(ids), "code": d[:3].upper(), "description": d}
            for d in POSITION_CATEGORIES
        ]
        self.compensation_types = [
            {"dbId": next(ids), "code": c, "description": d} for c, d in COMPENSATION_TYPES
        ]
        self.employment_types = [
            {"dbId": next(ids), "code": c, "description": d, "owner": rng.choice(self.owners)}
            for c, d in EMPLOYMENT_TYPES
        ]
        self.employee_groups = [
            {"dbId": next(ids), "code": c, "description": d} for c, d in EMPLOYEE_GROUPS
        ]
        self.exit_reasons = [
            {"dbId": next(ids), "code": c, "description": d} for c, d in EXIT_REASONS
        ]
        self.genders = [{"name": g} for g in GENDERS]
        self.flexi_codes = [
            {"dbId": next(ids), "code": c, "description": d} for c, d in FLEXI_CODES
        ]
        groups: list[dict[str, Any]] = []
        for i, (description, parent) in enumerate(PROJECT_GROUPS):
            group = {"dbId": next(ids), "code": f"PG{i + 1:02d}", "description": description}
            group["levelParent"] = None if parent is None else groups[parent]
            groups.append(group)
        self.project_groups = groups
        self.companies = [self._company(rng, next(ids), i) for i in range(60)]

    def _address(self, rng: random.Random, dbid: int | None = None) -> dict[str, Any]:
        place, zip_code, country = rng.choice(PLACES)
        street = f"{rng.choice(STREETS[country])} {rng.randint(1, 140)}"
        if rng.random() < 0.15:
            street += f" {rng.choice('ABC')}"
        out: dict[str, Any] = {
            "streetAddress": street,
            "zipCode": zip_code,
            "place": place,
            "fullAddress": f"{street}\n{zip_code} {place}",
            "country": COUNTRIES[country],
        }
        if dbid is not None:
            out["dbId"] = dbid
        return out

    def _company(self, rng: random.Random, dbid: int, index: int) -> dict[str, Any]:
        place, _, country = rng.choice(PLACES)
        form = "AB" if country == "SE" else "AS"
        name = f"{place} {rng.choice(COMPANY_WORDS)} {form}"
        if country == "SE":
            number = f"55{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
            phone = f"+46 {rng.randint(10, 99)}0 {rng.randint(10, 99)} {rng.randint(10, 99)} 00"
        else:
            number = f"9{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)}"
            phone = f"+47 {rng.randint(20, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} 00"
        address = self._address(rng, dbid + 1)
        return {
            "dbId": dbid,
            "code": f"C{1000 + index}",
            "description": name,
            "companyNumber": number,
            "country": COUNTRIES[country]["description"],
            "email": None
            if rng.random() < 0.1
            else f"info@{_ascii(place)}{index}.{country.lower()}",
            "phone": None if rng.random() < 0.1 else phone,
            "address": address,
            "billAddress": address if rng.random() < 0.6 else self._address(rng, dbid + 2),
            "shipAddress": None if rng.random() < 0.3 else self._address(rng, dbid + 3),
        }


# ------------------------------------------------------------------------------- generators


class Generator:
    """Makes records for one entity from its own random stream."""

    def __init__(self, spec: EntitySpec, pools: Pools, seed: int | str) -> None:
        self.spec = spec
        self.pools = pools
        self.rng = random.Random(f"{seed}:{spec.name}")
        self.make: Callable[[int, datetime], Record] = getattr(self, f"_make_{spec.name}")
        self.change: Callable[[Record, datetime], Record] = getattr(self, f"_change_{spec.name}")
        self.next_id = spec.id_base + self.rng.randint(0, 10**6)

    @property
    def _anchor(self) -> datetime:
        """Midnight starting the sandbox's first day: seeded records lie before it."""
        today = self.pools.today
        return datetime(today.year, today.month, today.day)

    def new_id(self) -> int:
        self.next_id += self.rng.randint(1, 37)
        return self.next_id

    def seed_records(self, n: int, anchor: datetime, span_days: int) -> list[Record]:
        """``n`` records created in the ``span_days`` before ``anchor``, oldest first."""
        rng = self.rng
        span = span_days * 86400
        offsets = sorted(rng.randrange(1, span) for _ in range(n))
        out = []
        for off in reversed(offsets):
            out.append(self.make(self.new_id(), anchor - timedelta(seconds=off)))
        # dbIds grow with creation time; modifiedAt lies between createdAt and the anchor
        for rec in out:
            if "modifiedAt" in rec and rng.random() < 0.3:
                created = datetime.fromisoformat(rec["createdAt"])
                gap = int((anchor - created).total_seconds())
                rec["modifiedAt"] = fmt_dt(created + timedelta(seconds=rng.randrange(0, gap)))
        return out

    # -- helpers
    def _id(self, dbid: int) -> int | str:
        return str(dbid) if self.spec.string_ids else dbid

    def _stamp(self, created: datetime) -> dict[str, str]:
        s = fmt_dt(created)
        return {"createdAt": s, "modifiedAt": s}

    # -- timesheets
    def _make_timesheets(self, dbid: int, created: datetime) -> Record:
        rng, p = self.rng, self.pools
        assignment = (created - timedelta(days=rng.randint(0, 4))).date()
        approved = rng.random() < 0.6
        approve_after = timedelta(hours=rng.randint(1, 72))
        hours = dec(rng, 0, 10, 2) if rng.random() < 0.97 else dec(rng, -4, 0, 2)
        return {
            "dbId": self._id(dbid),
            **self._stamp(created),
            "assignmentDate": assignment.isoformat(),
            "workingHours": hours,
            "isHeaderApproved": approved,
            "headerApprovedAt": fmt_dt(max(created, min(created + approve_after, self._anchor)))
            if approved
            else None,
            "hourlyRevenueCurrency": dec(rng, 650, 1850, 4),
            "text": rng.choice(TIMESHEET_TEXTS) if rng.random() < 0.7 else None,
            "owner": rng.choice(p.owners),
            "employee": rng.choice(p.employee_refs),
            "activity": rng.choice(p.activities),
            "timeType": rng.choice(p.time_types),
            "project": None if rng.random() < 0.1 else rng.choice(p.projects),
            "timesheetStatus": p.timesheet_statuses[2]
            if approved
            else rng.choice(p.timesheet_statuses),
        }

    def _change_timesheets(self, rec: Record, now: datetime) -> Record:
        rng = self.rng
        approved = rng.random() < 0.5
        return {
            **rec,
            "modifiedAt": fmt_dt(now),
            "workingHours": dec(rng, 0, 10, 2),
            "text": rng.choice(TIMESHEET_TEXTS),
            "isHeaderApproved": approved,
            "headerApprovedAt": fmt_dt(now) if approved else None,
            "timesheetStatus": self.pools.timesheet_statuses[2 if approved else 1],
        }

    # -- projects
    def _make_projects(self, dbid: int, created: datetime) -> Record:
        rng, p = self.rng, self.pools
        customer_company = rng.choice(p.companies)
        start = created.date()
        person = rng.choice(p.employee_refs)
        return {
            "dbId": dbid,
            **self._stamp(created),
            "code": f"P-{dbid % 100000:05d}",
            "description": f"{rng.choice(PROJECT_WORDS)} – {customer_company['description']}",
            "fromDate": start.isoformat(),
            "toDate": None
            if rng.random() < 0.3
            else (start + timedelta(days=rng.randint(30, 900))).isoformat(),
            "shortInfo": None if rng.random() < 0.4 else f"Ramavtal {rng.randint(2019, 2025)}",
            "shortInternalInfo": None
            if rng.random() < 0.6
            else "Fakturera kvartalsvis; ÄTA separat",
            "yourReference": None
            if rng.random() < 0.3
            else f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            "owner": rng.choice(p.owners),
            "customer": None
            if rng.random() < 0.1
            else {
                "dbId": customer_company["dbId"] + 7,
                "code": f"K{customer_company['code'][1:]}",
                "description": customer_company["description"],
                "email": customer_company["email"],
                "address": {"country": customer_company["address"]["country"]},
            },
            "company": {
                k: customer_company[k]
                for k in ("dbId", "code", "description", "companyNumber", "country")
            },
            "glObject1": None if rng.random() < 0.2 else rng.choice(p.gl_objects),
            "projectManager": None
            if rng.random() < 0.1
            else {"dbId": person["dbId"], "description": person["description"]},
            "projectGroup": None if rng.random() < 0.1 else rng.choice(p.project_groups),
            "flexiFieldsItem": {
                "code1": rng.choice(p.flexi_codes),
                "code2": None if rng.random() < 0.3 else rng.choice(p.flexi_codes),
            },
        }

    def _change_projects(self, rec: Record, now: datetime) -> Record:
        rng = self.rng
        return {
            **rec,
            "modifiedAt": fmt_dt(now),
            "description": f"{rng.choice(PROJECT_WORDS)} – etapp {rng.randint(2, 9)}",
            "toDate": (now.date() + timedelta(days=rng.randint(10, 400))).isoformat(),
            "shortInfo": f"Förlängt {now.date().isoformat()}",
        }

    # -- employees
    def _make_employees(self, dbid: int, created: datetime) -> Record:
        rng, p = self.rng, self.pools
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        start = created.date() - timedelta(days=rng.randint(0, 60))
        left = rng.random() < 0.15
        end = start + timedelta(days=rng.randint(90, 2000)) if left else None
        birthday = date(rng.randint(1960, 2003), rng.randint(1, 12), rng.randint(1, 28))
        today = p.today
        age = (
            today.year - birthday.year - ((today.month, today.day) < (birthday.month, birthday.day))
        )
        superior = rng.choice(p.employee_refs)
        owner = rng.choice(p.owners)
        return {
            "dbId": dbid,
            **self._stamp(created),
            "code": str(dbid % 100000),
            "description": f"{first} {last}",
            "email": None
            if rng.random() < 0.05
            else f"{_ascii(first)}.{_ascii(last)}@dataductus.se",
            "employmentFrom": start.isoformat(),
            "employmentTo": end.isoformat() if end else None,
            "owner": owner,
            "positionValue": rng.choice(p.positions),
            "positionCategory": None if rng.random() < 0.1 else rng.choice(p.position_categories),
            "compensationType": rng.choice(p.compensation_types),
            "employmentType": rng.choice(p.employment_types),
            "employeeGroup": None if rng.random() < 0.15 else rng.choice(p.employee_groups),
            "contact": None
            if rng.random() < 0.08
            else {
                "dbId": dbid + 3,
                "name": f"{first} {last}",
                "firstName": first,
                "lastName": last,
                "birthday": birthday.isoformat(),
                "age": age,
                "country": COUNTRIES["NO" if owner["code"] == "DDN" else "SE"],
                "gender": rng.choice(p.genders),
            },
            "exitReason": rng.choice(p.exit_reasons) if left else None,
            "glObject1": rng.choice(p.gl_objects),
            "superior": None if rng.random() < 0.2 else {"description": superior["description"]},
            "flexiFieldsItem": None
            if rng.random() < 0.1
            else {
                "code1": None if rng.random() < 0.3 else rng.choice(p.flexi_codes),
                "code2": None if rng.random() < 0.5 else rng.choice(p.flexi_codes),
            },
        }

    def _change_employees(self, rec: Record, now: datetime) -> Record:
        rng = self.rng
        out = {**rec, "modifiedAt": fmt_dt(now)}
        out["email"] = f"{_ascii(rec['description'] or 'x')}.{rng.randint(1, 99)}@dataductus.se"
        if rng.random() < 0.3:
            out["employmentTo"] = (now.date() + timedelta(days=rng.randint(1, 90))).isoformat()
            out["exitReason"] = rng.choice(self.pools.exit_reasons)
        out["employeeGroup"] = rng.choice(self.pools.employee_groups)
        return out

    # -- customers
    def _make_customers(self, dbid: int, created: datetime) -> Record:
        rng, p = self.rng, self.pools
        company = rng.choice(p.companies)
        number = 10000 + dbid % 90000
        account = p.accounts[0] if rng.random() < 0.8 else p.accounts[1]
        return {
            "dbId": dbid,
            **self._stamp(created),
            "code": f"K{number}",
            "description": company["description"],
            "email": None
            if rng.random() < 0.1
            else f"faktura@{_ascii(company['address']['place'])}.se",
            "number": number,
            "owner": rng.choice(p.owners),
            "company": company,
            "address": company["address"],
            "subledgerGroup": rng.choice(p.subledger_groups[:3]),
            "accountsPayableAccount": None if rng.random() < 0.1 else account,
        }

    def _change_customers(self, rec: Record, now: datetime) -> Record:
        rng = self.rng
        return {
            **rec,
            "modifiedAt": fmt_dt(now),
            "email": f"ekonomi{rng.randint(1, 99)}@{_ascii(rng.choice(PLACES)[0])}.se",
            "description": f"{rec['description']} (ny adress)"
            if rng.random() < 0.5
            else rec["description"],
            "subledgerGroup": rng.choice(self.pools.subledger_groups[:3]),
        }

    # -- suppliers
    def _make_suppliers(self, dbid: int, created: datetime) -> Record:
        rng, p = self.rng, self.pools
        company = rng.choice(p.companies)
        number = 20000 + dbid % 80000
        country = company["address"]["country"]["code"]
        bank = (
            f"{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
            if country == "SE"
            else f"{rng.randint(1000, 9999)}.{rng.randint(10, 99)}.{rng.randint(10000, 99999)}"
        )
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        return {
            "dbId": dbid,
            **self._stamp(created),
            "code": f"L{number}",
            "description": company["description"],
            "number": number,
            "phone": company["phone"],
            "bankAccount": None if rng.random() < 0.1 else bank,
            "notes": None if rng.random() < 0.7 else "Betalningsvillkor 30 dagar; kräver PO-nummer",
            "owner": rng.choice(p.owners),
            "company": company,
            "subledgerGroup": rng.choice(p.subledger_groups[3:]),
            "address": self.pools._address(rng, dbid + 5),
            "contact": None
            if rng.random() < 0.2
            else {"dbId": dbid + 9, "name": f"{first} {last}"},
        }

    def _change_suppliers(self, rec: Record, now: datetime) -> Record:
        rng = self.rng
        return {
            **rec,
            "modifiedAt": fmt_dt(now),
            "phone": f"+46 920 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
            "notes": rng.choice(("Ny kontaktperson", "Spärrad för nya inköp", None)),
        }

    # -- transactions
    def _gl_dimension(self) -> dict[str, Any]:
        rng, p = self.rng, self.pools
        return {
            "glObject1": None if rng.random() < 0.1 else rng.choice(p.gl_objects),
            "glObject2": None if rng.random() < 0.6 else rng.choice(p.gl_objects),
        }

    def _header(self, posted: date, number: int) -> dict[str, Any]:
        rng, p = self.rng, self.pools
        return {
            "postedDate": posted.isoformat(),
            "trProcessLevel": rng.choice(p.process_levels),
            "transactionSource": rng.choice(p.sources),
            "trRegNumber": rng.randint(1, 999999),
            "transactionNumber": number,
        }

    def _period(self, day: date) -> dict[str, Any]:
        key = f"{day.year}-{day.month:02d}"
        for period in self.pools.periods:
            if period["description"] == key:
                return period
        return self.pools.periods[-1]

    def _make_transactions(self, dbid: int, created: datetime) -> Record:
        rng, p = self.rng, self.pools
        posted = created.date()
        amount = dec(rng, -250000, 250000, 2)
        company = rng.choice(p.companies)
        return {
            "dbId": self._id(dbid),
            **self._stamp(created),
            "text": None
            if rng.random() < 0.2
            else f"Ver {dbid % 100000} {rng.choice(PROJECT_WORDS)}",
            "owner": rng.choice(p.owners),
            "account": rng.choice(p.accounts),
            "company": None
            if rng.random() < 0.3
            else {"description": company["description"], "address": company["address"]},
            "glDimension": self._gl_dimension(),
            "currency": p.currencies[0] if rng.random() < 0.8 else rng.choice(p.currencies),
            "amount": amount,
            "invoiceAmount": None if rng.random() < 0.4 else amount,
            "taxRule": None if rng.random() < 0.3 else rng.choice(p.tax_rules),
            "taxAmount": dec(rng, -60000, 60000, 2),
            "header": self._header(posted, 100000 + dbid % 900000),
            "period": self._period(posted),
        }

    def _change_transactions(self, rec: Record, now: datetime) -> Record:
        rng = self.rng
        amount = dec(rng, -250000, 250000, 2)
        return {
            **rec,
            "modifiedAt": fmt_dt(now),
            "text": f"Rättelse {now.date().isoformat()}",
            "amount": amount,
            "invoiceAmount": amount,
        }

    # -- AR / AP transactions
    def _make_subledger(self, dbid: int, created: datetime, ap: bool) -> Record:
        rng, p = self.rng, self.pools
        company = rng.choice(p.companies)
        invoice_date = created.date()
        due = invoice_date + timedelta(days=rng.choice((10, 15, 30, 45, 60)))
        paid = rng.random() < 0.6
        payment = due + timedelta(days=rng.randint(-10, 20)) if paid else None
        if payment is not None and payment > max(self.pools.today, invoice_date):
            paid, payment = False, None
        currency = p.currencies[0] if rng.random() < 0.7 else rng.choice(p.currencies)
        amount = dec(rng, 100, 500000, 2)
        if rng.random() < 0.1:
            amount = "-" + amount  # credit note
        if ap:
            amount = amount[1:] if amount.startswith("-") else "-" + amount
        remaining = "0.00" if paid else amount
        return {
            "dbId": dbid,
            **self._stamp(created),
            "owner": rng.choice(p.owners),
            "company": company,
            "billAddress": None if rng.random() < 0.2 else company["billAddress"],
            "account": p.accounts[2] if ap else p.accounts[0],
            "slTransactionType": rng.choice(p.sltr_types),
            "glDimension": self._gl_dimension(),
            "ledgerType": p.ap_ledger if ap else p.ar_ledger,
            "transactionHeader": self._header(invoice_date, 300000 + dbid % 600000),
            "period": self._period(invoice_date),
            "invoiceDate": invoice_date.isoformat(),
            "dueDate": due.isoformat(),
            "paymentDate": payment.isoformat() if payment else None,
            "currency": currency,
            "exchangeRate": RATES[str(currency["code"])],
            "amount": amount,
            "invoiceAmount": amount,
            "invoiceRemaining": remaining,
            "bankAccount": None if rng.random() < 0.3 else self._iban(),
        }

    def _iban(self) -> str:
        r = self.rng.randint
        return f"SE{r(10, 99)} 5000 0000 0{r(100, 999)} {r(1000, 9999)} {r(1000, 9999)}"

    def _change_subledger(self, rec: Record, now: datetime) -> Record:
        return {
            **rec,
            "modifiedAt": fmt_dt(now),
            "paymentDate": now.date().isoformat(),
            "invoiceRemaining": "0.00",
        }

    def _make_ar_transactions(self, dbid: int, created: datetime) -> Record:
        return self._make_subledger(dbid, created, ap=False)

    def _make_ap_transactions(self, dbid: int, created: datetime) -> Record:
        return self._make_subledger(dbid, created, ap=True)

    def _change_ar_transactions(self, rec: Record, now: datetime) -> Record:
        return self._change_subledger(rec, now)

    def _change_ap_transactions(self, rec: Record, now: datetime) -> Record:
        return self._change_subledger(rec, now)


# how far back seeded records were created, per entity
SPAN_DAYS = {
    "timesheets": 75,
    "projects": 1500,
    "employees": 2500,
    "customers": 2000,
    "suppliers": 2000,
    "transactions": 365,
    "ar_transactions": 365,
    "ap_transactions": 365,
}
