"""Whether two engines gave the same table: the same rows by key, the same columns and types,
equal values (floating-point numbers within a relative tolerance).

The messages hold counts and column names, never key values: customer ids stay out of logs.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from segmentation.keys import KEY_COLUMNS

# the engines' contract: numbers equal to 1e-9 relative
RELATIVE_TOLERANCE = 1e-9


def _same(left: pl.Expr, right: pl.Expr, dtype: pl.DataType, rtol: float) -> pl.Expr:
    both_null = left.is_null() & right.is_null()
    if dtype.is_float():
        close = (left - right).abs() <= rtol * pl.max_horizontal(left.abs(), right.abs())
        return both_null | (left.is_nan() & right.is_nan()) | (left == right) | close
    return both_null | (left == right).fill_null(False)


def frame_differences(
    actual: pl.DataFrame,
    expected: pl.DataFrame,
    keys: Sequence[str] = KEY_COLUMNS,
    rtol: float = RELATIVE_TOLERANCE,
) -> list[str]:
    """How ``actual`` differs from ``expected``, one line per difference (empty: the same).

    Rows are matched by ``keys`` (row order does not matter); a key repeated in either is a
    difference. Floats are equal within ``rtol`` of the larger magnitude (NaN equals NaN);
    every other value exactly; nulls equal nulls.
    """
    problems = []
    if actual.columns != expected.columns:
        missing = [name for name in expected.columns if name not in actual.columns]
        extra = [name for name in actual.columns if name not in expected.columns]
        order = "" if missing or extra else " (the same columns in another order)"
        problems.append(f"columns differ: missing {missing}, extra {extra}{order}")
    common = [name for name in expected.columns if name in actual.columns]
    types = [
        f"{name}: type {actual.schema[name]} != {expected.schema[name]}"
        for name in common
        if actual.schema[name] != expected.schema[name]
    ]
    problems += types
    for name, frame in (("actual", actual), ("expected", expected)):
        repeated = frame.height - frame.select(keys).unique().height
        if repeated:
            problems.append(f"{name}: {repeated} repeated keys")
    if problems:
        return problems
    presence = (
        actual.select(keys)
        .with_columns(pl.lit(True).alias("__actual"))
        .join(
            expected.select(keys).with_columns(pl.lit(True).alias("__expected")),
            on=list(keys),
            how="full",
            coalesce=True,
        )
    )
    missing_rows = presence.filter(pl.col("__actual").is_null()).height
    extra_rows = presence.filter(pl.col("__expected").is_null()).height
    if missing_rows or extra_rows:
        problems.append(f"rows differ: {missing_rows} missing, {extra_rows} extra")
    joined = actual.join(expected, on=list(keys), how="inner", suffix="__expected")
    for name in common:
        if name in keys:
            continue
        same = _same(pl.col(name), pl.col(f"{name}__expected"), expected.schema[name], rtol)
        differing = joined.filter(~same.fill_null(False)).height
        if differing:
            problems.append(f"{name}: {differing} of {joined.height} rows differ")
    return problems
