"""The pipeline's configuration: one YAML file, validated before anything runs.

The file's path comes from the environment variable ``SEGMENTATION_CONFIG`` (default: the bundled
demo config). Relative paths in it resolve against the folder of the config file. The keys are a
contract that users and their scripts rely on; an unknown key, a missing required mapping or a
source path that matches no file stops the run before any write, with a message naming the key or
the path.
"""

from __future__ import annotations

import calendar
import os
import re
import sys
from collections.abc import Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any

import duckdb
import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from segmentation.bundled import bundled_path
from segmentation.engines.settings import Engine, SparkSettings, is_uri
from segmentation.features.categories import products_configured
from segmentation.features.settings import (
    FeatureSettings,
)
from segmentation.raw.settings import (
    CustomerColumns,
    Sources,
)
from segmentation.segments.category_settings import PRODUCT_RULE_COLUMNS, compile_eligibility
from segmentation.segments.settings import (
    SegmentSettings,
    feature_column_ranges,
    passthrough_pii_problems,
)
from segmentation.serving.guard import ServingFileError, check_replaceable, same_file
from segmentation.settings_base import ConfigError, Strict, problem_lines
from segmentation.sql_files import read_sql
from segmentation.strategies.settings import (
    DEFAULT_PLAYBOOK,
    Playbook,
    PlaybookError,
    load_playbook,
)

# config/demo.yaml of the repository, or its copy inside an installed wheel
DEMO_CONFIG = bundled_path("config/demo.yaml")
CONFIG_ENV_VAR = "SEGMENTATION_CONFIG"
PSEUDONYM_SECRET_ENV_VAR = "SEGMENTATION_PSEUDONYM_KEY"

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class Snapshots(Strict):
    """Monthly snapshots: partition ``YYYY-MM`` is the state as of that month's last instant."""

    start: str
    end: str | None = None

    @field_validator("start", "end", mode="before")
    @classmethod
    def _month(cls, value: Any) -> Any:
        if value is None:
            return value
        if isinstance(value, date):
            value = value.strftime("%Y-%m")
        if not isinstance(value, str) or not _MONTH.match(value):
            raise ValueError(f"expected a month as YYYY-MM, got {value!r}")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Snapshots:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class StrategySettings(Strict):
    """Which playbook assigns strategies (default: the bundled ``config/playbook.yaml``)."""

    playbook: Path = DEFAULT_PLAYBOOK


