"""What every settings model shares: strict keys, the error a user can fix, and one line per
validation problem worded for the person editing the YAML."""

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, ValidationError

Location = tuple[int | str, ...]


class ConfigError(ValueError):
    """A configuration problem a user can fix: the message names the key or the path."""


class Strict(BaseModel):
    """A settings model whose keys are a contract: an unknown key is an error, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
