"""One line per validation problem, worded for the person editing the YAML."""

from collections.abc import Callable

from pydantic import ValidationError

Location = tuple[int | str, ...]


def dotted(location: Location) -> str:
    """``("sources", "transactions", "path")`` -> ``sources.transactions.path``."""
    return ".".join(str(part) for part in location) or "(top level)"


def problem_lines(error: ValidationError, where: Callable[[Location], str] = dotted) -> list[str]:
    """``  <where>: unknown key | required key is missing | <message>`` for every error."""
    lines = []
    for item in error.errors():
        place = where(tuple(item["loc"]))
        if item["type"] == "extra_forbidden":
            lines.append(f"  {place}: unknown key")
        elif item["type"] == "missing":
            lines.append(f"  {place}: required key is missing")
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            lines.append(f"  {place}: {message}")
    return lines
