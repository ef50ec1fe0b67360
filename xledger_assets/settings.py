"""Configuration from environment variables (the contract's names and defaults)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from xledger_assets.errors import ConfigurationError

DEFAULT_API_URL = "https://www.xledger.net/graphql"
DEFAULT_LAKE_URL = "./lake"
DEFAULT_STATE_URL = "./.xledger/state.json"
ENVIRONMENTS = ("local", "dev", "prod")
OWNER_SETS = ("CURRENT", "UPPER", "LOWER", "MINE", "ALL")

T = TypeVar("T")


def _number(
    env: Mapping[str, str],
    name: str,
    default: float,
    minimum: float,
    problems: list[str] | None = None,
) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        return _problem(f"{name}={raw!r} is not a number", default, problems)
    if value < minimum:
        return _problem(f"{name}={raw!r} must be at least {minimum:g}", default, problems)
    return value


def _problem(message: str, default: T, problems: list[str] | None) -> T:
    """Raise, or (when collecting) note the problem and go on with the default."""
    if problems is None:
        raise ConfigurationError(message)
    problems.append(message)
    return default


@dataclass(frozen=True)
class Settings:
    """Everything a run needs except secrets, which are read only where they are used."""

    api_url: str
    lake_url: str
    state_url: str
    env: str
    owner_set: str | None
    page_size: int
    refetch_chunk: int
    retention_margin: timedelta
    sensor_interval_seconds: int

    @staticmethod
    def from_env(
        env: Mapping[str, str] | None = None, problems: list[str] | None = None
    ) -> Settings:
        """The settings, or a ConfigurationError naming the first bad variable.

        With ``problems`` (a list), bad values are appended to it as messages and their
        defaults are used instead: the code location loads that way, and every run then fails
        at start with the message (the resources read the settings strictly).
        """
        env = os.environ if env is None else env
        name = env.get("XLEDGER_ENV", "local").strip() or "local"
        if name not in ENVIRONMENTS:
            name = _problem(
                f"XLEDGER_ENV={name!r} is not one of {', '.join(ENVIRONMENTS)}", "local", problems
            )
        owner_set = (env.get("XLEDGER_OWNER_SET") or "").strip().upper() or None
        if owner_set and owner_set not in OWNER_SETS:
            owner_set = _problem(
                f"XLEDGER_OWNER_SET={owner_set!r} is not one of {', '.join(OWNER_SETS)}",
                None,
                problems,
            )
        return Settings(
            api_url=(env.get("XLEDGER_API_URL") or DEFAULT_API_URL).strip(),
            lake_url=(env.get("XLEDGER_LAKE_URL") or DEFAULT_LAKE_URL).strip(),
            state_url=(env.get("XLEDGER_STATE_URL") or DEFAULT_STATE_URL).strip(),
            env=name,
            owner_set=owner_set,
            page_size=int(_number(env, "XLEDGER_PAGE_SIZE", 10_000, 1, problems)),
            refetch_chunk=int(_number(env, "XLEDGER_REFETCH_CHUNK", 1_000, 1, problems)),
            retention_margin=timedelta(
                hours=_number(env, "XLEDGER_DELTA_RETENTION_MARGIN_HOURS", 48, 0, problems)
            ),
            sensor_interval_seconds=int(
                _number(env, "XLEDGER_DELTA_SENSOR_INTERVAL_SECONDS", 3600, 30, problems)
            ),
        )


def api_token(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    token = (env.get("XLEDGER_API_TOKEN") or "").strip()
    if not token:
        raise ConfigurationError(
            "XLEDGER_API_TOKEN is not set: create an API token in Xledger (a domain "
            "administrator can) and put it in XLEDGER_API_TOKEN"
        )
    return token
