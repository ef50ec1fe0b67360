"""Which links to download for a flexlink dataset, read from its environment variable.

The URL is the credential (its ``t=`` token), so it is registered for redaction the moment it is
read, and no message here ever echoes a variable's value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from xledger_assets.catalog import FlexlinkDataset
from xledger_assets.errors import ConfigurationError
from xledger_assets.redact import register_secret

SourceFormat = Literal["xlsx", "json"]

_RAW_TOKEN = re.compile(r"[?&]t=([^&#\"\s]+)")


@dataclass(frozen=True)
class FlexlinkSource:
    """One link to download, and the words to use for it in messages.

    ``url`` is kept out of ``repr`` so that a logged or printed source leaks nothing.
    """

    dataset: str
    env_var: str
    subsidiary: str | None
    url: str = field(repr=False)

    @property
    def key(self) -> str:
        """The name in ``rows_per_source``: the subsidiary, or the dataset for a single link."""
        return self.subsidiary if self.subsidiary is not None else self.dataset

    @property
    def describe(self) -> str:
        """ "the flexlink for employee_groups" (plus the subsidiary for per-subsidiary links)."""
        if self.subsidiary is None:
            return f"the flexlink for {self.dataset}"
        return f"the flexlink for {self.dataset} (subsidiary {self.subsidiary!r})"

    @property
    def update_hint(self) -> str:
        """What the operator has to change when the link is dead."""
        if self.subsidiary is None:
            return f"update {self.env_var}"
        return f"update the {self.subsidiary!r} entry of {self.env_var}"

    @property
    def expected_format(self) -> SourceFormat | None:
        """The format the URL promises (``.xlsx``/``.json`` path), or None to sniff the body."""
        path = urlsplit(self.url).path.lower()
        if path.endswith(".json"):
            return "json"
        if path.endswith((".xlsx", ".xlsm")):
            return "xlsx"
        return None


def flexlink_sources(
    dataset: FlexlinkDataset, env: Mapping[str, str]
) -> tuple[FlexlinkSource, ...]:
    """The links of ``dataset``, in the order their rows will appear in the table.

    Raises :class:`ConfigurationError` naming the variable when it is missing, empty, malformed,
    or holds something that is not an http(s) URL.
    """
    name = dataset.env_var
    raw = env.get(name)
    if raw is None or not raw.strip():
        what = "JSON object of subsidiary -> flexlink URL" if dataset.per_subsidiary else "URL"
        state = "is not set" if raw is None else "is empty"
        raise ConfigurationError(
            f"{name} {state}: set it to the flexlink {what} for {dataset.name} "
            "(Xledger UI: Create Export Link on the table, exported as Excel)"
        )
    if not dataset.per_subsidiary:
        url = raw.strip()
        _register(url)
        _check_url(url, name)
        return (FlexlinkSource(dataset.name, name, None, url),)
    return tuple(
        FlexlinkSource(dataset.name, name, subsidiary, url)
        for subsidiary, url in _subsidiary_links(raw, name).items()
    )


def _subsidiary_links(raw: str, name: str) -> dict[str, str]:
    """Parse ``{"<subsidiary>": "<url>", ...}``; messages give positions, never values."""
    # Register tokens before parsing: even an unparsable value must not leak through a log.
    for match in _RAW_TOKEN.finditer(raw):
        register_secret(match.group(1))
    duplicates: list[str] = []

    def pairs_hook(pairs: list[tuple[str, object]]) -> dict[str, object]:
        out: dict[str, object] = {}
        for key, value in pairs:
            if key in out:
                duplicates.append(key)
            out[key] = value
        return out

    problem: str | None = None
    doc: object = None
    try:
        doc = json.loads(raw, object_pairs_hook=pairs_hook)
    except json.JSONDecodeError as exc:
        # JSONDecodeError keeps the whole document (URLs and tokens) in .doc: build the message
        # from the position only and raise outside this block so it is not chained.
        problem = f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    if problem is None:
        # Register every string first, so even the error paths below cannot leak a token.
        if isinstance(doc, dict):
            for value in doc.values():
                if isinstance(value, str):
                    _register(value.strip())
        if not isinstance(doc, dict):
            problem = f"must be a JSON object, not a JSON {_json_kind(doc)}"
        elif not doc:
            problem = "is an empty JSON object: it needs at least one subsidiary"
        elif duplicates:
            problem = f"names the subsidiary {duplicates[0]!r} twice"
    if problem is not None:
        raise ConfigurationError(f'{name} {problem}; expected {{"<subsidiary>": "<url>", ...}}')
    assert isinstance(doc, dict)
    links: dict[str, str] = {}
    for subsidiary, value in doc.items():
        if not subsidiary.strip():
            raise ConfigurationError(f"{name} has an entry with an empty subsidiary name")
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError(
                f"{name}: the entry for {subsidiary!r} must be a non-empty URL string, "
                f"not a JSON {_json_kind(value)}"
            )
        url = value.strip()
        _check_url(url, f"{name} (entry {subsidiary!r})")
        links[subsidiary] = url
    return links


def _register(url: str) -> None:
    """Register the URL's ``t=`` token(s) as secrets (the whole URL is masked through them)."""
    try:
        query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    except ValueError:
        return
    for key, value in query:
        if key.lower() == "t":
            register_secret(value)


def _check_url(url: str, where: str) -> None:
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise ConfigurationError(
            f"{where} is not an http(s) URL; expected a flexlink like "
            "https://www.xledger.net/Flex/<id>.xlsx?t=<token>"
        )


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
