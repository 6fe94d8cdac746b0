"""The pipeline's configuration: one YAML file, validated before anything runs.

The file's path comes from the environment variable ``SEGMENTATION_CONFIG`` (default: the bundled
demo config). Relative paths in it resolve against the folder of the config file. The keys are a
contract that users and their scripts rely on; an unknown key, a missing required mapping or a
source path that matches no file stops the run before any write, with a message naming the key or
the path.
"""

from __future__ import annotations

import calendar
import glob
import os
import re
from collections.abc import Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from assets.segments.settings import SegmentSettings
from assets.strategies.settings import DEFAULT_PLAYBOOK, Playbook, PlaybookError, load_playbook
from assets.validation_messages import problem_lines

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = PROJECT_ROOT / "config" / "demo.yaml"
CONFIG_ENV_VAR = "SEGMENTATION_CONFIG"
PSEUDONYM_SECRET_ENV_VAR = "SEGMENTATION_PSEUDONYM_KEY"

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class ConfigError(ValueError):
    """A configuration problem a user can fix: the message names the key or the path."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TransactionColumns(_Strict):
    """Canonical transaction column -> the source's column name (``null``: not in the source)."""

    customer_id: str
    order_ts: str
    order_id: str | None = None
    quantity: str | None = None
    unit_price: str | None = None
    amount: str | None = None
    product_id: str | None = None
    channel: str | None = None
    country: str | None = None

    @model_validator(mode="after")
    def _amount_is_derivable(self) -> TransactionColumns:
        if self.amount is None and (self.quantity is None or self.unit_price is None):
            raise ValueError("map `amount`, or both `quantity` and `unit_price` (amount = q * p)")
        return self


class CustomerColumns(BaseModel):
    """Canonical customer column -> the source's column name (``null``: not in the source).

    Further keys map custom attributes (e.g. ``assets_total: Total Assets``); each must be
    declared with its type under ``segments.extra_columns`` (checked when the config loads).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    customer_id: str
    signup_date: str | None = None
    birth_date: str | None = None
    gender: str | None = None
    income: str | None = None
    region: str | None = None
    country: str | None = None
    industry: str | None = None
    acquisition_channel: str | None = None
    email: str | None = None
    phone: str | None = None
    name: str | None = None


class _Source(_Strict):
    path: str
    format: Literal["csv", "parquet"] | None = None
    max_reject_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05
    delimiter: str = ","

    def files(self) -> list[Path]:
        """The source's files, sorted, so row order and duplicate detection are deterministic."""
        return [Path(p) for p in sorted(glob.glob(self.path, recursive=True)) if Path(p).is_file()]

    def file_format(self, path: Path) -> Literal["csv", "parquet"]:
        if self.format is not None:
            return self.format
        name = path.name.lower()
        if name.endswith(".parquet") or name.endswith(".pq"):
            return "parquet"
        if name.endswith((".csv", ".csv.gz", ".tsv", ".txt", ".csv.zst")):
            return "csv"
        raise ConfigError(f"cannot infer the format of {path}: set `format: csv|parquet`")


class TransactionsSource(_Source):
    """Where transactions come from and how their columns map to the canonical ones."""

    timestamp_format: str | None = None
    columns: TransactionColumns


class CustomersSource(_Source):
    """Optional customer attributes, one row per customer."""

    date_format: str | None = None
    columns: CustomerColumns


class Sources(_Strict):
    transactions: TransactionsSource
    customers: CustomersSource | None = None


class Snapshots(_Strict):
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


_Share = Annotated[float, Field(gt=0.0, lt=1.0)]
_Days = Annotated[int, Field(ge=1)]


class ValueSettings(_Strict):
    """Value tiers by net-revenue quantile and ABC classes by cumulative revenue share."""

    high_tier_quantile: _Share = 0.8
    mid_tier_quantile: _Share = 0.5
    abc_a_share: _Share = 0.8
    abc_b_share: _Share = 0.95

    @model_validator(mode="after")
    def _ordered(self) -> ValueSettings:
        if self.mid_tier_quantile >= self.high_tier_quantile:
            raise ValueError("mid_tier_quantile must be below high_tier_quantile")
        if self.abc_a_share >= self.abc_b_share:
            raise ValueError("abc_a_share must be below abc_b_share")
        return self


class ClvSettings(_Strict):
    """Customer lifetime value: BG/NBD + Gamma-Gamma fitted per snapshot."""

    margin: Annotated[float, Field(gt=0.0, le=1.0)] = 0.3
    monthly_discount_rate: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.01
    horizon_months: Annotated[int, Field(ge=1, le=120)] = 12
    min_repeat_buyers: Annotated[int, Field(ge=1)] = 50
    fit_pareto_nbd: bool = False


