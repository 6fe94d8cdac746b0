"""Customer attributes as of each snapshot: what ``customer_activity.sql`` joins the activity to.

Without an attribute history the customers are ``raw.customers`` as it is: its rows hold
forever. With one (``raw.customer_attributes``: one row per customer and change), a snapshot
uses, per customer, the latest history row whose ``valid_from`` lies before the end of the
snapshot's day. An attribute the history maps takes the history's value from the customer's
first history row on (a null there included: the row says the value is not known from then),
the customers source's value before it (null where that source lacks the column); the other
attributes are the customers source's. A customer with a history row by then is a known
customer, with or without a transaction or a customers row.

The state advances from one snapshot to the next (``advance_attribute_state.sql``): each history
row is read once per run whatever the number of snapshots, and each snapshot costs one pass over
the customers, like the activity totals. It is a function of the snapshot alone, so a
backfilled month equals the live one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta

import duckdb

from segmentation.sql_files import compose_sql, read_sql, render_sql
from segmentation.warehouse import table_columns

CUSTOMERS_TABLE = "raw.customers"
HISTORY_TABLE = "raw.customer_attributes"
# the columns of the history that are not attributes
_HISTORY_KEYS = ("customer_id", "valid_from", "source_file", "source_row")
# the flag customers_as_of.sql adds beside the attributes
KNOWN_FLAG = "known_by_attributes"


def as_of_end(snapshot: date) -> datetime:
    """The instant a snapshot's rows must lie before: the start of the day after it."""
    return datetime.combine(snapshot + timedelta(days=1), time.min)


def attribute_columns_sql(con: duckdb.DuckDBPyConnection) -> str:
    """The attribute columns of ``customers_as_of.sql``: every column of ``raw.customers`` but
    the id (the history's value where the history has the column too), then the history's
    attributes that ``raw.customers`` lacks."""
    customers = [name for name in table_columns(con, CUSTOMERS_TABLE) if name != "customer_id"]
    history = [name for name in table_columns(con, HISTORY_TABLE) if name not in _HISTORY_KEYS]
    clash = {KNOWN_FLAG} & {*customers, *history}
    if clash:
        raise ValueError(f"a customer attribute may not be named {KNOWN_FLAG}")
    columns = [
        render_sql("features/attribute_as_of.sql", column=name)
        if name in history
        else render_sql("features/attribute_column.sql", relation="c", column=name)
        for name in customers
    ]
    columns += [
        render_sql("features/attribute_column.sql", relation="s", column=name)
        for name in history
        if name not in customers
    ]
    # each fragment ends its line: a header comment of the next cannot swallow the comma
    return ",\n".join(fragment.rstrip() for fragment in columns)


@contextmanager
def customers_as_of(con: duckdb.DuckDBPyConnection, history: bool) -> Iterator[CustomersAsOf]:
    """The relation ``_customers_as_of`` on ``con`` for ``customer_activity.sql``, advanced
    snapshot by snapshot (ascending) with :meth:`CustomersAsOf.advance`; dropped on exit.

    Args:
        con: The connection the activity is computed on.
        history: Whether an attribute-history source is configured (``raw.customer_attributes``
            is then read); without one, ``raw.customers`` as it is.
    """
    drop = read_sql("features/drop_attribute_state.sql")
    con.execute(drop)
    try:
        if history:
            con.execute(read_sql("features/create_attribute_state.sql"))
            columns = attribute_columns_sql(con)
            con.execute(compose_sql("features/customers_as_of.sql", columns=columns))
        else:
            con.execute(read_sql("features/customers_without_history.sql"))
        yield CustomersAsOf(con, history)
    finally:
        con.execute(drop)


class CustomersAsOf:
    """The customers' attributes advanced to one snapshot after another (see
    :func:`customers_as_of`)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, history: bool) -> None:
        self._con = con
        self._history = history
        self._until: datetime | None = None

    def advance(self, snapshot: date) -> None:
        """Make ``_customers_as_of`` the customers as of ``snapshot`` (after the previous one)."""
        if not self._history:
            return
        until = as_of_end(snapshot)
        if self._until is not None and until < self._until:
            raise ValueError(f"snapshots must ascend: {snapshot} after {self._until.date()}")
        self._con.execute(
            read_sql("features/advance_attribute_state.sql"),
            {"since": self._until, "until": until},
        )
        self._until = until
