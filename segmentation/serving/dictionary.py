"""The data dictionary of the serving copy, taken from the marts' pandera contracts.

One source for three places: the ``COMMENT ON`` texts in the serving file, the markdown printed by
``python -m pipelines.data_dictionary`` and the README section generated from it.
"""

from __future__ import annotations

import re

import pandera.polars as pa

from segmentation.evaluation.backtest_contract import ClvBacktestContract
from segmentation.evaluation.contracts import (
    SatisfactionSummaryContract,
    SegmentMigrationContract,
    SegmentOutcomesContract,
    StrategyEffectContract,
)
from segmentation.features.contracts import ClvModelParamsContract
from segmentation.segments.contracts import CustomerSegmentsContract, SegmentSummaryContract
from segmentation.strategies.contracts import StrategyAssignmentsContract

MARTS_SCHEMA = "marts"

# Every marts table and its contract, in the order data flows. The serving asset depends on
# exactly these tables; a test checks that they are all the ``marts`` assets.
MART_CONTRACTS: dict[str, type[pa.DataFrameModel]] = {
    "clv_model_params": ClvModelParamsContract,
    "customer_segments": CustomerSegmentsContract,
    "segment_summary": SegmentSummaryContract,
    "strategy_assignments": StrategyAssignmentsContract,
    "segment_migration": SegmentMigrationContract,
    "segment_outcomes": SegmentOutcomesContract,
    "strategy_effect": StrategyEffectContract,
    "satisfaction_summary": SatisfactionSummaryContract,
    "clv_backtest": ClvBacktestContract,
}

UNDESCRIBED_COLUMN = (
    "Not in the table's current contract (a column an earlier version of the pipeline wrote; "
    "the warehouse adds columns but never drops them)."
)

# What a BI user sees in the serving file (polars dtype of the contract -> DuckDB type).
_DUCKDB_TYPES = {
    "Date": "DATE",
    "Datetime": "TIMESTAMP",
    "String": "VARCHAR",
    "Int64": "BIGINT",
    "Float64": "DOUBLE",
    "Boolean": "BOOLEAN",
}


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def table_description(table: str) -> str:
    """The description of a marts table: its contract's docstring, on one line."""
    return _one_line(MART_CONTRACTS[table].to_schema().description)


def column_description(table: str, column: str) -> str | None:
    """The contract's description of a column of a marts table; ``None`` if it has none.

    A regex column of the contract (``attr_*`` of the segments table) describes every actual
    column whose name it matches.
    """
    columns = MART_CONTRACTS[table].to_schema().columns
    if column in columns and not columns[column].regex:
        return _one_line(columns[column].description) or None
    for pattern, spec in columns.items():
        if spec.regex and re.fullmatch(pattern, column):
            return _one_line(spec.description) or None
    return None


def _display_name(name: str, regex: bool) -> str:
    if regex and name == r"^attr_[a-z][a-z0-9_]*$":
        return "attr_<dimension>"
    return name


def _cell(text: str) -> str:
    # a bare <name> would be read as an HTML tag and vanish from the rendered page
    return text.replace("|", "\\|").replace("<", "\\<")


def data_dictionary_markdown() -> str:
    """The data dictionary of the serving copy as markdown: one section per marts table."""
    lines = [
        "Generated from the pandera contracts by `python -m pipelines.data_dictionary` (a test",
        "keeps this section equal to its output). The serving copy carries the same texts as",
        "`COMMENT ON TABLE` / `COMMENT ON COLUMN`, so BI tools show them; in DuckDB:",
        "`SELECT table_name, comment FROM duckdb_tables()` and",
        "`SELECT table_name, column_name, comment FROM duckdb_columns()`.",
        "`attr_<dimension>` stands for one column per configured attribute dimension.",
    ]
    for table, contract in MART_CONTRACTS.items():
        lines += [
            "",
            f"### `{MARTS_SCHEMA}.{table}`",
            "",
            _cell(table_description(table)),
            "",
            "| column | type | nullable | description |",
            "|---|---|---|---|",
        ]
        for name, spec in contract.to_schema().columns.items():
            dtype = str(spec.dtype)
            lines.append(
                f"| `{_display_name(name, spec.regex)}` | {_DUCKDB_TYPES.get(dtype, dtype)} | "
                f"{'yes' if spec.nullable else 'no'} | {_cell(_one_line(spec.description))} |"
            )
    return "\n".join(lines) + "\n"
