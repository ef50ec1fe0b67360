"""The deltas a sensor run was handed, and its one combined re-fetch, shared by its steps.

The delta sensor starts one run for all datasets that changed in a tick, with each dataset's
deltas in its run config (:mod:`xledger_assets.sync.handoff`). The first dataset of the run to
sync asks for the ADDED and UPDATED records of all of them in one request; the others take
their part. That is one Xledger request per changed tick, whatever the number of datasets.

Runs of the sensor's job execute in one process (``in_process`` executor), so the batch is kept
in memory per run; it holds at most ``HANDOFF_LIMIT`` records per dataset.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from xledger_assets.catalog import ApiDataset
from xledger_assets.sync.handoff import DeltaHandoff

if TYPE_CHECKING:
    from xledger_assets.sync.engine import SyncEngine

HANDOFF_CONFIG_KEY = "handoff"


class ChangesBatch:
    def __init__(self, datasets: Sequence[ApiDataset], handoffs: Mapping[str, DeltaHandoff]):
        self.datasets = tuple(datasets)
        self.handoffs = dict(handoffs)
        self._fetched: dict[str, dict[int, Any]] | None = None
        self._lock = threading.Lock()

    def handoff(self, name: str) -> DeltaHandoff | None:
        return self.handoffs.get(name)

    def take(self, engine: SyncEngine, name: str) -> dict[int, Any] | None:
        """This dataset's re-fetched records (the combined request runs on the first call),
        or None: the dataset re-fetches by itself."""
        with self._lock:
            if self._fetched is None:
                self._fetched = engine.prefetch_changes(self.datasets, self.handoffs)
            return self._fetched.pop(name, None)


def handoffs_from_run_config(
    run_config: Mapping[str, Any], datasets: Sequence[ApiDataset]
) -> dict[str, DeltaHandoff]:
    """The handoffs of a run config ``{"ops": {<dataset>: {"config": {"handoff": ...}}}}``."""
    ops = run_config.get("ops") if isinstance(run_config, Mapping) else None
    out: dict[str, DeltaHandoff] = {}
    for d in datasets:
        op = ops.get(d.name) if isinstance(ops, Mapping) else None
        config = op.get("config") if isinstance(op, Mapping) else None
        text = config.get(HANDOFF_CONFIG_KEY) if isinstance(config, Mapping) else None
        if text:
            out[d.name] = DeltaHandoff.from_config(str(text), d.name)
    return out


_RUNS: OrderedDict[str, ChangesBatch] = OrderedDict()
_RUNS_LOCK = threading.Lock()
_KEEP = 8


def batch_for_run(
    run_id: str, run_config: Mapping[str, Any], datasets: Sequence[ApiDataset]
) -> ChangesBatch | None:
    """The run's batch (made on the first call), or None when the run has no handoff."""
    with _RUNS_LOCK:
        batch = _RUNS.get(run_id)
        if batch is None:
            handoffs = handoffs_from_run_config(run_config, datasets)
            if not handoffs:
                return None
            batch = ChangesBatch(datasets, handoffs)
            _RUNS[run_id] = batch
            while len(_RUNS) > _KEEP:
                _RUNS.popitem(last=False)
        return batch
