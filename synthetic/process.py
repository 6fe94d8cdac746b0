"""What one chunk's purchase process hands to the events and feedback drawn beside it: each
customer's latent trajectory and each order, in seconds since the start of the window."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Process:
    """One chunk's customers and orders (arrays indexed by customer or by order).

    Attributes:
        customer_id: The chunk's customer ids.
        signup_s: Start of the signup day.
        potential: Signs up but never buys.
        purchaser: Made a first purchase inside the window.
        first_s: First purchase (may lie past the window for late signups).
        dead: Dropped out inside the window (at its last purchase).
        last_s: Last purchase in the window (the dropout time of the dead).
        lam: Purchase rate per day while alive.
        p_dropout: BG/NBD dropout probability.
        order_customer: Customer index of each order, orders in timestamp order.
        order_s: Timestamp of each order.
        order_channel: Channel code of each order (index into ``CHANNELS``).
        order_lines: Number of line items of each order.
        order_first_line: Index of each order's first line item.
        line_product: Catalogue index of each line item's product.
    """

    customer_id: pl.Series
    signup_s: np.ndarray
    potential: np.ndarray
    purchaser: np.ndarray
    first_s: np.ndarray
    dead: np.ndarray
    last_s: np.ndarray
    lam: np.ndarray
    p_dropout: np.ndarray
    order_customer: np.ndarray
    order_s: np.ndarray
    order_channel: np.ndarray
    order_lines: np.ndarray
    order_first_line: np.ndarray
    line_product: np.ndarray

    @property
    def n(self) -> int:
        return int(self.signup_s.size)

    def block(self, lo: int, hi: int) -> Process:
        """Customers ``lo .. hi - 1`` and their orders (customer indices from 0 again)."""
        mine = (self.order_customer >= lo) & (self.order_customer < hi)
        return Process(
            customer_id=self.customer_id.slice(lo, hi - lo),
            signup_s=self.signup_s[lo:hi],
            potential=self.potential[lo:hi],
            purchaser=self.purchaser[lo:hi],
            first_s=self.first_s[lo:hi],
            dead=self.dead[lo:hi],
            last_s=self.last_s[lo:hi],
            lam=self.lam[lo:hi],
            p_dropout=self.p_dropout[lo:hi],
            order_customer=self.order_customer[mine] - lo,
            order_s=self.order_s[mine],
            order_channel=self.order_channel[mine],
            order_lines=self.order_lines[mine],
            order_first_line=self.order_first_line[mine],
            line_product=self.line_product,
        )


def _stable_order(ts: np.ndarray, customer: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """The stable order by ``(ts, customer, kind)`` (non-negative integers)."""
    if ts.size == 0:
        return np.zeros(0, dtype=np.int64)
    span_c, span_k = int(customer.max()) + 1, int(kind.max()) + 1
    if int(ts.min()) >= 0 and (int(ts.max()) + 1) * span_c * span_k < 2**62:
        # one int64 key sorts faster than three
        key = (ts.astype(np.int64) * span_c + customer) * span_k + kind
        return np.argsort(key, kind="stable")
    return np.lexsort((kind, customer, ts))


def sort_distinct(
    ts: np.ndarray, customer: np.ndarray, kind: np.ndarray, *rest: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The stable order of rows by ``(ts, customer, kind)``, with timestamps (seconds) moved on
    where a row would repeat another in every key, ``rest`` included (a rare coincidence of
    independent draws: the k-th repeat moves k seconds, until all rows differ).

    Returns:
        The permutation that sorts the rows, and the (possibly moved) timestamps in the
        original row order.
    """
    ts = ts.copy()
    for _ in range(1_000):
        perm = _stable_order(ts, customer, kind)
        t, c = ts[perm], customer[perm]
        tie = np.flatnonzero((t[1:] == t[:-1]) & (c[1:] == c[:-1]))
        # rows can only repeat where a customer has two rows in one second: compare those only
        at = perm[np.union1d(tie, tie + 1)]
        keys = (ts, customer, kind, *rest)
        frame = pl.DataFrame({f"k{i}": key[at] for i, key in enumerate(keys)})
        rank = frame.select(pl.int_range(pl.len()).over(frame.columns)).to_series().to_numpy()
        if not rank.any():
            return perm, ts
        ts[at] += rank
    raise RuntimeError("could not make the rows distinct")  # pragma: no cover
