"""One sync in its own process, for the crash and concurrency tests::

    python -m xledger_assets_tests.reliability.sync_driver <dataset> <mode> <page_size>

Configured by the contract's variables (``XLEDGER_API_URL``, ``XLEDGER_API_TOKEN``,
``XLEDGER_LAKE_URL``, ``XLEDGER_STATE_URL``, ``AZURE_STORAGE_CONNECTION_STRING``). Prints
``STARTED``, then ``DONE <mode> <rows> <cursor>`` or ``FAILED <error class>: <message>`` (exit
status 3), and the checkpoint counts as ``CHECKPOINTS {...}``.
"""

from __future__ import annotations

import json
import os
import sys

from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.errors import XledgerAssetsError
from xledger_assets.lake import open_lake
from xledger_assets.settings import Settings, api_token
from xledger_assets.state import open_state_store
from xledger_assets.sync.engine import SyncEngine, SyncSettings
from xledger_assets.xledger.client import XledgerClient


def main(argv: list[str]) -> int:
    name, mode, page_size = argv[0], argv[1], int(argv[2])
    print("STARTED", flush=True)
    settings = Settings.from_env(os.environ)
    client = XledgerClient(settings.api_url, api_token(os.environ))
    engine = SyncEngine(
        client,
        open_lake(settings.lake_url),
        open_state_store(settings.state_url),
        settings=SyncSettings(page_size=page_size, refetch_chunk=page_size),
    )
    try:
        result = engine.run(DEFAULT_CATALOG.api_dataset(name), mode)
    except XledgerAssetsError as exc:
        print(f"FAILED {type(exc).__name__}: {exc}", flush=True)
        return 3
    finally:
        client.close()
        from xledger_assets_tests.reliability import crash_hook

        print("CHECKPOINTS " + json.dumps(dict(crash_hook.seen)), flush=True)
    print(f"DONE {result.mode} {result.rows} {result.cursor_after}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
