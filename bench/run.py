"""``make bench``: full-sync throughput and memory against dlt, the fetch bound and the
predecessor; the cost of a changes sync; a month of API requests. Writes ``bench/RESULTS.md``
and ``bench/results.png``. A benchmark, not a test: it never fails on a time.

    .venv/bin/python bench/run.py [--rows 100000,1000000] [--repeat 3] [--skip-economy]

Everything it generates (the replay server's pages, lakes, dlt's pipeline folders) lives in a
temporary directory that is deleted at the end. Each candidate runs in its own process, so peak
RSS is that process's (``os.wait4``); rows/s is over the candidate's own work (from the first
request to the file on disk), the process's whole wall time is reported beside it. The replay
server runs in another process on 127.0.0.1; its CPU time during each run is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PY = sys.executable
KINDS = ("fetch", "engine", "dlt", "predecessor")
LABELS = {
    "fetch": "fetch bound (download + orjson.loads)",
    "engine": "xledger-assets full sync (SyncEngine)",
    "dagster": "xledger-assets through Dagster (materialize)",
    "dlt": "dlt (RESTClient + filesystem/parquet)",
    "predecessor": "predecessor (list of dicts -> pandas -> parquet)",
    "changes": "xledger-assets changes sync, 10 changes",
}


@dataclass
class Run:
    kind: str
    rows_target: int
    rep: int
    result: dict[str, Any]
    wall: float
    maxrss_mb: float
    server_cpu: float
    ok: bool = True
    error: str = ""

    @property
    def seconds(self) -> float:
        return float(self.result.get("seconds") or self.wall)

    @property
    def rows_per_s(self) -> float:
        return float(self.result.get("rows") or 0) / self.seconds if self.seconds else 0.0


@dataclass
class Bench:
    tmp: Path
    server_pid: int = 0
    port: int = 0
    runs: list[Run] = field(default_factory=list)

    def url(self, rows: int) -> str:
        return f"http://127.0.0.1:{self.port}/rows/{rows}/graphql"


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(bench: Bench, rows: list[int]) -> subprocess.Popen[bytes]:
    port_file = bench.tmp / "replay.port"
    log = open(bench.tmp / "replay.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            PY,
            str(HERE / "replay.py"),
            "--rows",
            ",".join(map(str, rows)),
            "--port-file",
            str(port_file),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 600
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the replay server did not start: {(bench.tmp / 'replay.log')}")
        time.sleep(0.2)
    bench.port = int(port_file.read_text())
    bench.server_pid = proc.pid
    return proc


def run_one(bench: Bench, kind: str, rows: int, rep: int) -> Run:
    work = bench.tmp / f"{kind}-{rows}-{rep}"
    out = bench.tmp / f"{kind}-{rows}-{rep}.json"
    worker = "changes" if kind == "changes" else kind
    cpu_before = _cpu_seconds(bench.server_pid)
    started = time.perf_counter()
    with open(bench.tmp / f"{kind}-{rows}-{rep}.log", "wb") as log:
        proc = subprocess.Popen(
            [
                PY,
                str(HERE / "candidates.py"),
                worker,
                "--url",
                bench.url(rows),
                "--workdir",
                str(work),
                "--out",
                str(out),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(bench.tmp),
        )
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    server_cpu = _cpu_seconds(bench.server_pid) - cpu_before
    shutil.rmtree(work, ignore_errors=True)
    ok = proc.returncode == 0 and out.exists()
    result = json.loads(out.read_text()) if ok else {}
    error = "" if ok else (bench.tmp / f"{kind}-{rows}-{rep}.log").read_text()[-2000:]
    run = Run(kind, rows, rep, result, wall, usage.ru_maxrss / 1024, server_cpu, ok, error)
    bench.runs.append(run)
    state = (
        f"{run.rows_per_s:>9,.0f} rows/s  {run.seconds:7.2f} s  {run.maxrss_mb:7.0f} MB  "
        f"server CPU {100 * server_cpu / wall:4.1f}%"
        if ok
        else "FAILED: " + error.strip().splitlines()[-1]
        if error.strip()
        else "FAILED"
    )
    print(f"  {kind:<12} {rows:>9,} rep {rep}: {state}", flush=True)
    return run


ECONOMY_SECONDS = 200.0  # what the month's simulation takes on a busy 2-core machine


class Budget:
    """Keeps the whole run within a time budget by cutting repetitions of the slowest runs."""

    def __init__(
        self,
        seconds: float,
        started: float,
        sizes: list[int],
        planned: dict[tuple[str, int], int],
        skip_economy: bool,
    ) -> None:
        self.seconds = seconds
        self.started = started
        self.sizes = sizes
        self.planned = planned
        self.original = dict(planned)
        self.announced: dict[tuple[str, int], int] = {}
        self.skip_economy = skip_economy

    def _cost(self, bench: Bench, kind: str, rows: int) -> float:
        """Expected wall seconds of one run: measured at this size, else scaled from below."""
        for n in sorted((n for n in self.sizes if n <= rows), reverse=True):
            walls = [r.wall for r in bench.runs if r.kind == kind and r.rows_target == n]
            if walls:
                return median(walls) * rows / n
        return 0.0

    def trim(self, bench: Bench) -> None:
        """Plan the repetitions left: all of them if the estimate fits the budget, otherwise
        fewer of the slowest runs at the biggest size (never fewer than one, nor than done)."""
        done = {
            key: sum(1 for r in bench.runs if (r.kind, r.rows_target) == key)
            for key in self.planned
        }
        for key in self.planned:
            self.planned[key] = max(self.original[key], 0)
        big = max(self.sizes)
        while True:
            remaining = sum(
                max(0, reps - done[key]) * self._cost(bench, *key)
                for key, reps in self.planned.items()
            )
            extra = sum(
                self._cost(bench, "engine", n) * 1.5
                for n in self.sizes
                if not any(r.kind == "dagster" and r.rows_target == n for r in bench.runs)
            )
            extra += 0 if self.skip_economy else ECONOMY_SECONDS
            elapsed = time.perf_counter() - self.started
            if elapsed + remaining + extra <= self.seconds:
                break
            cuttable = [
                k
                for k, reps in self.planned.items()
                if k[1] == big and reps > max(1, done[k]) and self._cost(bench, *k) > 0
            ]
            if not cuttable:
                break
            worst = max(cuttable, key=lambda k: self._cost(bench, *k))
            self.planned[worst] -= 1
        cut = {k: v for k, v in self.planned.items() if v < self.original[k]}
        if cut != self.announced:
            self.announced = cut
            text = ", ".join(f"{k} at {n:,}: {v}" for (k, n), v in cut.items()) or "none"
            print(f"  (time budget: repetitions cut to {text})", flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(bench: Bench, kind: str, rows: int) -> dict[str, Any] | None:
    runs = [r for r in bench.runs if r.kind == kind and r.rows_target == rows and r.ok]
    if not runs:
        return None
    return {
        "n": len(runs),
        "rows_per_s": median([r.rows_per_s for r in runs]),
        "seconds": median([r.seconds for r in runs]),
        "wall": median([r.wall for r in runs]),
        "maxrss_mb": median([r.maxrss_mb for r in runs]),
        "server_cpu_pct": median([100 * r.server_cpu / r.wall for r in runs]),
        "all_rows_per_s": [round(r.rows_per_s) for r in runs],
        "by_rep": {r.rep: r.rows_per_s for r in runs},
        "result": runs[0].result,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-economy", action="store_true")
    parser.add_argument(
        "--budget-minutes",
        type=float,
        default=14.0,
        help="on a slow or busy machine, run fewer repetitions of the slowest candidates at "
        "the biggest size (at least one) so the whole run fits (default: 14)",
    )
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--chart", default=str(HERE / "results.png"))
    parser.add_argument(
        "--from-raw",
        help="only rewrite RESULTS.md and the chart from the raw JSON an earlier run saved",
    )
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.rows.split(",")]
    if args.from_raw:
        return report_from_raw(Path(args.from_raw), args)
    clock = time.perf_counter()
    bench = Bench(Path(tempfile.mkdtemp(prefix="xledger-bench-")))
    info = machine_info()
    print(f"bench: {info['cpus']} cores, load {info['load']}, temp dir {bench.tmp}", flush=True)
    server = None
    try:
        print("starting the replay server (rendering pages) ...", flush=True)
        t = time.perf_counter()
        server = start_server(bench, sizes)
        info["server_start_s"] = round(time.perf_counter() - t, 1)
        print(f"  ready in {info['server_start_s']} s on port {bench.port}", flush=True)
        planned = {(kind, rows): args.repeat for kind in KINDS for rows in sizes}
        budget = Budget(args.budget_minutes * 60, clock, sizes, planned, args.skip_economy)
        for rows in sizes:
            print(f"full syncs of {rows:,} timesheets", flush=True)
            for rep in range(1, args.repeat + 1):
                budget.trim(bench)
                order = KINDS if rep % 2 else tuple(reversed(KINDS))
                for kind in order:
                    if rep <= planned[(kind, rows)]:
                        run_one(bench, kind, rows, rep)
            run_one(bench, "dagster", rows, 1)
            for rep in range(1, args.repeat + 1):
                run_one(bench, "changes", rows, rep)
        counts = {
            key: sum(1 for r in bench.runs if (r.kind, r.rows_target) == key) for key in planned
        }
        info["cut"] = {f"{k} {n:,}": v for (k, n), v in counts.items() if v < args.repeat}
        economy = None
        if not args.skip_economy:
            print("a month of API requests (sandbox, 720 hourly sensor ticks) ...", flush=True)
            out = bench.tmp / "economy.json"
            with open(bench.tmp / "economy.log", "wb") as log:
                subprocess.run(
                    [PY, str(HERE / "economy.py"), "--out", str(out)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    check=False,
                )
            economy = json.loads(out.read_text()) if out.exists() else None
            if economy is None:
                tail = (bench.tmp / "economy.log").read_text()[-1500:]
                print(f"  the simulation failed:\n{tail}", flush=True)
            else:
                o, p = economy["ours"], economy["predecessor"]
                print(
                    f"  ours {o['requests']:,} requests/month, predecessor {p['requests']:,}, "
                    f"batched what-if {economy['batched']['requests']:,} "
                    f"({economy['seconds']} s)",
                    flush=True,
                )
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(bench.tmp, ignore_errors=True)
    info["total_s"] = round(time.perf_counter() - clock)
    from report import write_chart, write_results

    summary = {
        kind: {rows: summarize(bench, kind, rows) for rows in sizes}
        for kind in (*KINDS, "dagster", "changes")
    }
    failures = [r for r in bench.runs if not r.ok]
    raw = Path(tempfile.gettempdir()) / "xledger-bench-raw.json"
    raw.write_text(
        json.dumps(
            {
                "sizes": sizes,
                "repeat": args.repeat,
                "summary": {k: {str(n): v for n, v in per.items()} for k, per in summary.items()},
                "economy": economy,
                "info": info,
                "failures": [
                    {"kind": r.kind, "rows": r.rows_target, "rep": r.rep, "error": r.error}
                    for r in failures
                ],
            },
            default=str,
        )
    )
    write_chart(Path(args.chart), summary, sizes)
    write_results(Path(args.results), summary, sizes, economy, info, failures, args.repeat)
    print(f"wrote {args.results} and {args.chart} in {info['total_s']} s (raw: {raw})", flush=True)
    return 0


def report_from_raw(path: Path, args: argparse.Namespace) -> int:
    from report import write_chart, write_results

    data = json.loads(path.read_text())
    sizes = data["sizes"]
    summary = {
        kind: {
            int(n): None
            if v is None
            else {**v, "by_rep": {int(r): x for r, x in v["by_rep"].items()}}
            for n, v in per.items()
        }
        for kind, per in data["summary"].items()
    }
    failures = [
        Run(f["kind"], f["rows"], f["rep"], {}, 0.0, 0.0, 0.0, False, f["error"])
        for f in data["failures"]
    ]
    write_chart(Path(args.chart), summary, sizes)
    write_results(
        Path(args.results), summary, sizes, data["economy"], data["info"], failures, data["repeat"]
    )
    print(f"wrote {args.results} and {args.chart} from {path}")
    return 0


def machine_info() -> dict[str, Any]:
    versions = {}
    for name in ("pyarrow", "orjson", "httpx", "dlt", "pandas", "dagster"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:  # pragma: no cover - not installed
            versions[name] = "missing"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "versions": versions,
    }


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
