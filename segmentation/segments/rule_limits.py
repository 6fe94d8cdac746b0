"""The cost limits of a rule, measured on its syntax tree before it ever runs.

A rule may have at most :data:`MAX_RULE_CHARACTERS` characters (checked on its text by
:class:`~segmentation.segments.sql_rules.RuleChecker`) and :data:`MAX_RULE_NODES` syntax-tree
nodes nested at most :data:`MAX_RULE_DEPTH` deep, and no text value it computes may grow beyond
:data:`MAX_TEXT_GROWTH` times the longest input text (nested ``replace`` calls multiply a
value's length: nine of them in 270 characters took 1.4 GB for four rows).
"""

from __future__ import annotations

from typing import Any

from segmentation.segments.rule_types import RuleProblem

# Cost limits of one rule (see the module docstring); generous for hand-written rules.
MAX_RULE_CHARACTERS = 4000
MAX_RULE_NODES = 1000
MAX_RULE_DEPTH = 32
MAX_TEXT_GROWTH = 100
# constant text a rule may build (e.g. by replacing a character with a long constant)
MAX_CONSTANT_TEXT = 100_000


def _depth_and_size(item: dict[str, Any]) -> tuple[int, int]:
    """The nesting depth and node count of an expression tree (iteratively: no recursion)."""
    deepest, count = 0, 0
    stack: list[tuple[Any, int]] = [(item, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if "class" in node:
                depth += 1
                count += 1
                deepest = max(deepest, depth)
            stack.extend((value, depth) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, depth) for value in node)
    return deepest, count


def _children(node: Any, top: bool = True) -> list[dict[str, Any]]:
    """The direct expression children of an expression node, in order."""
    if isinstance(node, dict):
        if "class" in node and not top:
            return [node]
        return [child for value in node.values() for child in _children(value, top=False)]
    if isinstance(node, list):
        return [child for value in node for child in _children(value, top=False)]
    return []


def _constant_text(node: dict[str, Any]) -> str | None:
    if node.get("class") != "CONSTANT":
        return None
    value = node.get("value") or {}
    return None if value.get("is_null") else str(value.get("value", ""))


def _text_size(node: dict[str, Any]) -> tuple[float, float]:
    """An upper bound of the length of a node's value as ``a * L + b`` (L: the longest input
    text); raises :class:`RuleProblem` when a value could grow beyond the limits."""
    node_class = node.get("class")
    if node_class == "COLUMN_REF":
        return (1.0, 0.0)
    if node_class == "CONSTANT":
        text = _constant_text(node)
        return (0.0, float(len(text or "")))
    sizes = [_text_size(child) for child in _children(node)]
    name = str(node.get("function_name", "")).lower() if node_class == "FUNCTION" else ""
    if name in {"concat", "||"}:
        size = (sum(a for a, _ in sizes), sum(b for _, b in sizes))
    elif name == "replace" and len(sizes) == 3:
        children = node.get("children") or []
        replacement = _constant_text(children[2])
        if replacement is None:
            raise RuleProblem(
                "replace() in a rule needs a constant replacement text (e.g. "
                "replace(region, '-', ' ')), so its cost stays bounded"
            )
        search = _constant_text(children[1])
        # a non-constant search text is at least one character long (empty: no change)
        factor = max(1.0, len(replacement) / max(1, len(search or "x")))
        size = (sizes[0][0] * factor, sizes[0][1] * factor)
    else:
        size = (max((a for a, _ in sizes), default=0.0), max((b for _, b in sizes), default=0.0))
    if size[0] > MAX_TEXT_GROWTH or size[1] > MAX_CONSTANT_TEXT:
        raise RuleProblem(
            f"a text value in it can grow to more than {MAX_TEXT_GROWTH} times its input "
            f"(or {MAX_CONSTANT_TEXT:,} characters), through {name or 'nested'}() calls: "
            "a rule's cost must stay bounded"
        )
    return size


def check_cost(item: dict[str, Any]) -> None:
    """Refuse an expression tree beyond the depth, size or text-growth limits."""
    depth, nodes = _depth_and_size(item)
    if depth > MAX_RULE_DEPTH:
        raise RuleProblem(
            f"nests {depth} levels deep; the limit is {MAX_RULE_DEPTH} (split it into simpler "
            "rules)"
        )
    if nodes > MAX_RULE_NODES:
        raise RuleProblem(
            f"has {nodes} expression nodes; the limit is {MAX_RULE_NODES} (split it into "
            "simpler rules)"
        )
    _text_size(item)
