"""Fixtures for the sandbox tests: a fresh sandbox server per test, reached over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from xledger_assets.sandbox import SandboxServer

TOKEN = "sandbox-token"
AUTH = {"Authorization": f"token {TOKEN}"}


class Api:
    """A tiny GraphQL + control client for tests."""

    def __init__(self, server: SandboxServer, client: httpx.Client) -> None:
        self.server = server
        self.sandbox = server.sandbox
        self.client = client
        self.url = server.url
        self.base = server.base_url

    def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return self.client.post(self.url, json=body, headers=AUTH if headers is None else headers)

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a query that must succeed; returns ``data``."""
        response = self.post(query, variables)
        assert response.status_code == 200, response.text
        payload = response.json()
        assert "errors" not in payload, payload["errors"]
        return payload["data"]  # type: ignore[no-any-return]

    def errors(self, query: str, variables: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a query that must fail with GraphQL errors (HTTP 200); returns the errors."""
        response = self.post(query, variables)
        assert response.status_code == 200, response.text
        payload = response.json()
        assert payload.get("errors"), payload
        return payload["errors"]  # type: ignore[no-any-return]

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, self.base + "/_control" + path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def api() -> Iterator[Api]:
    with (
        SandboxServer(port=0, seed=7, size=30, token=TOKEN) as server,
        httpx.Client(timeout=20) as client,
    ):
        yield Api(server, client)


def page_query(field: str, node: str = "dbId", args: str = "first: $first, after: $after") -> str:
    return (
        f"query P($first: Int, $after: String) {{ {field}({args}) {{ "
        f"edges {{ cursor node {{ {node} }} }} pageInfo {{ hasNextPage }} }} }}"
    )


def page_all(api: Api, field: str, first: int, node: str = "dbId") -> list[list[dict[str, Any]]]:
    """Page a connection to the end; returns the edges of every page."""
    pages: list[list[dict[str, Any]]] = []
    after = None
    seen_cursors: set[str] = set()
    while True:
        data = api.gql(page_query(field, node), {"first": first, "after": after})[field]
        edges = data["edges"]
        pages.append(edges)
        if not data["pageInfo"]["hasNextPage"]:
            return pages
        assert edges, "hasNextPage with an empty page"
        after = edges[-1]["cursor"]
        assert after not in seen_cursors, "repeated cursor"
        seen_cursors.add(after)
