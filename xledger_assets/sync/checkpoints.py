"""Named points in a sync where a crash test can stop the process. A no-op in normal runs.

The crash-safety tests set ``XLEDGER_CHECKPOINT_HOOK=<module>:<function>`` in a subprocess; the
function is called with the checkpoint's name each time a sync passes one (and may block, or
kill the process). Without the variable :func:`checkpoint` only compares a global to None.

Names, in the order a sync passes them: ``sync.locked``, ``sync.page_read``,
``sync.batch_written``, ``sync.staged``, ``lake.publish_before``, ``lake.linked`` (local lake) or
``lake.block_staged`` (Azure lake), ``lake.published``, ``state.temp_written`` (local state),
``state.committed``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable

HOOK_VARIABLE = "XLEDGER_CHECKPOINT_HOOK"

_hook: Callable[[str], None] | None = None
_resolved = False


def _resolve() -> Callable[[str], None] | None:
    spec = os.environ.get(HOOK_VARIABLE, "").strip()
    if not spec:
        return None
    module, _, name = spec.partition(":")
    hook: Callable[[str], None] = getattr(importlib.import_module(module), name or "checkpoint")
    return hook


def checkpoint(name: str) -> None:
    """Tell the installed hook (if any) that a sync reached ``name``."""
    global _hook, _resolved
    if not _resolved:
        _hook = _resolve()
        _resolved = True
    if _hook is not None:
        _hook(name)