class DuckDBSettings(Strict):
    """How DuckDB may use the machine when the pipeline writes the warehouse.

    ``memory_limit`` (e.g. ``4GB``; DuckDB's default is 80% of RAM) caps DuckDB's buffers; beyond
    it, large joins, sorts and staging tables spill to ``temp_directory`` (default: DuckDB's,
    ``<warehouse>.tmp``). The polars frames of the pipeline come on top of this limit.
    """

    memory_limit: Annotated[
        str | None, Field(pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    ] = None
    temp_directory: Path | None = None
    # DuckDB starts every thread when it connects (100,000 of them: ~3 s, for no gain)
    threads: Annotated[int | None, Field(ge=1, le=1024)] = None


class SegmentationConfig(Strict):
    """The whole configuration. Paths are absolute once loaded."""

    warehouse: Path
    serving: Path
    duckdb: DuckDBSettings = DuckDBSettings()
    snapshots: Snapshots
    sources: Sources
    features: FeatureSettings = FeatureSettings()
    # default_factory: building segment settings checks their rules with DuckDB
    segments: SegmentSettings = Field(default_factory=SegmentSettings)
    strategies: StrategySettings = StrategySettings()
    # serving copy: replace customer ids by keyed pseudonyms (HMAC-SHA256 with the secret read
    # from the environment variable named here; the secret itself never goes in the file)
    pseudonymize: bool = False
    pseudonymize_secret_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = (
        PSEUDONYM_SECRET_ENV_VAR
    )
    # the serving copy is read-only: a publish refuses to discard what a client wrote to it
    # (tables, rows, a write-ahead log) unless this is true
    serving_overwrite_foreign_changes: bool = False
    engine: Engine = Field(
        default="duckdb",
        description=(
            "Which engine computes the tables: `duckdb` (the default: one process, the "
            "warehouse file) or `spark` (Apache Spark, see the `spark` keys and "
            "[the Spark engine](spark.md): the same pipeline, every table in `spark.lake`, "
            "the serving copy published from it)."
        ),
    )
    spark: SparkSettings = Field(
        default_factory=SparkSettings,
        description="Where Spark runs and writes the tables; read with `engine: spark` only.",
    )
    # the validated playbook, loaded with the config so a bad rule stops everything up front
    playbook: Playbook | None = Field(default=None, exclude=True)
    config_path: Path | None = Field(default=None, exclude=True)


def month_as_of(partition_key: str) -> datetime:
    """The inclusive as-of instant of a monthly partition: its last day at 23:59:59.999999."""
    year, month = (int(part) for part in partition_key.split("-")[:2])
    last_day = calendar.monthrange(year, month)[1]
    return datetime.combine(date(year, month, last_day), time.max)


def month_end(partition_key: str) -> date:
    """The snapshot date of a monthly partition: its month's last day."""
    return month_as_of(partition_key).date()


def _resolve(base: Path, value: str | Path) -> Path:
    path = Path(os.path.expanduser(str(value)))
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def _format_errors(path: Path, error: ValidationError) -> str:
    return "\n".join([f"invalid configuration in {path}:", *problem_lines(error)])


def parse_config(raw: dict[str, Any], config_path: Path) -> SegmentationConfig:
    """Validate a config mapping, resolve its paths and check that every source path matches."""
    if not isinstance(raw, dict):
        raise ConfigError(f"invalid configuration in {config_path}: expected a mapping at the top")
    base = config_path.parent
    try:
        config = SegmentationConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_format_errors(config_path, error)) from None

    # a URI source (engine spark) is listed by Spark when it lands
    resolved = {
        key: source
        if is_uri(source.path)
        else source.model_copy(update={"path": str(_resolve(base, source.path))})
        for key, source in config.sources.configured().items()
    }
    _check_source_uris(config, config_path)
    for key, source in resolved.items():
        if not is_uri(source.path) and not source.files():
            raise ConfigError(
                f"invalid configuration in {config_path}:\n"
                f"  sources.{key}.path: {source.path} matches no file"
            )
    _check_custom_attributes(config, config_path)
    _check_engine(config, config_path)
    playbook_path = _resolve(base, config.strategies.playbook)
    try:
        playbook = load_playbook(playbook_path, config.segments)
    except PlaybookError as error:
        raise ConfigError(
            f"invalid configuration in {config_path}:\n  strategies.playbook: {error}"
        ) from None
    loaded = config.model_copy(
        update={
            "warehouse": _resolve(base, config.warehouse),
            "serving": _resolve(base, config.serving),
            "duckdb": config.duckdb.model_copy(
                update={
                    "temp_directory": _resolve(base, config.duckdb.temp_directory)
                    if config.duckdb.temp_directory is not None
                    else None
                }
            ),
            "sources": Sources(**resolved),
            "spark": _resolved_lake(base, config.spark),
            "strategies": StrategySettings(playbook=playbook_path),
            "playbook": playbook,
            "config_path": config_path,
        }
    )
    _check_before_any_write(loaded, config_path)
    return loaded


