"""Writes ``bench/RESULTS.md`` and the chart from the numbers ``bench/run.py`` measured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ORDER = ("engine", "dagster", "dlt", "fetch", "predecessor")
NAMES = {
    "fetch": "fetch bound",
    "engine": "xledger-assets (engine)",
    "dagster": "xledger-assets (Dagster)",
    "dlt": "dlt",
    "predecessor": "predecessor (pandas)",
}
WHAT = {
    "fetch": "download each page, `orjson.loads`, nothing else",
    "engine": "`SyncEngine.run(timesheets, 'full')`: pages -> Arrow -> parquet, published",
    "dagster": "the same through `dagster.materialize` (asset, resources, IO manager)",
    "dlt": "`RESTClient.paginate` + `dlt.resource` -> pipeline -> filesystem, parquet",
    "predecessor": "list of dicts -> `pandas.json_normalize` -> `to_parquet`, in memory",
}
COLORS = {
    "engine": "#1f77b4",
    "dagster": "#6baed6",
    "dlt": "#ff7f0e",
    "fetch": "#2ca02c",
    "predecessor": "#d62728",
}


def _fmt(x: float | None, spec: str = ",.0f") -> str:
    return "n/a" if x is None else format(x, spec)


def _get(summary: dict[str, Any], kind: str, rows: int, key: str) -> float | None:
    entry = (summary.get(kind) or {}).get(rows)
    return None if entry is None else entry.get(key)


def write_chart(path: Path, summary: dict[str, Any], sizes: list[int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [k for k in ORDER if any(_get(summary, k, n, "rows_per_s") for n in sizes)]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=90)
    width = 0.8 / max(1, len(kinds))
    for panel, (key, title) in enumerate(
        (("rows_per_s", "full sync: rows/s (median)"), ("maxrss_mb", "peak RSS, MB (median)"))
    ):
        ax = axes[panel]
        for i, kind in enumerate(kinds):
            values = [_get(summary, kind, n, key) or 0 for n in sizes]
            xs = [j + (i - (len(kinds) - 1) / 2) * width for j in range(len(sizes))]
            bars = ax.bar(xs, values, width, label=NAMES[kind], color=COLORS[kind])
            ax.bar_label(
                bars,
                labels=[f"{v / 1000:.0f}k" if key == "rows_per_s" else f"{v:.0f}" for v in values],
                fontsize=6,
                padding=1,
            )
        ax.set_xticks(range(len(sizes)), [f"{n:,} rows" for n in sizes])
        ax.set_title(title, fontsize=10)
        ax.tick_params(labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_results(
    path: Path,
    summary: dict[str, Any],
    sizes: list[int],
    economy: dict[str, Any] | None,
    info: dict[str, Any],
    failures: list[Any],
    repeat: int,
) -> None:
    big, small = max(sizes), min(sizes)
    lines = [
        "# Benchmarks (issue 7: performance and API economy)",
        "",
        "Written by `make bench` (`bench/run.py`); a benchmark, not a test. Inputs are generated",
        "on the fly into a temporary directory and deleted; this file and `results.png` are the",
        "only outputs.",
        "",
        f"Run: {info['date']}, {info['cpus']} cores, load average at start {info['load']},",
        f"Python {info['python']}, "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items())
        + f". Whole run: {info['total_s']} s (replay server ready in "
        f"{info.get('server_start_s', '?')} s).",
        "",
        "## Full sync of N timesheets (the contract's 21 fields)",
        "",
        "A replay server (`bench/replay.py`, another process on 127.0.0.1) serves pre-rendered",
        "Xledger pages of 10,000 timesheets (the sandbox's records: Nordic texts, string dbIds,",
        "decimals as strings, ~660 bytes of JSON per record). Every candidate runs in its own",
        f"process against the same server in the same run, {repeat} times per size (order",
        "alternating), median shown. rows/s and seconds cover the candidate's work (first request",
        "to file on disk); *process s* is the whole process including interpreter start and",
        "imports; peak RSS is the process's (`os.wait4`); *server CPU* is the replay server's CPU",
        "time over the process's wall time.",
        "",
    ]
    if info.get("cut"):
        lines += [
            "**Fewer repetitions** (the time budget of `--budget-minutes` on a busy machine): "
            + ", ".join(f"{k}: {v}" for k, v in info["cut"].items())
            + ".",
            "",
        ]
    lines += [
        "| candidate | what | rows | rows/s (median) | all runs | s | process s | peak RSS MB "
        "| server CPU |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for kind in ORDER:
        for n in sizes:
            e = (summary.get(kind) or {}).get(n)
            if e is None:
                continue
            lines.append(
                f"| {NAMES[kind]} | {WHAT[kind]} | {n:,} | {_fmt(e['rows_per_s'])} | "
                f"{', '.join(f'{x:,}' for x in e['all_rows_per_s'])} | {e['seconds']:.1f} | "
                f"{e['wall']:.1f} | {e['maxrss_mb']:.0f} | {e['server_cpu_pct']:.1f}% |"
            )
    lines += ["", "![full sync rows/s and peak RSS](results.png)", ""]

    eng = {n: _get(summary, "engine", n, "rows_per_s") for n in sizes}
    dlt = {n: _get(summary, "dlt", n, "rows_per_s") for n in sizes}
    fetch = {n: _get(summary, "fetch", n, "rows_per_s") for n in sizes}
    rss = {n: _get(summary, "engine", n, "maxrss_mb") for n in sizes}
    lines += [
        "### Ratios",
        "",
        "Each ratio is the median over repetitions of the two candidates' rows/s *in the same "
        "repetition* (they ran back to back, so load from other processes hits both); the "
        "ratio of the medians above is in parentheses.",
        "",
        "| rows | engine / dlt | engine / fetch bound | engine / predecessor | Dagster overhead |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for n in sizes:
        pred = _get(summary, "predecessor", n, "rows_per_s")
        dag_s, eng_s = _get(summary, "dagster", n, "seconds"), _get(summary, "engine", n, "seconds")
        overhead = (
            "n/a"
            if dag_s is None or eng_s is None
            else f"+{dag_s - eng_s:.1f} s"
            if dag_s >= eng_s
            else f"none measurable ({dag_s - eng_s:+.1f} s: one run vs a median)"
        )
        pd_, pf, pp = (paired(summary, "engine", k, n) for k in ("dlt", "fetch", "predecessor"))
        lines.append(
            f"| {n:,} | {_fmt(pd_, '.1f')}x ({_ratio(eng[n], dlt[n])}) | "
            f"{_fmt(pf, '.0%')} ({_pct(eng[n], fetch[n])}) | "
            f"{_fmt(pp, '.1f')}x ({_ratio(eng[n], pred)}) | {overhead} |"
        )
    lines.append("")

    # goals
    goal_rows = []
    r_dlt = paired(summary, "engine", "dlt", big)
    r_fetch_paired = paired(summary, "engine", "fetch", big)
    quiet = quietest(summary, sizes)
    # A busy machine slows the single-threaded fetch bound more than the engine's two threads:
    # the goal is judged on the lower of the paired median and the quietest repetition.
    candidates = [r for r in (r_fetch_paired, quiet[0] if quiet else None) if r is not None]
    r_fetch = min(candidates) if candidates else None
    growth = (rss[big] - rss[small]) if rss[big] and rss[small] and big != small else None
    goal_rows.append(
        (
            "full sync >= 5x dlt's rows/s",
            f"{_fmt(r_dlt, '.1f')}x at {big:,}",
            r_dlt is not None and r_dlt >= 5,
        )
    )
    goal_rows.append(
        (
            "full sync >= 60% of the fetch bound",
            f"{_fmt(r_fetch_paired, '.1%')} at {big:,} (paired median); "
            + (
                f"{quiet[0]:.1%} in the quietest repetition ({quiet[1]:,} rows, rep {quiet[2]}, "
                f"fetch bound {quiet[3]:,.0f} rows/s)"
                if quiet
                else "n/a"
            ),
            r_fetch is not None and r_fetch >= 0.6,
        )
    )
    goal_rows.append(
        (
            f"peak RSS at {big:,} minus at {small:,} <= 64 MB",
            f"{_fmt(growth, '+.0f')} MB ({_fmt(rss[small])} -> {_fmt(rss[big])} MB)",
            growth is not None and growth <= 64,
        )
    )
    if economy:
        o, p = economy["ours"], economy["predecessor"]
        share = p["requests"] / max(1, o["requests"])
        goal_rows.append(
            (
                "API requests <= 1/6 of the predecessor's",
                f"{o['requests']:,} vs {p['requests']:,} = 1/{share:.1f}",
                o["requests"] * 6 <= p["requests"],
            )
        )
        goal_rows.append(
            ("API requests < 5,000 a month", f"{o['requests']:,}", o["requests"] < 5000)
        )
    lines += ["## Goals", "", "| goal | measured | met |", "| --- | --- | --- |"]
    lines += [f"| {g} | {m} | {'yes' if ok else '**no**'} |" for g, m, ok in goal_rows]
    lines.append("")

    # changes
    lines += [
        "## A changes sync costs what the changes cost, not what the dataset costs",
        "",
        "10 changes (6 updates, 3 adds, 1 delete) on the replay server's dataset, then",
        "`SyncEngine.run(timesheets, 'changes')`: one request for the deltas (the newest delta",
        "rides along), one re-fetch of the 9 live records by `dbId_in`, tombstone for the delete.",
        "",
        "| dataset rows | changes sync: requests | KB | s (median) | peak RSS MB | "
        "full sync: requests | MB | s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n in sizes:
        c = (summary.get("changes") or {}).get(n)
        f = (summary.get("engine") or {}).get(n)
        if c is None:
            continue
        cr = c["result"]
        fr = (f or {}).get("result") or {}
        lines.append(
            f"| {n:,} | {cr.get('requests')} | {(cr.get('bytes') or 0) / 1000:.1f} | "
            f"{c['seconds']:.3f} | {c['maxrss_mb']:.0f} | {fr.get('requests', 'n/a')} | "
            f"{(fr.get('bytes') or 0) / 1e6:.0f} | {_fmt((f or {}).get('seconds'), '.1f')} |"
        )
    lines.append("")

    if economy:
        lines += economy_section(economy)
    lines += notes(summary, sizes, economy, r_dlt, r_fetch, growth, info)
    if failures:
        lines += ["## Failed runs", ""]
        for r in failures:
            last = (r.error.strip().splitlines() or ["?"])[-1]
            lines.append(f"- {r.kind} {r.rows_target:,} rep {r.rep}: `{last[:200]}`")
        lines.append("")
    path.write_text("\n".join(lines))


def economy_section(e: dict[str, Any]) -> list[str]:
    o, p, b = e["ours"], e["predecessor"], e["batched"]
    changes = e["changes"]
    total_changes = sum(changes.values())
    per = {}
    for key, value in changes.items():
        name = key.split(".")[0]
        per[name] = per.get(name, 0) + value
    modes = ", ".join(
        f"{k.removeprefix('sensor run: ')}: {v}"
        for k, v in sorted(o["modes"].items())
        if k.startswith("sensor run:")
    )
    mb = 1_000_000
    return [
        "## API economy: one month at hourly freshness",
        "",
        f"`bench/economy.py`: the sandbox (`SandboxServer`, simulated clock) over {e['days']} "
        f"days = {e['ticks']} hourly sensor ticks; {total_changes:,} changes in "
        f"{e['ticks_with_change']} of the hours, weekday business hours mostly (08-17, peaks at "
        "10 and 14), a nightly transaction batch at 02:00, little in the evenings and weekends: "
        + ", ".join(f"{k} {v:,}" for k, v in per.items())
        + ". Dataset sizes: "
        + ", ".join(f"{k} {v:,}" for k, v in e["sizes"].items())
        + ". Counted on the sandbox's request meter.",
        "",
        "| who | algorithm | requests / month | MB / month |",
        "| --- | --- | ---: | ---: |",
        f"| ours: sensor | one request per tick: every dataset's newest delta and its deltas "
        f"after the stored cursor | {o['sensor_requests']:,} | {o['sensor_bytes'] / mb:.1f} |",
        f"| ours: sensor runs | one run per changed tick ({o['modes'].get('sensor runs', 0):,} "
        "runs), the deltas handed over in the run config, one combined re-fetch of all its "
        f"datasets; dataset syncs: {modes} | {o['run_requests']:,} | "
        f"{o['run_bytes'] / mb:.1f} |",
        f"| ours: weekly full resyncs | the catalog's schedules (1 + pages per dataset) | "
        f"{o['weekly_requests']:,} | {o['weekly_bytes'] / mb:.1f} |",
        f"| **ours: total** | | **{o['requests']:,}** | **{o['bytes'] / mb:.1f}** |",
        f"| predecessor | every entity hourly: deltas, ADDED and UPDATED re-fetched separately | "
        f"{p['requests']:,} | {p['bytes'] / mb:.1f} |",
        f"| reference: batched (bench only) | the same batching without runs, keep-alives or "
        f"reloads: all deltas in one request per tick + one combined re-fetch | "
        f"{b['requests']:,} | {b['bytes'] / mb:.1f} |",
        "",
        f"Ours / predecessor: 1/{p['requests'] / max(1, o['requests']):.1f} of the requests "
        f"(1/{p['requests'] / max(1, o['requests_without_weekly']):.1f} without the weekly full "
        f"resyncs); the bench-only reference: 1/{p['requests'] / max(1, b['requests']):.1f}. "
        f"After the month the lake's current state "
        f"{'equals' if e['lake_matches_sandbox'] else 'DOES NOT equal'} the sandbox's records "
        f"for every dataset. Simulation time {e['seconds']} s.",
        "",
    ]


def notes(
    summary: dict[str, Any],
    sizes: list[int],
    economy: dict[str, Any] | None,
    r_dlt: float | None,
    r_fetch: float | None,
    growth: float | None,
    info: dict[str, Any] | None = None,
) -> list[str]:
    out = ["## Notes", ""]
    load = (info or {}).get("load", "?")
    out.append(
        "- Parsing: the engine does not call `orjson.loads` on a page. The thread that fetches "
        "the pages (`xledger_assets.xledger.paging.prefetch_pages`, one page ahead) hands each "
        "raw body to `pyarrow.json.read_json` with an explicit schema of exactly what the query "
        "selects (`xledger_assets.sync.pages.ArrowPages`); that parse runs in C++ without the "
        "GIL, so it overlaps the conversion and parquet writing of the page before. That is "
        "why the engine can beat the fetch bound as the issue defines it (download + "
        "`orjson.loads`, which holds the GIL for the whole parse): the bound measures a Python "
        "client's parse, not the network."
    )
    out.append(
        "- Exactness: the Arrow read is only taken when it provably gives what `orjson.loads` "
        "and the per-page struct conversion give (strict schema, unknown fields refused, valid "
        "UTF-8, one document, no `errors`); any other body (an error, `edges: null`, a value of "
        "another JSON type, a decimal sent as a float, ...) goes the usual way from the bytes "
        "already downloaded, with no extra request. Columns then pass the same Arrow casts "
        "behind strict patterns, and anything those cannot make exact takes the careful "
        "per-value path, so the contract's rules are unchanged "
        "(`xledger_assets_tests/unit/test_pages_arrow*.py` compare both paths on random pages)."
    )
    out.append("- Row groups: one per page (10,000 rows, ~0.5 MB compressed for timesheets).")
    if r_fetch is not None and r_fetch < 0.6:
        out.append(
            f"- **Fetch-bound goal missed** ({r_fetch:.1%} of the fetch bound, goal 60%). Per "
            "page the engine holds the GIL for `orjson.loads` (the fetch bound's whole work) "
            "plus `pa.array(nodes, type=struct)` (about half as long again); only the HTTP read, "
            "the Arrow casts and the parquet encoding run beside them. So the overlap needs the "
            f"second core to itself: this run started at a load average of {load} on "
            f"{(info or {}).get('cpus', '?')} cores; when other processes keep both cores busy "
            "the prefetch thread mostly waits for one. The "
            "next step would be to skip the Python objects altogether (the client handing "
            "the raw page to `pyarrow.json`, which parses without the GIL)."
        )
    if r_dlt is not None and r_dlt < 5:
        out.append(f"- **dlt goal missed**: {r_dlt:.1f}x dlt's rows/s (goal 5x).")
    if growth is not None and growth > 64:
        out.append(
            f"- **Memory goal missed**: RSS grows {growth:.0f} MB from {min(sizes):,} to "
            f"{max(sizes):,} rows (goal 64 MB)."
        )
    if economy:
        o, p, b = economy["ours"], economy["predecessor"], economy["batched"]
        ours_share = p["requests"] / max(1, o["requests"])
        batched_share = p["requests"] / max(1, b["requests"])
        if o["requests"] * 6 > p["requests"]:
            out.append(
                f"- **API goal (1/6) missed**: ours is 1/{ours_share:.1f} of the predecessor "
                f"(the bench-only reference: 1/{batched_share:.1f})."
            )
        else:
            out.append(
                f"- API requests: ours is 1/{ours_share:.1f} of the predecessor. The sensor's "
                "one request per tick reads every dataset's deltas after its stored cursor (up "
                "to 1,000, one aliased root field each, plus the newest delta); the one run it "
                "starts for all changed datasets gets those deltas in its run config, and its "
                "only request is one re-fetch of all their ADDED and UPDATED records together "
                "(deletes cost nothing). Quiet datasets get a keep-alive run (no request) so "
                "`auto` never mistakes a quiet weekend for expired deltas, and a full load the "
                "sensor starts takes the newest cursor from the sensor instead of asking again."
            )
        if o["bytes"] > p["bytes"]:
            out.append(
                f"- MB: ours downloads more ({o['bytes'] / 1e6:.0f} MB vs "
                f"{p['bytes'] / 1e6:.0f} MB): the weekly full resyncs "
                f"({o['weekly_bytes'] / 1e6:.0f} MB) and the sensor's full loads (below) "
                "re-read whole datasets, which the predecessor's replay never does; the changes "
                "syncs themselves download about what the predecessor's re-fetches do."
            )
        fulls = sum(v for k, v in o["modes"].items() if k.startswith("sensor run: full"))
        if fulls:
            out.append(
                f"- {fulls} sensor-run syncs were full loads: the sandbox refuses a delta cursor "
                "once its own delta has aged out (3 days), which happens to quiet datasets; "
                "the sensor sees the refused field and asks for a full load (1 + ceil(rows / "
                "10,000) requests; the newest cursor comes from the sensor)."
            )
    out.append("")
    return out


def paired(summary: dict[str, Any], a: str, b: str, rows: int) -> float | None:
    """Median over repetitions of a's rows/s over b's in the same repetition (the candidates of
    one repetition run back to back, so a busy machine slows both)."""
    ea, eb = (summary.get(a) or {}).get(rows), (summary.get(b) or {}).get(rows)
    if not ea or not eb:
        return None
    reps = sorted(set(ea["by_rep"]) & set(eb["by_rep"]))
    ratios = sorted(ea["by_rep"][r] / eb["by_rep"][r] for r in reps if eb["by_rep"][r])
    if not ratios:
        return None
    mid = len(ratios) // 2
    return ratios[mid] if len(ratios) % 2 else (ratios[mid - 1] + ratios[mid]) / 2


def quietest(summary: dict[str, Any], sizes: list[int]) -> tuple[float, int, int, float] | None:
    """engine / fetch bound in the repetition where the fetch bound was fastest (the least
    loaded moment of the run): (ratio, rows, rep, fetch rows/s)."""
    best = None
    for n in sizes:
        fe, en = (summary.get("fetch") or {}).get(n), (summary.get("engine") or {}).get(n)
        if not fe or not en:
            continue
        for r, fetch_rate in fe["by_rep"].items():
            if r in en["by_rep"] and fetch_rate and (best is None or fetch_rate > best[3]):
                best = (en["by_rep"][r] / fetch_rate, n, r, fetch_rate)
    return best


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if not a or not b else f"{a / b:.1f}x"


def _pct(a: float | None, b: float | None) -> str:
    return "n/a" if not a or not b else f"{a / b:.0%}"
