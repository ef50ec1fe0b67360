"""`make demo` and `make ui`: the whole product on a laptop, against the bundled Xledger sandbox.

demo: start the sandbox on a free port, materialize every asset (full loads) into ./lake,
apply adds/updates/deletes in the sandbox, materialize again (changes only), print the files
written, stop the sandbox. ui: start the sandbox and `dagster dev` against it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
LAKE = ROOT / "lake"
STATE = ROOT / ".xledger" / "state.json"
TOKEN = os.environ.get("XLEDGER_DEMO_TOKEN", "sandbox-token")
MUTATIONS = {"add": 3, "update": 5, "delete": 2}


def start_sandbox() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "xledger_assets.sandbox", "--port", "0", "--token", TOKEN],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("XLEDGER_SANDBOX_URL="):
            return proc, line.split("=", 1)[1].strip()
    proc.kill()
    raise SystemExit("the Xledger sandbox did not start")


def control(api_url: str, path: str, body: dict | None = None) -> dict:
    base = api_url.rsplit("/graphql", 1)[0]
    data = json.dumps(body or {}).encode() if body is not None else None
    req = urllib.request.Request(
        f"{base}/_control/{path}", data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"{}")


def product_env(api_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "XLEDGER_API_URL": api_url,
            "XLEDGER_API_TOKEN": TOKEN,
            "XLEDGER_LAKE_URL": str(LAKE),
            "XLEDGER_STATE_URL": str(STATE),
            "XLEDGER_ENV": "local",
            "DAGSTER_HOME": os.environ.get("DAGSTER_HOME", str(ROOT / ".dagster_home")),
        }
    )
    try:
        from xledger_assets.sandbox import flexlink_env  # type: ignore[attr-defined]

        env.update(flexlink_env(api_url))
    except ImportError:
        pass
    return env


def materialize(env: dict[str, str]) -> None:
    dagster = Path(sys.executable).with_name("dagster")
    cmd = [str(dagster), "asset", "materialize", "-m", "xledger_assets.definitions"]
    subprocess.run([*cmd, "--select", "*"], env=env, cwd=ROOT, check=True)


def print_table() -> None:
    rows = []
    for folder in sorted(p for p in LAKE.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(folder.glob("*.parquet")):
            table = pq.read_table(f)
            kinds = ""
            if "mutationType" in table.column_names:
                counts: dict[str, int] = {}
                for k in table.column("mutationType").to_pylist():
                    counts[k] = counts.get(k, 0) + 1
                kinds = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
            rows.append((f"{folder.name}/{f.name}", str(table.num_rows), kinds))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'file':<{width}}  {'rows':>6}  mutations")
    print(f"{'-' * width}  {'-' * 6}  ---------")
    for name, n, kinds in rows:
        print(f"{name:<{width}}  {n:>6}  {kinds}")
    print(f"\n{len(rows)} files in {LAKE}")


def demo() -> None:
    if LAKE.exists() or STATE.exists():
        print(f"demo: starting from scratch (removing {LAKE} and {STATE.parent})")
        shutil.rmtree(LAKE, ignore_errors=True)
        shutil.rmtree(STATE.parent, ignore_errors=True)
    proc, api_url = start_sandbox()
    try:
        env = product_env(api_url)
        print(f"demo: Xledger sandbox at {api_url}\ndemo: run 1, full loads")
        materialize(env)
        for name in (
            "timesheets",
            "projects",
            "employees",
            "customers",
            "suppliers",
            "transactions",
            "arTransactions",
            "apTransactions",
        ):
            control(api_url, "mutate", {"entity": name, **MUTATIONS})
        print(f"demo: applied {MUTATIONS} to every entity\ndemo: run 2, changes only")
        materialize(env)
        meter = control(api_url, "meter")
        print_table()
        print(f"Xledger requests for both runs: {meter.get('requests')}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def ui() -> None:
    proc, api_url = start_sandbox()
    env = product_env(api_url)
    print(f"ui: Xledger sandbox at {api_url}; Dagster UI on http://127.0.0.1:3000 (Ctrl-C stops)")
    dagster = Path(sys.executable).with_name("dagster")
    child = subprocess.Popen(
        [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", "3000"],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        child.wait()
    except KeyboardInterrupt:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ui", action="store_true", help="start dagster dev instead")
    args = parser.parse_args()
    ui() if args.ui else demo()


if __name__ == "__main__":
    main()