def pseudonym_secret(
    config: SegmentationConfig, environ: Mapping[str, str] | None = None
) -> bytes | None:
    """The secret key of the serving copy's customer-id pseudonyms; ``None`` when disabled.

    Args:
        config: The loaded configuration.
        environ: Where to look the variable up (default: the process environment).

    Raises:
        ConfigError: ``pseudonymize`` is on and the variable named by ``pseudonymize_secret_env``
            is missing or empty.
    """
    if not config.pseudonymize:
        return None
    name = config.pseudonymize_secret_env
    environ = os.environ if environ is None else environ
    value = environ.get(name)
    if not value:
        state = "not set" if value is None else "empty"
        raise ConfigError(
            f"pseudonymize is true but the environment variable {name} "
            f"(named by pseudonymize_secret_env) is {state}: set it to the secret key of the "
            f"customer-id pseudonyms"
        )
    return value.encode()


# the sources that map customer attributes: one row per customer, and the attribute history
ATTRIBUTE_SOURCES = ("customers", "customer_attributes")


def custom_attributes(config: SegmentationConfig, source: str | None = None) -> dict[str, str]:
    """Custom customer attribute -> its declared type (text, integer, float, boolean, date,
    list): every declared one, or those ``source`` (customers, customer_attributes) maps."""
    kinds = dict(config.segments.extra_column_kinds())
    if source is None:
        return kinds
    mapped = _mapped_attributes(config, source)
    return {name: kind for name, kind in kinds.items() if name in mapped}


def _mapped_attributes(config: SegmentationConfig, source: str) -> dict[str, str]:
    """Canonical column -> source column of what a customers or attributes source maps."""
    settings = getattr(config.sources, source)
    if settings is None:
        return {}
    return {name: column for name, column in settings.columns.model_dump().items() if column}


# the canonical customer columns that identify a person
PII_CUSTOMER_COLUMNS = ("name", "email", "phone")


def pii_attributes(config: SegmentationConfig) -> frozenset[str]:
    """Custom attributes holding personal data: declared ``pii: true``, or mapped (by the
    customers or the attributes source) to the same source column as ``name``, ``email`` or
    ``phone``."""
    found = set(config.segments.pii_extra_columns())
    declared = config.segments.extra_columns
    for source in ATTRIBUTE_SOURCES:
        columns = _mapped_attributes(config, source)
        pii_sources = {columns[name] for name in PII_CUSTOMER_COLUMNS if name in columns}
        found |= {
            name for name, column in columns.items() if name in declared and column in pii_sources
        }
    return frozenset(found)


def pii_source_columns(config: SegmentationConfig, source: str = "customers") -> frozenset[str]:
    """A source's column names that hold personal data (masked in the quarantine): those the
    source lists under ``pii_columns`` and, for customers and the attribute history, the
    columns of names, e-mails, phones and custom attributes holding personal data."""
    settings = getattr(config.sources, source)
    if settings is None:
        return frozenset()
    listed = frozenset(settings.pii_columns)
    if source not in ATTRIBUTE_SOURCES:
        return listed
    columns = _mapped_attributes(config, source)
    names = [*PII_CUSTOMER_COLUMNS, *pii_attributes(config)]
    return listed | frozenset(columns[name] for name in names if name in columns)


def _check_custom_attributes(config: SegmentationConfig, config_path: Path) -> None:
    """Every custom attribute a source maps is declared, and every declared one is mapped; an
    attribute history maps standard customer columns or declared ones."""
    declared = config.segments.extra_columns
    customers = config.sources.customers
    mapped = dict(customers.columns.model_extra or {}) if customers is not None else {}
    problems = [
        f"  sources.customers.columns.{name}: unknown key (a custom attribute must be declared "
        f"with its type under segments.extra_columns)"
        for name in mapped
        if name not in declared
    ]
    history = config.sources.customer_attributes
    in_history = dict(history.columns.model_extra or {}) if history is not None else {}
    standard = ", ".join(name for name in CustomerColumns.model_fields if name != "customer_id")
    problems += [
        f"  sources.customer_attributes.columns.{name}: neither a standard customer column "
        f"({standard}) nor declared with its type under segments.extra_columns"
        for name in in_history
        if name not in declared
    ]
    where = "sources.customers.columns"
    if history is not None:
        where += " or sources.customer_attributes.columns"
    problems += [
        f"  segments.extra_columns.{name}: not mapped to a source column under {where}"
        for name in declared
        if name not in mapped and name not in in_history
    ]
    if problems:
        raise ConfigError("\n".join([f"invalid configuration in {config_path}:", *problems]))