class LifecycleSettings(_Strict):
    """Thresholds of the lifecycle stages (days; probabilities from BG/NBD)."""

    new_window_days: _Days = 90
    won_back_window_days: _Days = 90
    at_risk_recency_days: _Days = 180
    at_risk_p_alive: _Share = 0.5
    lost_recency_days: _Days = 365
    lost_p_alive: _Share = 0.2
    mature_tenure_days: _Days = 365
    trend_threshold: _Share = 0.3

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleSettings:
        if self.at_risk_recency_days >= self.lost_recency_days:
            raise ValueError("at_risk_recency_days must be below lost_recency_days")
        if self.lost_p_alive >= self.at_risk_p_alive:
            raise ValueError("lost_p_alive must be below at_risk_p_alive")
        return self


class FeatureSettings(_Strict):
    """Settings of the features layer; every key has a documented default."""

    dominant_channel_share: Annotated[float, Field(gt=0.5, le=1.0)] = 0.7
    value: ValueSettings = ValueSettings()
    clv: ClvSettings = ClvSettings()
    lifecycle: LifecycleSettings = LifecycleSettings()


class StrategySettings(_Strict):
    """Which playbook assigns strategies (default: the bundled ``config/playbook.yaml``)."""

    playbook: Path = DEFAULT_PLAYBOOK


class DuckDBSettings(_Strict):
    """How DuckDB may use the machine when the pipeline writes the warehouse.

    ``memory_limit`` (e.g. ``4GB``; DuckDB's default is 80% of RAM) caps DuckDB's buffers; beyond
    it, large joins, sorts and staging tables spill to ``temp_directory`` (default: DuckDB's,
    ``<warehouse>.tmp``). The polars frames of the pipeline come on top of this limit.
    """

    memory_limit: Annotated[
        str | None, Field(pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    ] = None
    temp_directory: Path | None = None
    threads: Annotated[int | None, Field(ge=1)] = None


class SegmentationConfig(_Strict):
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

    sources = config.sources
    transactions = sources.transactions.model_copy(
        update={"path": str(_resolve(base, sources.transactions.path))}
    )
    customers = (
        sources.customers.model_copy(update={"path": str(_resolve(base, sources.customers.path))})
        if sources.customers is not None
        else None
    )
    for key, source in (("transactions", transactions), ("customers", customers)):
        if source is not None and not source.files():
            raise ConfigError(
                f"invalid configuration in {config_path}:\n"
                f"  sources.{key}.path: {source.path} matches no file"
            )
    _check_custom_attributes(config, config_path)
    playbook_path = _resolve(base, config.strategies.playbook)
    try:
        playbook = load_playbook(playbook_path, config.segments)
    except PlaybookError as error:
        raise ConfigError(
            f"invalid configuration in {config_path}:\n  strategies.playbook: {error}"
        ) from None
    return config.model_copy(
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
            "sources": Sources(transactions=transactions, customers=customers),
            "strategies": StrategySettings(playbook=playbook_path),
            "playbook": playbook,
            "config_path": config_path,
        }
    )


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


def custom_attributes(config: SegmentationConfig) -> dict[str, str]:
    """Custom customer attribute -> its declared type (text, integer, float, boolean, date)."""
    return dict(config.segments.extra_columns)


def _check_custom_attributes(config: SegmentationConfig, config_path: Path) -> None:
    declared = config.segments.extra_columns
    customers = config.sources.customers
    mapped = dict(customers.columns.model_extra or {}) if customers is not None else {}
    problems = [
        f"  sources.customers.columns.{name}: unknown key (a custom attribute must be declared "
        f"with its type under segments.extra_columns)"
        for name in mapped
        if name not in declared
    ]
    problems += [
        f"  segments.extra_columns.{name}: not mapped to a source column under "
        f"sources.customers.columns"
        for name in declared
        if name not in mapped
    ]
    if problems:
        raise ConfigError("\n".join([f"invalid configuration in {config_path}:", *problems]))


def load_config(path: str | Path | None = None) -> SegmentationConfig:
    """Load the config at ``path``, else ``$SEGMENTATION_CONFIG``, else the bundled demo config."""
    chosen = Path(path or os.environ.get(CONFIG_ENV_VAR) or DEMO_CONFIG).expanduser().resolve()
    if not chosen.is_file():
        raise ConfigError(f"config file not found: {chosen} (set {CONFIG_ENV_VAR})")
    try:
        raw = yaml.safe_load(chosen.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"invalid YAML in {chosen}: {error}") from None
    return parse_config(raw or {}, chosen)
