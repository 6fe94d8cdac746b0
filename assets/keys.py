"""The key of every per-customer table, one row per snapshot and customer, and its order."""

from collections.abc import Sequence

import polars as pl

KEY_COLUMNS: tuple[str, str] = ("snapshot_date", "customer_id")


def sorted_by_keys(frame: pl.DataFrame) -> bool:
    """Whether ``frame`` is sorted by snapshot_date, customer_id with no repeated key and no
    null key: then it is already in the order the tables are written in, and a sort (or a
    duplicate check) would only cost time. One pass over the two key columns."""
    if frame.height < 2:
        return True
    snapshot, customer = (pl.col(name) for name in KEY_COLUMNS)
    ascending = (snapshot > snapshot.shift()) | (
        (snapshot == snapshot.shift()) & (customer > customer.shift())
    )
    return bool(frame.select(ascending.slice(1).fill_null(False).all()).item())


def in_key_order(frame: pl.DataFrame, what: str) -> pl.DataFrame:
    """``frame`` sorted by snapshot_date, customer_id (itself when it already is).

    Raises:
        ValueError: If a (snapshot_date, customer_id) key repeats, naming ``what`` the rows are.
    """
    if sorted_by_keys(frame):
        return frame
    if frame.select(pl.struct(KEY_COLUMNS).is_duplicated().any()).item():
        raise ValueError(f"{what} have duplicate (snapshot_date, customer_id) rows")
    return frame.sort(KEY_COLUMNS)


def ordered_by(frame: pl.DataFrame, columns: Sequence[str]) -> bool:
    """Whether ``frame`` is sorted ascending by ``columns`` (equal keys allowed) with no null in
    them. One pass over those columns."""
    if frame.height < 2 or not columns:
        return True
    before, tied = pl.lit(False), pl.lit(True)
    for name in columns:
        column = pl.col(name)
        before = before | (tied & (column > column.shift()))
        tied = tied & (column == column.shift())
    return bool(frame.select((before | tied).slice(1).fill_null(False).all()).item())