def _check_source_uris(config: SegmentationConfig, config_path: Path) -> None:
    """A source given as a URI (``s3a://``, ``hdfs://``, ``file:``) is read by Spark's Hadoop
    file system: only the Spark engine reads it, and Hadoop's glob has no recursive ``**``.
    Its files are listed when it lands (the config load starts no Spark)."""
    problems = []
    for key, source in config.sources.configured().items():
        if not is_uri(source.path):
            continue
        if config.engine != "spark":
            problems.append(
                f"  sources.{key}.path: {source.path} is a URI, which only the Spark engine "
                f"reads (through Spark's Hadoop file system); the DuckDB engine reads a path "
                f"or glob on this machine: set engine: spark, or give the path of a mounted "
                f"copy (a file: URI as a plain path)"
            )
        elif "**" in source.path:
            problems.append(
                f"  sources.{key}.path: {source.path}: Hadoop's glob, which lists a URI "
                f"source, has no recursive ** (it would match one folder level): name each "
                f"level with *, or list several levels with {{a,b}}"
            )
    if problems:
        raise ConfigError("\n".join([f"invalid configuration in {config_path}:", *problems]))


def _check_engine(config: SegmentationConfig, config_path: Path) -> None:
    """The Spark engine needs a lake to write to (the DuckDB engine ignores the spark keys)."""
    if config.engine == "spark" and config.spark.lake is None:
        raise ConfigError(
            f"invalid configuration in {config_path}:\n"
            f"  spark.lake: required with engine: spark: the folder or URI where Spark writes "
            f"the tables (e.g. lake, or s3a://bucket/segmentation)"
        )


def _resolved_lake(base: Path, spark: SparkSettings) -> SparkSettings:
    """A lake on this machine given as a relative path is relative to the config's folder."""
    if spark.lake is None or is_uri(spark.lake):
        return spark
    return spark.model_copy(update={"lake": str(_resolve(base, spark.lake))})


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex matching the paths ``glob.glob(pattern, recursive=True)`` can return (and a few
    more: hidden names too), for paths that may not exist yet."""
    parts, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
            continue
        if pattern.startswith("**", index):
            parts.append(".*")
            index += 2
            continue
        if char == "*":
            parts.append("[^/]*")
        elif char == "?":
            parts.append("[^/]")
        elif char == "[" and "]" in pattern[index + 2 :]:
            end = pattern.index("]", index + 2)
            body = pattern[index + 1 : end]
            body = "^" + body[1:] if body.startswith("!") else body
            parts.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
            index = end
        else:
            parts.append(re.escape(char))
        index += 1
    return re.compile("".join(parts) + r"\Z")


def _source_problems(config: SegmentationConfig) -> list[str]:
    """The warehouse or serving file is a source file, or would be matched by a source glob."""
    problems = []
    sources = config.sources.configured()
    for key, target in (("warehouse", config.warehouse), ("serving", config.serving)):
        spellings = {os.path.normpath(target), os.path.realpath(target)}
        for name, source in sources.items():
            pattern = _glob_regex(source.path)
            clash = next((file for file in source.files() if same_file(target, file)), None)
            if clash is not None:
                problems.append(
                    f"  {key}: {target} is the source file {clash} (sources.{name}.path): "
                    f"writing it would destroy the source; use another file"
                )
            elif any(pattern.match(spelling) for spelling in spellings):
                problems.append(
                    f"  {key}: {target} matches sources.{name}.path ({source.path}): it would "
                    f"be read as a source; keep the pipeline's files out of the sources' folders"
                )
    return problems


def _lake_problems(config: SegmentationConfig) -> list[str]:
    """The Spark engine's lake would be read as a source, or is the warehouse or serving file."""
    lake = config.spark.lake
    if config.engine != "spark" or lake is None or is_uri(lake):
        return []
    problems = []
    for key, target in (("warehouse", config.warehouse), ("serving", config.serving)):
        if same_file(Path(lake), target):
            problems.append(f"  spark.lake: {lake} is the {key} file; use a folder of its own")
    # a file the engine would write, under the lake's table folders
    written = f"{lake}/features/customer_behaviour/snapshot_date=2011-01-31/part-00000.parquet"
    for name, source in config.sources.configured().items():
        if _glob_regex(source.path).match(written):
            problems.append(
                f"  spark.lake: {lake} is matched by sources.{name}.path ({source.path}): the "
                f"lake's Parquet files would be read as a source; keep the lake out of the "
                f"sources' folders"
            )
    return problems


