"""Xledger pages hold at most 10,000 records: exactly 10,000 is one page, 10,001 is two."""

from __future__ import annotations

import pytest

from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets_tests.conftest import Product, metadata


@pytest.mark.parametrize("name", [d.name for d in DEFAULT_CATALOG.api])
@pytest.mark.parametrize(("size", "pages"), [(10_000, 1), (10_001, 2)])
def test_page_boundary(product: Product, name: str, size: int, pages: int):
    d = DEFAULT_CATALOG.api_dataset(name)
    product.sandbox.sandbox.reset(sizes={name: size}, size=1)
    result = product.materialize(name)
    meta = metadata(result, name)
    assert meta["rows"] == size
    assert meta["api_requests"] == 1 + pages  # the newest delta cursor, then the pages
    meter = product.sandbox.sandbox.meter()["by_root_field"]
    assert meter[d.items_field]["requests"] == pages
    [f] = product.files(name)
    ids = product.read(name, f, ["dbId"]).column(0).to_pylist()
    assert len(set(ids)) == size
    assert ids == product.sandbox.sandbox.ids(d.items_field)
