"""Frames handed to :mod:`segmentation.notebook`, checked and landed as the pipeline lands a
source: the expected columns and types, the landing by ``segmentation.raw.frame_source``, and
the warning that counts the rows left out."""

from __future__ import annotations

import sys
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import pandera.polars as pa
import polars as pl

from segmentation.contracts import contract_dtypes
from segmentation.privacy import failure_summary
from segmentation.raw.columns import SOURCE_FILE, SOURCE_ROW
from segmentation.raw.contracts import (
    CustomerAttributesContract,
    TransactionsContract,
)
from segmentation.raw.frame_source import LandedFrame, land_frame
from segmentation.raw.settings import (
    AttributeColumns,
    SourceName,
    TransactionColumns,
)
from segmentation.settings_base import Strict


class InputError(ValueError):
    """A frame handed in lacks a column or has one of the wrong type."""


class InputWarning(UserWarning):
    """Rows of a frame handed in were left out as the landing quarantines them (see
    :attr:`Snapshot.rejected`), or its ``is_return`` differs from the one the landing derives."""


def _accepts(expected: pl.DataType, actual: pl.DataType) -> bool:
    """Whether a column of type ``actual`` may stand for one of type ``expected``: the same
    kind of value (any width of number, any time unit), converted without changing a value."""
    if actual == pl.Null:
        return True
    if expected == pl.String:
        return actual in (pl.String, pl.Categorical, pl.Enum)
    if expected == pl.Float64:
        return actual.is_numeric()
    if expected == pl.Int64:
        return actual.is_integer()
    if expected == pl.Datetime:
        # naive like the landed data: a zoned timestamp's day depends on the zone
        return isinstance(actual, pl.Datetime) and actual.time_zone is None
    return actual == expected


def _flat(dtype: pl.DataType) -> bool:
    """Whether a column of another name holds a value a source file's column can."""
    flat = (pl.String, pl.Categorical, pl.Enum, pl.Boolean, pl.Null)
    return dtype.is_numeric() or dtype.is_temporal() or dtype in flat


def _kind(dtype: pl.DataType) -> str:
    if dtype == pl.Datetime:
        return "Datetime without a time zone"
    if dtype == pl.Float64:
        return "a number"
    return str(dtype)


def source_types(contract: type[pa.DataFrameModel], canonical: Sequence[str]) -> dict:
    """The type of each canonical source column, of the provenance and of ``is_return``."""
    dtypes = contract_dtypes(contract)
    names = [*canonical, SOURCE_FILE, SOURCE_ROW]
    return {name: dtypes[name] for name in names} | {"is_return": pl.Boolean()}


TRANSACTION_TYPES = source_types(TransactionsContract, list(TransactionColumns.model_fields))


def missing_transaction_columns(names: Sequence[str]) -> list[str]:
    missing = [name for name in ("customer_id", "order_ts") if name not in names]
    if "amount" not in names and not {"quantity", "unit_price"} <= set(names):
        missing.append("amount (or quantity and unit_price)")
    return missing


def _checked(
    frame: pl.DataFrame,
    what: str,
    expected: Mapping[str, pl.DataType],
    missing: Callable[[list[str]], list[str]],
) -> pl.DataFrame:
    """``frame`` with its columns checked: those of ``expected`` hold its kind of value, any
    other holds one flat value per row; categorical text as text, all-null columns typed.

    Raises:
        InputError: Naming every ``missing`` and every ill-typed column.
    """
    if not isinstance(frame, pl.DataFrame):
        raise InputError(f"{what}: expected a polars DataFrame, got {type(frame).__name__}")
    wrong, columns = [], []
    for name, dtype in frame.schema.items():
        wanted = expected.get(name)
        if wanted is not None and not _accepts(wanted, dtype):
            wrong.append(f"{name} is {dtype}, expected {_kind(wanted)}")
        elif wanted is None and not _flat(dtype):
            wrong.append(f"{name} is {dtype}, expected a number, text, boolean or time")
        elif dtype == pl.Null or dtype in (pl.Categorical, pl.Enum):
            columns.append(pl.col(name).cast(wanted or pl.String()))
        else:
            columns.append(pl.col(name))
    problems = []
    if absent := missing(frame.columns):
        problems.append(f"missing column(s): {', '.join(absent)}")
    if wrong:
        problems.append(f"ill-typed column(s): {'; '.join(wrong)}")
    if problems:
        raise InputError(f"{what}: {'; '.join(problems)}")
    return frame.select(columns)