def _serving_problems(config: SegmentationConfig) -> list[str]:
    """The serving path names the warehouse, or a file that is not a serving copy of ours."""
    if same_file(config.serving, config.warehouse):
        return [
            f"  serving: {config.serving} is the warehouse file: every publish would replace the "
            f"warehouse with the serving copy (raw, quality and features tables lost); use a "
            f"file of its own, e.g. {config.warehouse.with_name('serving.duckdb')}"
        ]
    try:
        check_replaceable(config.serving)
    except ServingFileError as error:
        return [f"  {error}"]
    return []


def _duckdb_problems(settings: DuckDBSettings) -> list[str]:
    """Settings DuckDB itself refuses, or with which it cannot run a small query (a memory
    limit too small to work with)."""
    problems = []
    for key, value in (("memory_limit", settings.memory_limit), ("threads", settings.threads)):
        if value is None:
            continue
        try:
            with duckdb.connect(":memory:", config={key: value}) as con:
                con.execute(read_sql("config/duckdb_probe.sql")).fetchall()
        except duckdb.Error as error:
            first = str(error).strip().splitlines()[0]
            problems.append(f"  duckdb.{key}: DuckDB refuses {value!r}: {first}")
    return problems


def _pii_passthrough_problems(config: SegmentationConfig) -> list[str]:
    """Passthrough dimensions over columns holding personal data (their values would become
    labels in the marts and the serving copy)."""
    personal = set(pii_attributes(config))
    # with pseudonyms on, the customer id is personal too: the serving copy must not carry it
    identifying = (
        ("customer_id", *PII_CUSTOMER_COLUMNS) if config.pseudonymize else PII_CUSTOMER_COLUMNS
    )
    if config.pseudonymize:
        personal.add("customer_id")
    for source in ATTRIBUTE_SOURCES:
        columns = _mapped_attributes(config, source)
        pii_sources = {columns[name] for name in identifying if name in columns}
        # a standard attribute read from the same source column as a name, e-mail or phone
        # (or, pseudonymized, as the customer id)
        personal |= {
            name
            for name, column in columns.items()
            if name not in {"customer_id", *PII_CUSTOMER_COLUMNS} and column in pii_sources
        }
    problems = [
        f"  segments.attributes: {problem}"
        for problem in passthrough_pii_problems(config.segments, personal)
    ]
    held = config.segments.recommendations.products_held_column
    if held is not None and held in personal:
        # its items become next_best_product values in the marts and the serving copy
        problems.append(
            f"  segments.recommendations.products_held_column: '{held}' holds personal data "
            "(pii: true); its items would be recommended to other customers"
        )
    return problems


