"""The configuration reference, rendered from the pydantic settings models themselves.

Keys, types, constraints and defaults come from each model's field info, descriptions from the
fields (``Field(description=...)``), the ``Attributes:`` section of the model's docstring, or,
for fields that have neither, ``setting_descriptions.yaml`` next to this file. A key without a
description anywhere, or a description in that file for a key the models do not define, stops
the build: the reference cannot fall behind the code.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

DESCRIPTIONS_FILE = Path(__file__).with_name("setting_descriptions.yaml")


class ReferenceError(ValueError):
    """The models and the descriptions disagree: a key without a description or a stale one."""


@dataclass
class Row:
    """One key of a section: its table cells."""

    key: str
    type: str
    default: str
    description: str


@dataclass
class Section:
    """One settings model at its place in the YAML (``features.value``, ``rules[]``...)."""

    path: str
    title: str
    model: type[BaseModel]
    prefix: str
    rows: list[Row] = field(default_factory=list)
    defaults: list[tuple[str, Any]] = field(default_factory=list)


def _cell(text: str) -> str:
    """``text`` fit for a table cell: a ``|`` outside code spans would end the cell (inside
    them the table reader leaves it alone, and an escape would show)."""
    parts = re.split(r"(`[^`]*`)", " ".join(text.split()))
    return "".join(part if part.startswith("`") else part.replace("|", "\\|") for part in parts)


def _anchor(prefix: str, path: str) -> str:
    """The id of a section's heading: ``prefix`` keeps two references on one page apart."""
    return prefix + (re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "top-level")


def _markdown_text(text: str) -> str:
    """Docstring text as markdown on one line per paragraph: ``x`` and :role:`x` become `x`."""
    text = re.sub(r":[a-z]+:`([^`]+)`", r"`\1`", text)
    text = text.replace("``", "`")
    paragraphs = re.split(r"\n\s*\n", text.strip())
    out = []
    for paragraph in paragraphs:
        lines = [line.strip() for line in paragraph.splitlines()]
        if all(line.startswith(("* ", "- ")) or not line for line in lines[:1]) and any(
            line.startswith(("* ", "- ")) for line in lines
        ):
            items: list[str] = []
            for line in lines:
                if line.startswith(("* ", "- ")):
                    items.append("- " + line[2:])
                elif items:
                    items[-1] += " " + line
            out.append("\n".join(items))
        else:
            out.append(" ".join(lines))
    return "\n\n".join(out)


def _docstring_parts(model: type[BaseModel]) -> tuple[str, dict[str, str]]:
    """A model's docstring without its ``Attributes:`` block or examples, and that block as
    field -> description."""
    doc = typing.cast(str, model.__doc__ or "")
    lines = doc.expandtabs().splitlines()
    body = lines[:1] + [line[_indent(lines[1:]) :] for line in lines[1:]]
    text, attributes, current, in_block = [], {}, None, False
    for line in body:
        if line.strip() == "Attributes:":
            in_block = True
            continue
        if in_block:
            match = re.match(r"^\s{4}(\w+):\s*(.*)$", line)
            if match:
                current = match.group(1)
                attributes[current] = match.group(2)
            elif line.startswith(" " * 8) and current is not None:
                attributes[current] += " " + line.strip()
            elif line.strip():
                in_block = False
                text.append(line)
            continue
        text.append(line)
    summary = "\n".join(text)
    # a literal YAML example (``Example::``) belongs to the module docs, not to a table
    summary = re.split(r"\n[^\n]*::\s*\n", summary)[0]
    return _markdown_text(summary), {k: _markdown_text(v) for k, v in attributes.items()}


def _indent(lines: list[str]) -> int:
    widths = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    return min(widths, default=0)


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """(the type without ``Annotated``, the constraints ``Annotated`` carried)."""
    metadata: list[Any] = []
    while typing.get_origin(annotation) is typing.Annotated:
        for item in annotation.__metadata__:
            metadata.extend(item.metadata if isinstance(item, FieldInfo) else [item])
        annotation = annotation.__origin__
    return annotation, metadata


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


_SCALARS = {
    str: "text",
    int: "integer",
    float: "number",
    bool: "boolean",
    Path: "path",
    type(None): "`null`",
}


