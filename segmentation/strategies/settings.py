"""The playbook: ordered rules mapping segments to actions, plus the control-group design.

The shipped default is ``config/playbook.yaml`` (its comments document every key). Loading
validates it with pydantic: unknown keys are rejected, and every rule's ``when`` is checked like
an attribute rule (:mod:`segmentation.segments.sql_rules`) against the columns of the segments table
(the fixed columns, the key features, the labels and key features of the events and feedback
sources, and one ``attr_<dimension>`` column per configured attribute dimension). Error messages
name the rule. The last rule must match every customer (a constant-true ``when`` and no
capacity), so every customer gets exactly one strategy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import yaml
from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from segmentation.bundled import bundled_path
from segmentation.keys import KEY_COLUMNS
from segmentation.segments.columns import SEGMENT_COLUMN_TYPES, segment_columns_with
from segmentation.segments.contracts import CustomerSegmentsContract
from segmentation.segments.rule_evaluation import is_constant_true
from segmentation.segments.rule_types import CheckedExpression, ColumnRange, RuleProblem
from segmentation.segments.settings import SegmentSettings, contract_ranges, feature_column_ranges
from segmentation.segments.sql_rules import RuleChecker
from segmentation.settings_base import Location, Strict, dotted, problem_lines

# config/playbook.yaml of the repository, or its copy inside an installed wheel
DEFAULT_PLAYBOOK = bundled_path("config/playbook.yaml")
COLUMNS_CONTEXT_KEY = "segment_columns"

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class PlaybookError(ValueError):
    """A playbook problem a user can fix: the message names the file, the rule and the key."""


class ControlGroupSettings(Strict):
    """Deterministic hold-out: a customer is in control when hash(salt, id) < share.

    Attributes:
        salt: Changing it draws a new control group; keep it fixed to keep customers in the
            same group across snapshots and runs.
        share: Fraction of customers held out (0 disables the control group).
    """

    salt: Annotated[str, Field(min_length=1)] = "segmentation-playbook-v1"
    share: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1


class PlaybookRule(Strict):
    """One playbook rule: who (``when``) gets which action.

    Attributes:
        name: Unique lower-case identifier, recorded as ``matched_rule``.
        when: SQL boolean expression over the segments table's columns.
        strategy: The action, recorded as ``strategy``.
        channel: Where the action is delivered (e.g. email, phone, account_manager, none).
        priority: 1 = most urgent; for the teams executing the actions (it does not change
            which rule wins: the rule order does).
        budget_per_customer: Spend per treated customer, in the revenue currency.
        rationale: Why this segment gets this action.
        capacity: At most this many treated customers per snapshot; the top ones by clv_12m
            (ties: customer_id) get the action, the rest fall through to later rules.
    """

    name: str
    when: Annotated[str, Field(min_length=1)]
    strategy: Annotated[str, Field(min_length=1)]
    channel: Annotated[str, Field(min_length=1)]
    priority: Annotated[int, Field(ge=1)]
    budget_per_customer: Annotated[float, Field(ge=0.0)]
    rationale: Annotated[str, Field(min_length=1)]
    capacity: Annotated[int, Field(ge=1)] | None = None

    @field_validator("name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"rule name {value!r}: use lower-case letters, digits and _")
        return value


class Playbook(Strict):
    """The ordered playbook rules (first match wins) and the control-group design."""

    description: str = ""
    control_group: ControlGroupSettings = ControlGroupSettings()
    rules: Annotated[list[PlaybookRule], Field(min_length=1)]

    @model_validator(mode="after")
    def _rules_are_valid(self, info: ValidationInfo) -> Playbook:
        context = info.context or {}
        columns = context.get(COLUMNS_CONTEXT_KEY, SEGMENT_COLUMN_TYPES)
        compile_playbook(self, columns)
        return self


def compile_playbook(
    playbook: Playbook, columns: Mapping[str, pl.DataType] | None = None
) -> list[CheckedExpression]:
    """Check every rule of ``playbook``; returns the checked ``when`` of each rule, in order.

    Args:
        playbook: The playbook.
        columns: Columns rules may use; default: the segments table without attribute columns.

    Raises:
        ValueError: Listing every problem as ``rule '<name>' (#<n>): <problem>``.
    """
    problems: list[str] = []
    names = [rule.name for rule in playbook.rules]
    for duplicate in sorted({name for name in names if names.count(name) > 1}):
        problems.append(f"rule name '{duplicate}' is used more than once")
    checked: list[CheckedExpression] = []
    known = columns if columns is not None else SEGMENT_COLUMN_TYPES
    with RuleChecker(known, segment_column_ranges()) as checker:
        for position, rule in enumerate(playbook.rules, start=1):
            label = f"playbook rule '{rule.name}' (#{position})"
            try:
                checked.append(replace(checker.check(rule.when), label=label))
            except RuleProblem as problem:
                problems.append(
                    f"rule '{rule.name}' (#{position}) `when: {rule.when.strip()}`: {problem}"
                )
    last = playbook.rules[-1]
    all_checked = len(checked) == len(playbook.rules)
    if all_checked and (not is_constant_true(checked[-1]) or last.capacity is not None):
        problems.append(
            f"the last rule '{last.name}' must be a catch-all (`when: \"true\"`, no capacity) "
            "so that every customer gets a strategy"
        )
    if problems:
        raise ValueError("\n  ".join(problems))
    return checked


@cache
def segment_column_ranges() -> dict[str, ColumnRange]:
    """The ranges of the segments-table columns playbook rules may use (labels, scores)."""
    return {**feature_column_ranges(), **contract_ranges(CustomerSegmentsContract)}


def playbook_columns(segment_settings: SegmentSettings | None = None) -> dict[str, pl.DataType]:
    """The columns playbook rules may use, given the segment settings' attribute dimensions."""
    dimensions = segment_settings.attribute_dimensions() if segment_settings else []
    return segment_columns_with(dimensions)


def rules_using(
    playbook: Playbook, column: str, segment_settings: SegmentSettings | None = None
) -> tuple[str, ...]:
    """The names of the playbook rules whose ``when`` reads ``column``, in rule order (for
    ``next_best_product``: the cross-sell rules).

    Args:
        playbook: A validated playbook.
        column: A segments-table column, e.g. ``next_best_product``.
        segment_settings: The segment settings the playbook was validated with (its attribute
            dimensions are columns too).
    """
    checked = compile_playbook(playbook, playbook_columns(segment_settings))
    return tuple(
        rule.name
        for rule, expression in zip(playbook.rules, checked, strict=True)
        if column in expression.columns
    )


# the segments column the capacity rules rank customers by, highest first
PLAYBOOK_RANKING_COLUMN = "clv_12m"


def playbook_segment_columns(
    playbook: Playbook, segment_settings: SegmentSettings | None = None
) -> frozenset[str]:
    """The ``marts.customer_segments`` columns that assigning ``playbook``'s strategies reads:
    the keys, ``clv_12m`` (the capacity rules rank by it) and every column a rule names. A
    segments month of only these gives the same assignments as the whole month; a rule whose
    column is missing fails to compile, naming it.

    Args:
        playbook: A validated playbook.
        segment_settings: As :func:`rules_using`'s.
    """
    checked = compile_playbook(playbook, playbook_columns(segment_settings))
    named = {column for expression in checked for column in expression.columns}
    return frozenset({*KEY_COLUMNS, PLAYBOOK_RANKING_COLUMN, *named})


def _format_errors(source: str, raw: Any, error: ValidationError) -> str:
    rules = raw.get("rules") if isinstance(raw, dict) else None

    def where(loc: Location) -> str:
        if len(loc) < 2 or loc[0] != "rules" or not isinstance(loc[1], int):
            return dotted(loc)
        name = None
        if isinstance(rules, list) and loc[1] < len(rules) and isinstance(rules[loc[1]], dict):
            name = rules[loc[1]].get("name")
        rest = dotted(loc[2:]) if loc[2:] else ""
        rule = f"rule '{name}' (#{loc[1] + 1})" if name else f"rule #{loc[1] + 1}"
        return f"{rule} key '{rest}'" if rest else rule

    return "\n".join([f"invalid playbook {source}:", *problem_lines(error, where)])


def parse_playbook(
    raw: Any,
    segment_settings: SegmentSettings | None = None,
    source: str = "(mapping)",
) -> Playbook:
    """Validate a playbook mapping (as read from YAML).

    Args:
        raw: The mapping.
        segment_settings: Segment settings whose attribute dimensions rules may reference as
            ``attr_<dimension>``; without them only the fixed segment columns are known.
        source: Where the mapping came from, for messages.

    Raises:
        PlaybookError: With one line per problem, naming the rule and key.
    """
    if not isinstance(raw, dict):
        raise PlaybookError(f"invalid playbook {source}: expected a mapping at the top")
    context = {COLUMNS_CONTEXT_KEY: playbook_columns(segment_settings)}
    try:
        return Playbook.model_validate(raw, context=context)
    except ValidationError as error:
        raise PlaybookError(_format_errors(source, raw, error)) from None


def load_playbook(
    path: str | Path | None = None, segment_settings: SegmentSettings | None = None
) -> Playbook:
    """Load and validate the playbook YAML at ``path`` (default: ``config/playbook.yaml``).

    Raises:
        PlaybookError: If the file is missing, is not valid YAML or fails validation.
    """
    chosen = Path(path) if path is not None else DEFAULT_PLAYBOOK
    if not chosen.is_file():
        raise PlaybookError(f"playbook file not found: {chosen}")
    try:
        raw = yaml.safe_load(chosen.read_text())
    except yaml.YAMLError as error:
        raise PlaybookError(f"invalid YAML in {chosen}: {error}") from None
    return parse_playbook(raw, segment_settings, source=str(chosen))