def _catalogue_problems(config: SegmentationConfig) -> list[str]:
    """An eligibility rule over catalogue columns without a products source would never
    match: no product would be recommended to anyone."""
    segments = config.segments
    if products_configured(config.sources) or segments.recommendations.eligibility is None:
        return []
    checked = compile_eligibility(
        segments.recommendations, segments.known_columns(), feature_column_ranges()
    )
    used = sorted(
        name
        for name in (checked.columns if checked else ())
        if name in PRODUCT_RULE_COLUMNS and name != "product_id"
    )
    if not used:
        return []
    return [
        f"  segments.recommendations.eligibility: uses {', '.join(used)}, which come from the "
        "products source; configure sources.products (without it no product would be eligible)"
    ]


def _secret_problems(config: SegmentationConfig) -> list[str]:
    try:
        pseudonym_secret(config)
    except ConfigError as error:
        return [f"  pseudonymize_secret_env: {error}"]
    return []


def _check_before_any_write(config: SegmentationConfig, config_path: Path) -> None:
    """Checks of the loaded config that need the file system, DuckDB or the environment: a
    problem here would otherwise stop a run after it has written something."""
    problems = [
        *_duckdb_problems(config.duckdb),
        *_pii_passthrough_problems(config),
        *_catalogue_problems(config),
        *_secret_problems(config),
        *_source_problems(config),
        *_lake_problems(config),
    ]
    # opening the serving file is the costliest check, and pointless once a path is wrong
    if not problems:
        problems = _serving_problems(config)
    if problems:
        raise ConfigError("\n".join([f"invalid configuration in {config_path}:", *problems]))


def load_config(path: str | Path | None = None) -> SegmentationConfig:
    """Load the config at ``path``, else ``$SEGMENTATION_CONFIG``, else the bundled demo config.

    Raises:
        ConfigError: With a message naming the key or the path. Should it end the process
            uncaught (``dagster asset materialize``, ``python -m pipelines.summary``), the
            process prints the message alone instead of a traceback (see
            :func:`print_config_errors_alone`).
    """
    try:
        return _load_config(path)
    except ConfigError:
        print_config_errors_alone()
        raise


def _load_config(path: str | Path | None) -> SegmentationConfig:
    chosen = Path(path or os.environ.get(CONFIG_ENV_VAR) or DEMO_CONFIG).expanduser().resolve()
    if not chosen.is_file():
        raise ConfigError(f"config file not found: {chosen} (set {CONFIG_ENV_VAR})")
    try:
        raw = yaml.safe_load(chosen.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"invalid YAML in {chosen}: {error}") from None
    return parse_config(raw or {}, chosen)


# set to any value to get the full traceback of a configuration error
TRACEBACK_ENV_VAR = "SEGMENTATION_TRACEBACK"


def _config_error_in(error: BaseException | None) -> ConfigError | None:
    """The ConfigError ``error`` is or was raised from (a loader may wrap it)."""
    for _ in range(20):
        if error is None or isinstance(error, ConfigError):
            return error
        error = error.__cause__ or error.__context__
    return None


def print_config_errors_alone() -> None:
    """Make a ConfigError that ends the process print its message alone, not a traceback.

    A command line tool (Dagster's CLI loading ``pipelines.definitions``, the summary) lets the
    error propagate to the interpreter, which would print ~90 lines of loader frames above the
    message. This wraps ``sys.excepthook``, which only ever sees uncaught exceptions: code that
    catches ConfigError, and Dagster's code server (which shows load errors in its UI), are not
    affected. Other exceptions, and every exception when ``SEGMENTATION_TRACEBACK`` is set, go
    to the previous hook.
    """
    previous = sys.excepthook
    if getattr(previous, "prints_config_errors_alone", False):
        return

    def hook(kind: type[BaseException], error: BaseException, trace: Any) -> None:
        found = _config_error_in(error)
        if found is None or os.environ.get(TRACEBACK_ENV_VAR):
            previous(kind, error, trace)
            return
        sys.stderr.write(f"{found}\n")
        sys.stderr.flush()

    hook.prints_config_errors_alone = True  # type: ignore[attr-defined]
    sys.excepthook = hook
