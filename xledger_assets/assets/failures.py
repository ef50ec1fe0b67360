"""Expected failures reach the Dagster UI as one plain message, not a library traceback."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from xledger_assets.errors import XledgerAssetsError
from xledger_assets.redact import redact


@contextmanager
def plain_failures() -> Iterator[None]:
    try:
        yield
    except XledgerAssetsError as exc:
        raise dg.Failure(
            description=redact(str(exc)),
            metadata={"error": type(exc).__name__},
            allow_retries=False,
        ) from None
