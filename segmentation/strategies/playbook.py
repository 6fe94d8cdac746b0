"""Assign every customer of every snapshot exactly one strategy from the playbook.

Order of decisions for one snapshot:

1. Control group first: ``is_control`` comes from a stable hash of ``"<salt>:<customer_id>"``
   (BLAKE2b, the first 8 bytes as an integer / 2**64, uniform in [0, 1)), ``True`` below the
   configured share. It depends on nothing else, so a customer keeps its group across
   snapshots and runs while the salt is unchanged.
2. Rules in order, first match wins. A rule with ``capacity: N`` ranks its still-unassigned
   matching customers by clv_12m (highest first, nulls last, ties by customer_id) and keeps
   the shortest prefix of that ranking that holds N treated (non-control) customers: the N
   treated customers get the action, the control customers ranked among them keep the rule as
   their (recorded, not actioned) strategy, and everyone after falls through to the next
   matching rule. So no capacity slot is spent on a control customer, and the rule's control
   customers come from the same CLV range as its treated ones.

Control customers keep strategy, channel, priority and matched_rule; their ``budget`` is 0
because nothing is spent on them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import polars as pl

from segmentation.keys import KEY_COLUMNS, in_key_order
from segmentation.segments.rule_evaluation import match_flags
from segmentation.strategies.settings import (
    PLAYBOOK_RANKING_COLUMN,
    ControlGroupSettings,
    Playbook,
    compile_playbook,
)

ASSIGNMENT_SCHEMA = {
    "snapshot_date": pl.Date,
    "customer_id": pl.String,
    "strategy": pl.String,
    "channel": pl.String,
    "priority": pl.Int64,
    "budget": pl.Float64,
    "matched_rule": pl.String,
    "is_control": pl.Boolean,
}
_UNIT = float(2**64)


def control_draw(customer_id: str, salt: str) -> float:
    """The customer's stable uniform draw in [0, 1) for the control-group split."""
    digest = hashlib.blake2b(f"{salt}:{customer_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _UNIT


def _draws(customer_ids: pl.Series, salt: str) -> np.ndarray:
    """:func:`control_draw` of every id (none null), in order.

    The salt prefix is hashed once and copied per id, the digests are read as big-endian
    integers in one go, and the integer -> float conversion rounds like Python's does.
    """
    salted = hashlib.blake2b(f"{salt}:".encode(), digest_size=8)

    def digest(customer_id: bytes) -> bytes:
        hasher = salted.copy()
        hasher.update(customer_id)
        return hasher.digest()

    digests = b"".join(map(digest, customer_ids.cast(pl.Binary).to_list()))
    return np.frombuffer(digests, dtype=">u8").astype(np.float64) / _UNIT


def _strictly_increasing(values: pl.Series) -> bool:
    if values.null_count():
        return False
    return values.len() < 2 or bool((values.slice(1) > values.slice(0, values.len() - 1)).all())


def control_flags(customer_ids: pl.Series, control: ControlGroupSettings) -> pl.Series:
    """``is_control`` for each id: its stable draw is below ``control.share``."""
    if _strictly_increasing(customer_ids):
        # distinct ids (one snapshot, sorted): no lookup needed
        draws = _draws(customer_ids, control.salt)
        return pl.Series("is_control", draws < control.share, dtype=pl.Boolean)
    unique_ids = customer_ids.unique().drop_nulls()
    lookup = pl.DataFrame(
        {
            "customer_id": unique_ids,
            "is_control": _draws(unique_ids, control.salt) < control.share,
        },
        schema={"customer_id": pl.String, "is_control": pl.Boolean},
    )
    return (
        customer_ids.to_frame("customer_id")
        .join(lookup, on="customer_id", how="left", maintain_order="left")
        .get_column("is_control")
    )


def assign_strategies(
    segments: pl.DataFrame,
    playbook: Playbook,
    control: ControlGroupSettings | None = None,
    columns: Mapping[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """One strategy per snapshot and customer.

    Args:
        segments: The customer segments table (every column the rules use, plus snapshot_date,
            customer_id and clv_12m).
        playbook: The validated playbook.
        control: The control-group design; default: the playbook's ``control_group``.
        columns: The columns the rules are checked against, in order, when ``segments`` holds
            only some of its table's (``read_playbook_segments``): the whole table's, so the
            check is the same as on the whole month; default: ``segments``' own.

    Returns:
        snapshot_date, customer_id, strategy, channel, priority, budget (0 for control
        customers), matched_rule and is_control; one row per input row, sorted by
        snapshot_date and customer_id.

    Raises:
        ValueError: If a customer matches no rule (impossible with a validated playbook) or the
            segments have duplicate (snapshot_date, customer_id) rows.
    """
    control = control or playbook.control_group
    work = rule_matches(segments, playbook, control, columns)
    return assignments_of(resolve_rules(work, playbook), playbook)


def rule_matches(
    segments: pl.DataFrame,
    playbook: Playbook,
    control: ControlGroupSettings | None = None,
    columns: Mapping[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """What the playbook's decisions read of each customer, alone: snapshot_date, customer_id,
    clv_12m, is_control, ``match_<i>`` (rule i holds) per rule, and a null ``rule_index``; in
    key order.

    Args:
        segments: As :func:`assign_strategies`'s.
        playbook: The validated playbook.
        control: The control-group design; default: the playbook's ``control_group``.
        columns: As :func:`assign_strategies`'s.
    """
    control = control or playbook.control_group
    frame = in_key_order(segments, "segments")
    # the rules' value check samples each column by its position among these: the whole
    # table's order keeps it the same whichever columns were read
    compiled = compile_playbook(playbook, columns if columns is not None else _columns_of(frame))
    flags = match_flags(frame, compiled)
    return pl.concat(
        [
            frame.select(
                *KEY_COLUMNS,
                pl.col(PLAYBOOK_RANKING_COLUMN).cast(pl.Float64),
                control_flags(frame.get_column("customer_id"), control).alias("is_control"),
            ),
            flags,
        ],
        how="horizontal",
    ).with_columns(pl.lit(None, dtype=pl.Int64).alias("rule_index"))


def resolve_rules(work: pl.DataFrame, playbook: Playbook) -> pl.DataFrame:
    """``work`` (:func:`rule_matches`' rows, in key order) with each row's ``rule_index`` set:
    its first matching rule, where a rule with a capacity keeps the top of its ranking (see the
    module docstring). Rows that already have a rule_index keep it and take no part.

    Only the capacity rules need other customers' rows: the rows whose first matching rule has
    a capacity, ranked together per snapshot (the Spark engine's reduce step).
    """
    work = work.with_row_index("row")
    for index, rule in enumerate(playbook.rules):
        eligible = pl.col("rule_index").is_null() & pl.col(f"match_{index}")
        if rule.capacity is None:
            work = work.with_columns(
                pl.when(eligible)
                .then(pl.lit(index))
                .otherwise(pl.col("rule_index"))
                .alias("rule_index")
            )
            continue
        treated = (~pl.col("is_control")).cast(pl.Int64)
        # The rows are sorted by snapshot and customer id (unique), so a stable sort by CLV
        # breaks CLV ties by customer id without comparing the ids.
        chosen = (
            work.filter(eligible)
            .sort(
                ["snapshot_date", PLAYBOOK_RANKING_COLUMN],
                descending=[False, True],
                nulls_last=True,
                maintain_order=True,
            )
            .with_columns((treated.cum_sum() - treated).over("snapshot_date").alias("ahead"))
            .filter(pl.col("ahead") < rule.capacity)
            .get_column("row")
        )
        work = work.with_columns(
            pl.when(pl.col("row").is_in(chosen.implode()))
            .then(pl.lit(index))
            .otherwise(pl.col("rule_index"))
            .alias("rule_index")
        )
    return work.drop("row")


def assignments_of(work: pl.DataFrame, playbook: Playbook) -> pl.DataFrame:
    """The assignment rows of ``work`` (snapshot_date, customer_id, is_control and the
    resolved ``rule_index``), in its order.

    Raises:
        ValueError: If a row has no rule (it matched none).
    """
    rules = playbook.rules
    unmatched = work.get_column("rule_index").null_count()
    if unmatched:
        raise ValueError(f"{unmatched} customers match no playbook rule: end with a catch-all")
    positions = list(range(len(rules)))

    def of_rule(values: list[object], dtype: type[pl.DataType]) -> pl.Expr:
        return pl.col("rule_index").replace_strict(positions, values, return_dtype=dtype)

    return work.select(
        *KEY_COLUMNS,
        of_rule([rule.strategy for rule in rules], pl.String).alias("strategy"),
        of_rule([rule.channel for rule in rules], pl.String).alias("channel"),
        of_rule([rule.priority for rule in rules], pl.Int64).alias("priority"),
        pl.when(pl.col("is_control"))
        .then(pl.lit(0.0))
        .otherwise(of_rule([float(rule.budget_per_customer) for rule in rules], pl.Float64))
        .alias("budget"),
        of_rule([rule.name for rule in rules], pl.String).alias("matched_rule"),
        "is_control",
    ).cast(ASSIGNMENT_SCHEMA)


def _columns_of(frame: pl.DataFrame) -> dict[str, pl.DataType]:
    """Rules may use any column the segments frame has (its attribute dimensions included)."""
    return dict(frame.schema)
