"""The lake's Arrow type for each catalog field type (contract: no float anywhere)."""

from __future__ import annotations

import pyarrow as pa

#: The column after the catalog's fields in every API dataset file: ADDED, UPDATED or DELETED.
MUTATION_COLUMN = "mutationType"

#: Exact decimals: Spark's default precision, enough for money, hours and rates.
DECIMAL_TYPE = pa.decimal128(38, 18)

ARROW_TYPES: dict[str, pa.DataType] = {
    "id": pa.int64(),
    "int": pa.int64(),
    "text": pa.string(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "decimal": DECIMAL_TYPE,
}


def arrow_type(field_type: str) -> pa.DataType:
    return ARROW_TYPES[field_type]
