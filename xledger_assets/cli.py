"""``xledger-assets``: operator commands for the sync state.

::

    xledger-assets state show [--json]          every dataset's state (cursor, mode, last run)
    xledger-assets state reset <dataset> --yes  forget a dataset's state: next run is a full load
    xledger-assets state import-legacy [--dataset X]
                                                import the predecessor app's cursors (App
                                                Configuration only) where no state exists yet

The store comes from ``XLEDGER_STATE_URL`` and ``XLEDGER_ENV`` (the App Configuration label), as
for the code location. Errors print one line to stderr and exit with status 2; secrets (the
connection string's Secret) are never printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.errors import XledgerAssetsError
from xledger_assets.redact import redact
from xledger_assets.settings import Settings
from xledger_assets.state import StateStore, open_state_store
from xledger_assets.state.base import SyncState

PROG = "xledger-assets"
EXIT_ERROR = 2


class CliError(Exception):
    """A usage or operator error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see {self.prog} --help)")


def all_datasets() -> list[str]:
    return [d.name for d in DEFAULT_CATALOG.api] + [d.name for d in DEFAULT_CATALOG.flexlinks]


def delta_datasets() -> list[str]:
    return [d.name for d in DEFAULT_CATALOG.api if d.deltas_field is not None]


def _check_dataset(name: str) -> str:
    if name not in all_datasets():
        raise CliError(f"unknown dataset {name!r}; known datasets: {', '.join(all_datasets())}")
    return name


def _open(settings: Settings) -> StateStore:
    return open_state_store(settings.state_url, env_label=settings.env)


def _where(store: StateStore, settings: Settings) -> str:
    from xledger_assets.state.appconfig import AppConfigStateStore

    if isinstance(store, AppConfigStateStore):
        return f"App Configuration {store.url} (label {store.label})"
    return f"{store.url} (XLEDGER_ENV {settings.env})"


# -- commands ----------------------------------------------------------------------------------


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    store = _open(settings)
    states = store.all()
    names = all_datasets() + sorted(set(states) - set(all_datasets()))
    legacy_found: list[str] = []
    from xledger_assets.state.appconfig import AppConfigStateStore

    if isinstance(store, AppConfigStateStore):
        for name in delta_datasets():
            if name not in states:
                found = store.legacy_state(name)
                if found is not None and found.importable:
                    legacy_found.append(name)
    if args.json:
        doc: dict[str, Any] = {
            "store": store.url,
            "env": settings.env,
            "datasets": {n: (states[n].to_json() if n in states else None) for n in names},
        }
        if isinstance(store, AppConfigStateStore):
            doc["label"] = store.label
            doc["legacy_importable"] = legacy_found
        print(json.dumps(doc, indent=2))
        return 0
    print(f"State: {_where(store, settings)}")
    rows = [("dataset", "mode", "version", "last success", "cursor", "last file")]
    for n in names:
        s: SyncState | None = states.get(n)
        if s is None:
            rows.append((n, "-", "-", "-", "-", "-"))
        else:
            rows.append(
                (n, s.mode, str(s.version), s.last_success, s.cursor or "-", s.last_file or "-")
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    if legacy_found:
        print(
            "Predecessor state found (the next sync or `state import-legacy` imports it): "
            + ", ".join(legacy_found)
        )
    return 0


def cmd_reset(args: argparse.Namespace, settings: Settings) -> int:
    dataset = _check_dataset(args.dataset)
    if not args.yes:
        raise CliError(
            f"state reset forgets the delta cursor of {dataset}, so its next run is a full "
            "load; add --yes to confirm"
        )
    store = _open(settings)
    existed = store.reset(dataset)
    if existed:
        print(f"{dataset}: state reset; the next run is a full load")
    else:
        print(f"{dataset}: had no state; the next run is a full load")
    return 0


def cmd_import_legacy(args: argparse.Namespace, settings: Settings) -> int:
    from xledger_assets.state.appconfig import AppConfigStateStore

    if args.dataset is not None:
        dataset = _check_dataset(args.dataset)
        if dataset not in delta_datasets():
            raise CliError(f"{dataset} has no delta cursor (every run is a full load)")
        datasets = [dataset]
    else:
        datasets = delta_datasets()
    store = _open(settings)
    if not isinstance(store, AppConfigStateStore):
        raise CliError(
            "import-legacy reads the predecessor's keys from Azure App Configuration: set "
            "XLEDGER_STATE_URL to its endpoint or connection string"
        )
    print(f"State: {_where(store, settings)}")
    for name in datasets:
        result = store.import_legacy_state(name)
        if result.outcome == "imported":
            assert result.state is not None and result.legacy is not None
            print(
                f"{name}: imported cursor {result.state.cursor!r} from "
                f"{result.legacy.source_key}; the next sync continues with changes"
            )
        elif result.outcome == "exists":
            version = result.state.version if result.state else "?"
            print(f"{name}: already has state (version {version}); left as it is")
        elif result.legacy is None:
            print(f"{name}: no predecessor state")
        else:
            print(f"{name}: predecessor state not imported ({result.legacy.reason})")
    return 0


# -- entry point -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Operator commands of the Xledger sync.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (to stderr)")
    groups = parser.add_subparsers(dest="group", metavar="{state}", parser_class=_Parser)
    groups.required = True
    state = groups.add_parser("state", help="the sync state (delta cursors) of the datasets")
    commands = state.add_subparsers(dest="command", metavar="{show,reset,import-legacy}")
    commands.required = True

    show = commands.add_parser("show", help="every dataset's state")
    show.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show.set_defaults(func=cmd_show)

    reset = commands.add_parser("reset", help="forget a dataset's state (next run: full load)")
    reset.add_argument("dataset")
    reset.add_argument("--yes", action="store_true", help="confirm")
    reset.set_defaults(func=cmd_reset)

    imp = commands.add_parser(
        "import-legacy", help="import the predecessor app's delta cursors where no state exists"
    )
    imp.add_argument("--dataset", help="only this dataset (default: every dataset with deltas)")
    imp.set_defaults(func=cmd_import_legacy)
    return parser


def _fail(message: str) -> int:
    print(f"{PROG}: error: {redact(message)}", file=sys.stderr)
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except CliError as exc:
        return _fail(str(exc))
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format=f"{PROG}: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = Settings.from_env(os.environ)
        return int(args.func(args, settings))
    except BrokenPipeError:  # output piped into `head` and the like
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (CliError, XledgerAssetsError) as exc:
        return _fail(" ".join(str(exc).split()))
    except Exception as exc:  # one line, no traceback; XLEDGER_DEBUG=1 shows it
        if os.environ.get("XLEDGER_DEBUG"):
            raise
        return _fail(f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())}")


if __name__ == "__main__":
    sys.exit(main())