def land_input(
    source: SourceName,
    frame: pl.DataFrame,
    expected: Mapping[str, pl.DataType],
    missing: Callable[[list[str]], list[str]],
    contract: type[pa.DataFrameModel],
    custom: Mapping[str, str] | None = None,
    masked: frozenset[str] = frozenset(),
) -> LandedFrame:
    """``frame`` checked (:func:`_checked`) and landed as a source, as the pipeline lands one;
    a warning says how many rows were left out and why.

    Raises:
        InputError: A missing or ill-typed column, or the frame's own ``source_file`` and
            ``source_row`` break the table contract.
    """
    checked = _checked(frame, source, expected, missing)
    landed = land_frame(source, checked, datetime.now(UTC).replace(tzinfo=None), custom, masked)
    if landed.own_provenance:
        try:
            contract.to_schema().validate(landed.rows, lazy=True)
        except pa.errors.SchemaErrors as error:
            raise InputError(
                f"{source}: source_file and source_row break {contract.__name__}: "
                f"{failure_summary(error.failure_cases)}"
            ) from None
    if landed.rejected.height:
        counts = Counter(landed.rejected.get_column("reason").to_list()).most_common()
        warn_input(
            f"{source}: {landed.rejected.height:,} of {frame.height:,} rows rejected as the "
            f"pipeline's landing rejects them ({', '.join(f'{r}: {n:,}' for r, n in counts)}) "
            f"and left out; snapshot(...).rejected lists them with their reasons"
        )
    if landed.returns_differ:
        warn_input(
            f"{source}: is_return is derived as the landing derives it (a negative quantity "
            f"or amount, or an order id starting with C); on {landed.returns_differ:,} rows it "
            f"differs from the frame's is_return, which is not used"
        )
    return landed


def warn_input(message: str) -> None:
    """Warn at the first caller outside the library: the user's line, not the library's."""
    level, caller = 1, sys._getframe()
    while caller is not None and caller.f_globals.get("__name__", "").startswith("segmentation."):
        level, caller = level + 1, caller.f_back
    warnings.warn(message, InputWarning, stacklevel=level)


def land_voice(
    source: SourceName,
    frame: pl.DataFrame | None,
    contract: type[pa.DataFrameModel],
    columns: type[Strict],
    rejected: list[pl.DataFrame],
) -> pl.DataFrame | None:
    """An events, feedback or products frame landed as its source (canonical event types and
    feedback kinds), its left-out rows added to ``rejected``; None without a frame."""
    if frame is None:
        return None
    required = [name for name, field in columns.model_fields.items() if field.is_required()]
    landed = land_input(
        source,
        frame,
        source_types(contract, list(columns.model_fields)),
        lambda names: [name for name in required if name not in names],
        contract,
    )
    rejected.append(landed.rejected)
    return landed.rows


def land_attributes(
    attributes: pl.DataFrame,
    kinds: dict[str, str],
    extra: dict[str, pl.DataType],
    personal: frozenset[str],
) -> LandedFrame:
    """An attribute-history frame checked and landed as a customer_attributes source: its
    ``customer_id``, ``valid_from`` and at least one attribute (a standard customer column or a
    declared custom one, ``kinds``/``extra``); ``personal`` columns are masked in the
    quarantine."""
    canonical = [name for name in AttributeColumns.model_fields if name != "customer_id"]
    types = source_types(CustomerAttributesContract, ["customer_id", "valid_from", *canonical])
    attribute_names = [*canonical, *extra]

    def missing(names: list[str]) -> list[str]:
        absent = [name for name in ("customer_id", "valid_from") if name not in names]
        if not any(name in names for name in attribute_names):
            absent.append("an attribute (a standard customer column or a declared extra column)")
        return absent

    return land_input(
        "customer_attributes",
        attributes,
        types | extra,
        missing,
        CustomerAttributesContract,
        {name: kind for name, kind in kinds.items() if name in attributes.columns},
        personal,
    )
