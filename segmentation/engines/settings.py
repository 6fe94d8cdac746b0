"""The ``engine:`` and ``spark:`` keys of the configuration: which engine computes, and where
Spark runs and writes. Validated when the config loads, without Java or a network: the checks
that need them are :mod:`segmentation.engines.spark.preflight`'s."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from segmentation.settings_base import Strict

Engine = Literal["duckdb", "spark"]
DEFAULT_MASTER = "local[*]"
# Spark's own defaults for the ports a master URL may leave out
STANDALONE_PORT = 7077
CONNECT_PORT = 15002
KUBERNETES_PORT = 443

_LOCAL = re.compile(r"local(\[(\*|[1-9]\d*)(,[1-9]\d*)?\])?")
_HOST_PORT = r"(?P<host>[A-Za-z0-9.\-]+)(:(?P<port>\d{1,5}))?"
_ANY_HOST_PORT = r"[A-Za-z0-9.\-]+(:\d{1,5})?"
_STANDALONE = re.compile(rf"spark://{_ANY_HOST_PORT}(,{_ANY_HOST_PORT})*")
_STANDALONE_HOST = re.compile(_HOST_PORT)
_KUBERNETES = re.compile(rf"k8s://(?P<scheme>https?://)?{_HOST_PORT}/?")
_CONNECT = re.compile(rf"sc://{_HOST_PORT}(/.*)?")
MASTER_FORMS = (
    "local[*], local[N], spark://host:port, k8s://https://host:port, yarn or sc://host:port"
)

# Keys the engine sets itself: a value in `spark.conf` would contradict it
_OWNED_CONF = {
    "spark.master": "set it as spark.master",
    "spark.remote": "set a Spark Connect URL (sc://host:port) as spark.master",
}
# The pipeline's timestamps are UTC without a zone: any other session zone would move them
_UTC_CONF = "spark.sql.session.timeZone"

ConfValue = str | int | float | bool


@dataclass(frozen=True)
class Master:
    """A master URL taken apart: its kind and the endpoints a preflight can try to reach.

    Attributes:
        kind: ``local``, ``standalone``, ``kubernetes``, ``yarn`` or ``connect``.
        endpoints: (host, port) pairs; a standalone master may list several (high
            availability), of which one answering is enough. Empty for local and yarn.
    """

    kind: Literal["local", "standalone", "kubernetes", "yarn", "connect"]
    endpoints: tuple[tuple[str, int], ...] = ()


def parse_master(master: str) -> Master:
    """The kind and endpoints of a Spark master URL.

    Raises:
        ValueError: Not one of the forms Spark 4.0 accepts (:data:`MASTER_FORMS`).
    """
    parsed = _parse(master)
    bad = [port for _, port in parsed.endpoints if not 0 < port < 65536]
    if bad:
        raise ValueError(f"{master!r}: port {bad[0]} is not a TCP port (1-65535)")
    return parsed


def _parse(master: str) -> Master:
    if _LOCAL.fullmatch(master):
        return Master("local")
    if master == "yarn":
        return Master("yarn")
    if _STANDALONE.fullmatch(master):
        endpoints = tuple(
            (found["host"], int(found["port"] or STANDALONE_PORT))
            for found in (
                _STANDALONE_HOST.fullmatch(part)
                for part in master.removeprefix("spark://").split(",")
            )
            if found is not None
        )
        return Master("standalone", endpoints)
    if found := _KUBERNETES.fullmatch(master):
        return Master("kubernetes", ((found["host"], int(found["port"] or KUBERNETES_PORT)),))
    if found := _CONNECT.fullmatch(master):
        return Master("connect", ((found["host"], int(found["port"] or CONNECT_PORT)),))
    hint = " (Spark 4.0 no longer runs on Mesos)" if master.startswith("mesos://") else ""
    raise ValueError(f"{master!r} is not a Spark master URL: use {MASTER_FORMS}{hint}")


def is_uri(location: str) -> bool:
    """Whether a lake location is a URI (``s3a://``, ``abfss://``, ``file:/``) rather than a
    path on this machine."""
    return re.match(r"[A-Za-z][A-Za-z0-9+.\-]*:", location) is not None and not re.match(
        r"[A-Za-z]:[\\/]", location
    )


def conf_text(value: ConfValue) -> str:
    """A conf value as Spark reads it: booleans in lower case, numbers as written."""
    return str(value).lower() if isinstance(value, bool) else str(value)


class SparkSettings(Strict):
    """Where Spark runs and where it writes the tables (used with ``engine: spark``)."""

    master: str = Field(
        default=DEFAULT_MASTER,
        description=(
            "The Spark master: `local[*]` (this machine, every core), `local[N]`, "
            "`spark://host:port` (a standalone cluster; several hosts for high availability), "
            "`k8s://https://host:port`, `yarn` (needs HADOOP_CONF_DIR or YARN_CONF_DIR), or a "
            "Spark Connect URL `sc://host:port`. Before any write the run checks that the master "
            "answers (a few seconds at most)."
        ),
    )
    conf: dict[str, ConfValue] = Field(
        default_factory=dict,
        description=(
            "Further Spark settings, key -> value (`spark.executor.memory: 8g`, "
            "`spark.hadoop.fs.s3a.endpoint: ...`); every key starts with `spark.`. The engine "
            "sets `spark.master` (from the key above) and a UTC session time zone itself."
        ),
    )
    lake: str | None = Field(
        default=None,
        description=(
            "Where the engine writes the tables, as Parquet partitioned by snapshot_date: a "
            "folder (relative to the config file's) or a URI Spark can write (`s3a://`, "
            "`abfss://`, `gs://`, `hdfs://`). Required with `engine: spark`; before any write "
            "the run checks that it can be written."
        ),
    )

    @field_validator("master")
    @classmethod
    def _known_master(cls, value: str) -> str:
        parse_master(value)
        return value

    @field_validator("conf")
    @classmethod
    def _spark_keys(cls, value: dict[str, ConfValue]) -> dict[str, ConfValue]:
        problems = []
        for key, setting in value.items():
            if not key.startswith("spark.") or key == "spark.":
                problems.append(f"{key!r} is not a Spark setting (Spark reads keys spark.*)")
            elif key in _OWNED_CONF:
                problems.append(f"{key!r} is set by the engine: {_OWNED_CONF[key]}")
            elif key == _UTC_CONF and conf_text(setting).upper() != "UTC":
                problems.append(
                    f"{key!r} must be UTC: the pipeline's timestamps are UTC without a zone, "
                    f"another session zone would move them"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("lake")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("an empty lake location: name a folder or a URI")
        return value

    def parsed_master(self) -> Master:
        """:attr:`master` taken apart (see :func:`parse_master`)."""
        return parse_master(self.master)
