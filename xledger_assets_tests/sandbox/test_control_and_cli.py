"""The /_control API over HTTP, extra routes, concurrency and the CLI subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

import xledger_assets
from xledger_assets.sandbox import SandboxServer

from .conftest import AUTH, Api, page_all

DQ = "{ %s(first: 100) { edges { cursor node { dbId mutationType } } } }"


def test_mutate_over_http(api: Api) -> None:
    result = api.control(
        "POST", "/mutate", json={"entity": "timesheets", "add": 3, "update": 5, "delete": 2}
    )
    assert [len(result[k]) for k in ("added", "updated", "deleted", "readded")] == [3, 5, 2, 0]
    edges = api.gql(DQ % "timesheet_deltas")["timesheet_deltas"]["edges"]
    assert len(edges) == 10
    deleted = result["deleted"][0]
    again = api.control(
        "POST",
        "/mutate",
        json={
            "entity": "timesheets",
            "readd": [deleted],
            "update_ids": [deleted],
            "changes": {"employee.code": "X1"},
        },
    )
    assert again["readded"] == [deleted] and again["updated"] == [deleted]
    truth = api.control("GET", "/truth", params={"entity": "timesheets", "dbId_in": str(deleted)})
    assert truth[0]["employee"]["code"] == "X1"
    assert api.control("GET", "/truth", params={"entity": "timesheets"}) == api.sandbox.truth(
        "timesheets"
    )
    assert api.control("GET", "/ids", params={"entity": "timesheets"}) == api.sandbox.ids(
        "timesheets"
    )
    log = api.control("GET", "/deltas", params={"entity": "timesheets"})
    assert [d["cursor"] for d in log[:10]] == [e["cursor"] for e in edges]
    # entity names: dataset names and root field names both work
    assert api.control("POST", "/mutate", json={"entity": "arTransactions", "add": 1})["added"]
    assert api.control("POST", "/mutate", json={"entity": "ar_transactions", "add": 1})["added"]


def test_control_errors(api: Api) -> None:
    response = api.client.post(api.base + "/_control/mutate", json={"entity": "nope", "add": 1})
    assert response.status_code == 404 and "unknown entity" in response.json()["error"]
    response = api.client.post(
        api.base + "/_control/mutate", json={"entity": "projects", "add": -1}
    )
    assert response.status_code == 400
    assert api.client.get(api.base + "/_control/nothing").status_code == 404
    assert api.client.post(api.base + "/_control/reset", content=b"{bad").status_code == 400
    truth = api.base + "/_control/truth"
    assert api.client.get(truth, params={"entity": "projects", "x": "1"}).status_code == 400
    bad_date = {"entity": "projects", "modifiedAt_gte": "soon"}
    assert api.client.get(truth, params=bad_date).status_code == 400


def test_expire_and_advance_clock_over_http(api: Api) -> None:
    api.control("POST", "/mutate", json={"entity": "projects", "add": 2})
    cursor = api.gql(DQ % "project_deltas")["project_deltas"]["edges"][0]["cursor"]
    assert api.control("POST", "/expire_deltas", json={"entity": "projects"}) == {"dropped": 2}
    q = "query($a: String) { project_deltas(after: $a) { edges { cursor } } }"
    assert api.errors(q, {"a": cursor})[0]["message"].startswith("Cursor has expired")
    api.control("POST", "/mutate", json={"entity": "customers", "add": 1})
    api.control("POST", "/mutate", json={"entity": "suppliers", "add": 2})
    assert api.control("POST", "/expire_deltas", json={}) == {"dropped": 3}
    api.control("POST", "/mutate", json={"entity": "employees", "add": 1})
    before = api.control("GET", "/clock")["now"]
    after = api.control("POST", "/advance_clock", json={"seconds": 4 * 86400})["now"]
    assert after > before
    assert api.gql(DQ % "employee_deltas")["employee_deltas"]["edges"] == []


def test_reset_over_http(api: Api) -> None:
    api.control("POST", "/faults", json={"kind": "timeout"})
    out = api.control("POST", "/reset", json={"seed": 99, "size": 4, "sizes": {"projects": 12}})
    assert out["seed"] == 99 and out["sizes"] == {"projects": 12}
    assert len(api.sandbox.ids("projects")) == 12
    assert len(api.sandbox.ids("timesheets")) == 4
    assert api.control("GET", "/faults")["pending"] == []  # reset clears faults
    assert "errors" not in api.post("{ projects { edges { cursor } } }").json()


def test_extra_routes() -> None:
    seen = []

    def flex(
        path: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        seen.append((path, query, headers.get("x-test")))
        if query.get("t") != ["secret"]:
            return 403, {"Content-Type": "text/plain"}, b"forbidden"
        return 200, {"Content-Type": "application/octet-stream"}, b"PK\x03\x04xlsx"

    with SandboxServer(port=0, size=2, extra_routes={"/Flex/": flex}) as srv, httpx.Client() as c:
        ok = c.get(srv.base_url + "/Flex/123.xlsx?t=secret", headers={"X-Test": "1"})
        assert (ok.status_code, ok.content) == (200, b"PK\x03\x04xlsx")
        assert c.get(srv.base_url + "/Flex/123.xlsx?t=nope").status_code == 403
        srv.add_route("/Other/", lambda p, q, h: (200, {}, b"other"))
        assert c.get(srv.base_url + "/Other/x").text == "other"
        assert c.get(srv.base_url + "/missing").status_code == 404
        assert seen[0] == ("/Flex/123.xlsx", {"t": ["secret"]}, "1")
        meter = srv.sandbox.meter()
        assert meter["routes"]["/Flex/"] == {"requests": 2, "bytes": 8 + 9}
        assert meter["requests"] == 0  # not GraphQL


def test_concurrent_requests_and_mutations() -> None:
    with SandboxServer(port=0, size=200) as srv, httpx.Client(timeout=20) as c:
        api = Api(srv, c)

        def reader(_: int) -> int:
            with httpx.Client(timeout=20) as own:
                return len([e for p in page_all(Api(srv, own), "projects", 50) for e in p])

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(reader, i) for i in range(8)]
            for _ in range(20):
                srv.sandbox.mutate("projects", add=1, update=1, delete=1)
            counts = [f.result() for f in futures]
        assert all(150 <= n <= 230 for n in counts)
        assert (
            len(api.gql(DQ.replace("100", "1000") % "project_deltas")["project_deltas"]["edges"])
            == 60
        )


def test_graphql_endpoint_rejects_get(api: Api) -> None:
    assert api.client.get(api.url).status_code == 405


def test_cli_prints_url_and_stops_on_sigterm(tmp_path: Path) -> None:
    root = Path(xledger_assets.__file__).resolve().parents[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xledger_assets.sandbox",
            "--port",
            "0",
            "--seed",
            "1",
            "--size",
            "5",
            "--sizes",
            "timesheets=12",
            "--token",
            "cli-token",
            "--port-file",
            str(port_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("XLEDGER_SANDBOX_URL=http://127.0.0.1:"), (
            proc.stderr and proc.stderr.read()
        )
        url = line.split("=", 1)[1]
        assert url.endswith("/graphql")
        port = int(port_file.read_text())
        assert url == f"http://127.0.0.1:{port}/graphql"
        with httpx.Client(timeout=10) as client:
            body = {"query": "{ timesheets { edges { node { dbId } } } }"}
            response = client.post(url, json=body, headers={"Authorization": "token cli-token"})
            assert len(response.json()["data"]["timesheets"]["edges"]) == 12
            assert client.post(url, json=body, headers=AUTH).json()["errors"]
            control = url.replace("/graphql", "/_control/mutate")
            assert client.post(control, json={"entity": "projects", "add": 1}).status_code == 200
        started = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.perf_counter() - started < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_serves_flexlinks() -> None:
    pytest.importorskip("xledger_assets.sandbox.flexlinks")
    from xledger_assets.sandbox import flexlink_env

    root = Path(xledger_assets.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xledger_assets.sandbox",
            "--size",
            "2",
            "--seed",
            "4",
            "--print-flexlink-env",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = []
        while not (line := proc.stdout.readline().strip()).startswith("XLEDGER_SANDBOX_URL="):
            assert line, "the sandbox exited before printing its URL"
            lines.append(line)
        printed = dict(item.split("=", 1) for item in lines)
        url = line.split("=", 1)[1]
        assert printed == flexlink_env(url, seed=4)
        assert "XLEDGER_FLEXLINK_EMPLOYEE_GROUPS" in printed
        with httpx.Client(timeout=10) as client:
            assert client.get(printed["XLEDGER_FLEXLINK_EMPLOYEE_GROUPS"]).status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