def _type_name(annotation: Any, path: str, constraints: list[Any], prefix: str) -> str:
    annotation, inner = _unwrap(annotation)
    constraints.extend(inner)
    if _is_union(annotation):
        names = [_type_name(arg, path, constraints, prefix) for arg in typing.get_args(annotation)]
        return " or ".join(dict.fromkeys(names))
    if typing.get_origin(annotation) is typing.Literal:
        return " \\| ".join(f"`{value}`" for value in typing.get_args(annotation))
    if _is_model(annotation):
        return f"mapping ([`{path}`](#{_anchor(prefix, path)}))"
    origin = typing.get_origin(annotation)
    if origin is list:
        (item,) = typing.get_args(annotation)
        item_name = _type_name(item, path + "[]", constraints, prefix)
        return f"list of {item_name.replace('mapping', 'mappings', 1)}"
    if origin is dict:
        _, value = typing.get_args(annotation)
        value_name = _type_name(value, path + ".<name>", constraints, prefix)
        return f"mapping of name to {value_name}"
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    raise ReferenceError(f"{path}: no reference name for the type {annotation!r}")


def _length_unit(annotation: Any) -> str:
    """What a length limit of the field counts: a list's items or a text's characters."""
    annotation, _ = _unwrap(annotation)
    if _is_union(annotation):
        kinds = [_length_unit(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
        return kinds[0] if kinds else "character"
    return "item" if typing.get_origin(annotation) is list else "character"


def _constraint_text(constraints: list[Any], unit: str) -> str:
    parts = []
    shortest = next((c.min_length for c in constraints if isinstance(c, annotated_types.MinLen)), 0)
    longest = next(
        (c.max_length for c in constraints if isinstance(c, annotated_types.MaxLen)), None
    )
    if longest is not None:
        parts.append(f"{shortest} to {longest} {unit}s")
    elif shortest == 1:
        parts.append("not empty")
    elif shortest:
        parts.append(f"at least {shortest} {unit}s")
    for item in constraints:
        if isinstance(item, annotated_types.Ge):
            parts.append(f"≥ {item.ge}")
        elif isinstance(item, annotated_types.Gt):
            parts.append(f"> {item.gt}")
        elif isinstance(item, annotated_types.Le):
            parts.append(f"≤ {item.le}")
        elif isinstance(item, annotated_types.Lt):
            parts.append(f"< {item.lt}")
        elif getattr(item, "pattern", None):
            parts.append(f"matches `{item.pattern}`")
    return ", ".join(parts)


def _nested(annotation: Any, path: str) -> Iterator[tuple[str, type[BaseModel]]]:
    """The settings models reachable from a field's type, with their YAML paths."""
    annotation, _ = _unwrap(annotation)
    if _is_model(annotation):
        yield path, annotation
    elif _is_union(annotation):
        for arg in typing.get_args(annotation):
            yield from _nested(arg, path)
    elif typing.get_origin(annotation) is list:
        yield from _nested(typing.get_args(annotation)[0], path + "[]")
    elif typing.get_origin(annotation) is dict:
        yield from _nested(typing.get_args(annotation)[1], path + ".<name>")


def _yaml_scalar(value: Any, root: Path) -> str:
    if isinstance(value, Path):
        value = str(value.relative_to(root)) if value.is_relative_to(root) else str(value)
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip()
    return text.removesuffix("\n...").strip()


def _default(info: FieldInfo, path: str, section: Section, root: Path) -> str:
    if info.is_required():
        return "**required**"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return f"see [`{path}`](#{_anchor(section.prefix, path)})"
    if isinstance(value, list) and any(isinstance(item, BaseModel) for item in value):
        section.defaults.append(
            (path, [item.model_dump(mode="json", exclude_none=True) for item in value])
        )
        return "see below"
    return f"`{_yaml_scalar(value, root)}`"


def _sections(model: type[BaseModel], path: str, title: str, prefix: str) -> Iterator[Section]:
    yield Section(path, title, model, prefix)
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        key = f"{path}.{name}" if path else name
        for nested_path, nested in _nested(info.annotation, key):
            yield from _sections(nested, nested_path, f"`{nested_path}`", prefix)


def _load_descriptions(scope: str) -> tuple[dict[str, str], dict[str, str]]:
    data = yaml.safe_load(DESCRIPTIONS_FILE.read_text())[scope]
    return dict(data.get("keys") or {}), dict(data.get("sections") or {})


def _lookup(texts: dict[str, str], key: str) -> str | None:
    """The entry describing ``key``: itself, or a pattern with ``*`` for one part of it
    (``sources.*.encoding`` describes the key of every source)."""
    if key in texts:
        return key
    parts = key.split(".")
    for index in range(len(parts)):
        pattern = ".".join([*parts[:index], "*", *parts[index + 1 :]])
        if pattern in texts:
            return pattern
    return None


def render(
    model: type[BaseModel], scope: str, root: Path, title: str, anchor_prefix: str = ""
) -> str:
    """The reference of ``model`` as markdown: one table per settings model.

    Args:
        model: The root settings model (the whole configuration, or the playbook file).
        scope: Its part of ``setting_descriptions.yaml`` (``config`` or ``playbook``).
        root: The project root; default paths under it are shown relative to it.
        title: The heading of the root model's section.
        anchor_prefix: Put before every heading id, to render two references on one page.

    Raises:
        ReferenceError: A key has no description, a description names no key, or a type has
            no name in the reference.
    """
    key_texts, section_texts = _load_descriptions(scope)
    used: set[str] = set()
    missing: list[str] = []
    blocks: list[str] = []
    sections = list(_sections(model, "", title, anchor_prefix))
    for section in sections:
        summary, attributes = _docstring_parts(section.model)
        summary = section_texts.get(section.path or "(top level)", summary)
        used.add(section.path or "(top level)")
        for name, info in section.model.model_fields.items():
            if info.exclude:
                continue
            key = f"{section.path}.{name}" if section.path else name
            constraints = list(info.metadata)
            type_name = _type_name(info.annotation, key, constraints, anchor_prefix)
            limits = _constraint_text(constraints, _length_unit(info.annotation))
            in_code = info.description or attributes.get(name)
            fallback = _lookup(key_texts, key)
            if in_code and fallback:
                raise ReferenceError(
                    f"{key}: described in the code and in {DESCRIPTIONS_FILE.name} as "
                    f"{fallback}; remove it from {DESCRIPTIONS_FILE.name}"
                )
            text = in_code or (key_texts[fallback] if fallback else None)
            if fallback:
                used.add(fallback)
            if not text:
                # a mapping key is described by the model it holds
                text = next(
                    (
                        section_texts.get(path) or _docstring_parts(nested)[0]
                        for path, nested in _nested(info.annotation, key)
                    ),
                    None,
                )
                text = text.split("\n\n")[0] if text else None
            if not text:
                missing.append(key)
                continue
            section.rows.append(
                Row(
                    f"`{name}`",
                    type_name + (f" ({limits})" if limits else ""),
                    _default(info, key, section, root),
                    _cell(_markdown_text(text)),
                )
            )
        if section.model.model_config.get("extra") == "allow":
            key = f"{section.path}.<other>"
            fallback = _lookup(key_texts, key)
            if fallback is None:
                missing.append(key)
            else:
                used.add(fallback)
                text = _cell(key_texts[fallback])
                section.rows.append(Row("*any other key*", "text", "", text))
        blocks.append(_section_markdown(section, summary))
    stale = sorted((set(key_texts) | set(section_texts)) - used)
    if missing or stale:
        problems = [f"  {key}: no description" for key in missing]
        problems += [
            f"  {key}: described in {DESCRIPTIONS_FILE.name} but not a key" for key in stale
        ]
        raise ReferenceError("the configuration reference is out of date:\n" + "\n".join(problems))
    return "\n".join(blocks)


def _section_markdown(section: Section, summary: str) -> str:
    lines = [f"### {section.title} {{#{_anchor(section.prefix, section.path)}}}", ""]
    if summary:
        lines += [summary, ""]
    lines += ["| key | type | default | description |", "|---|---|---|---|"]
    lines += [f"| {r.key} | {r.type} | {r.default} | {r.description} |" for r in section.rows]
    for path, value in section.defaults:
        block = yaml.safe_dump(value, sort_keys=False, allow_unicode=True).rstrip()
        lines += ["", f"Default of `{path}`:", "", "```yaml", block, "```"]
    return "\n".join(lines) + "\n"


def top_level_keys(model: type[BaseModel]) -> list[str]:
    """The keys the root model defines (what the reference's first table lists)."""
    return [name for name, info in model.model_fields.items() if not info.exclude]
