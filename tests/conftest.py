"""Shared fixtures: configs over clean and deliberately broken sources, temp warehouses."""

import csv
import gzip
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from segmentation.config import SegmentationConfig, load_config

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CSV = PROJECT_ROOT / "tests" / "data" / "online_retail_sample.csv.gz"
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data" / "online_retail_2009_2011.parquet"
# Fixed 'now' for the future-timestamp check so tests do not depend on the clock.
LANDING_NOW = datetime(2026, 1, 1)

RETAIL_COLUMNS = {
    "customer_id": "Customer ID",
    "order_id": "Invoice",
    "order_ts": "InvoiceDate",
    "quantity": "Quantity",
    "unit_price": "Price",
    "amount": None,
    "product_id": "StockCode",
    "channel": None,
    "country": "Country",
}
RETAIL_HEADER = [
    "Invoice",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "Price",
    "Customer ID",
    "Country",
]

# One clean row and one row per kind of defect, in the real file's layout; expected reasons
# are computed by hand: the first failing check wins.
GOOD = ["489434", "85048", "LIGHTS", "12", "2010-12-01 07:45:00", "6.95", "13085", "UK"]
BROKEN_ROWS: list[tuple[list[str], str | None]] = [
    (GOOD, None),
    (GOOD, "duplicate_row"),
    (["C489449", "22087", "RETURN", "-12", "2010-12-01 10:33:00", "0.85", "16321", "UK"], None),
    (
        ["489435", "22350", "CAT", "12", "2010-12-01 07:46:00", "2.55", "", "UK"],
        "missing_customer_id",
    ),
    (["489436", "48173C", "MAT", "10", "", "5.95", "13078", "UK"], "missing_timestamp"),
    (
        ["489437", "21755", "X", "4", "31/02/2011 25:61", "1.0", "15362", "UK"],
        "unparseable_timestamp",
    ),
    (
        ["489438", "21754", "X", "n/a", "2010-12-02 09:00:00", "1.0", "15362", "UK"],
        "unparseable_number",
    ),
    (
        ["489439", "21753", "X", "3", "2010-12-02 09:00:00", "abc", "15362", "UK"],
        "unparseable_number",
    ),
    (["489440", "21752", "X", "", "2010-12-02 09:00:00", "2.0", "15362", "UK"], "missing_amount"),
    (
        ["489441", "21751", "X", "inf", "2010-12-02 09:00:00", "2.0", "15362", "UK"],
        "non_finite_amount",
    ),
    (
        ["489442", "21750", "X", "1", "2010-12-02 09:00:00", "NaN", "15362", "UK"],
        "non_finite_amount",
    ),
    (
        ["489443", "21749", "X", "1", "1969-12-31 23:59:59", "2.0", "15362", "UK"],
        "timestamp_before_1970",
    ),
    (
        ["489444", "21748", "X", "1", "2099-01-01 00:00:00", "2.0", "15362", "UK"],
        "timestamp_in_future",
    ),
    (["489445", "21747", "X", "2", "2010-12-03 10:00:00", "0.0", "15362", "UK"], None),
    (
        ["A563185", "B", "Adjust bad debt", "1", "2011-08-12 14:50:00", "-11062.06", "15362", "UK"],
        None,
    ),
]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def sample_transactions() -> dict[str, Any]:
    """The transactions source block for the committed real sample."""
    return {
        "path": str(SAMPLE_CSV),
        "timestamp_format": "%Y-%m-%d %H:%M:%S",
        "columns": dict(RETAIL_COLUMNS),
    }


def config_mapping(transactions: dict[str, Any] | None = None, **overrides: Any) -> dict:
    """A config over ``transactions`` (default: the real sample); overrides replace top keys."""
    raw: dict[str, Any] = {
        "warehouse": "warehouse/segmentation.duckdb",
        "serving": "warehouse/serving.duckdb",
        "snapshots": {"start": "2010-01", "end": "2011-11"},
        "sources": {"transactions": transactions or sample_transactions()},
    }
    raw.update(overrides)
    return raw


def write_config_file(folder: Path, raw: dict[str, Any]) -> Path:
    """Write ``raw`` as ``folder/config.yaml``; the warehouse then lives in ``folder`` too."""
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., SegmentationConfig]:
    """Write a config YAML into tmp_path (warehouse there too) and load it."""

    def _write(transactions: dict[str, Any], **overrides: Any) -> SegmentationConfig:
        overrides.setdefault("snapshots", {"start": "2010-12", "end": "2011-12"})
        return load_config(write_config_file(tmp_path, config_mapping(transactions, **overrides)))

    return _write


@pytest.fixture
def broken_source(tmp_path: Path) -> Path:
    """A CSV holding every kind of bad row next to good ones."""
    return write_csv(tmp_path / "tx" / "broken.csv", RETAIL_HEADER, [r for r, _ in BROKEN_ROWS])


@pytest.fixture
def retail_transactions() -> dict[str, Any]:
    """The transactions source block for the committed real sample."""
    return sample_transactions()


# The Spark engine's modules that compare with the DuckDB engine's tables of the session's
# warehouses: with `make test`'s --dist loadfile each would be a unit of work of its own, and
# both processes would start Spark and compute the same reference tables
# (tests/spark/reference.py) and Spark lakes (tests/spark/chain_lake.py). As one unit, one
# process does both once. The category and catalogue modules share none of those tables (their
# warehouses are copies with a catalogue, their own fixtures): they are a second unit, which
# the other process can run at the same time.
SPARK_UNITS = {
    "tests/spark (reference modules)": (
        "backtest",
        "behaviour",
        "clv",
        "engagement",
        "evaluation",
        "features",
        "segments",
        "strategies",
        "summary",
        "value",
    ),
    "tests/spark (catalogue modules)": ("catalogue_segments", "categories"),
}
SPARK_UNIT_OF_MODULE = {
    f"tests/spark/test_{name}.py": unit for unit, names in SPARK_UNITS.items() for name in names
}
SPARK_REFERENCE_MODULES = frozenset(SPARK_UNIT_OF_MODULE)


# The units of work that take longest, in the order they start: with --dist loadfile a worker
# that begins one of them near the end of the run keeps the suite waiting while the other
# worker idles. pytest-xdist's own order (most tests first) started the Spark units after
# hundreds of fast unit tests. The rest keep that order: many short modules last, so that both
# workers finish together.
FIRST_UNITS = (
    "tests/spark (reference modules)",
    "tests/spark/test_pipeline.py",
    "tests/spark (catalogue modules)",
)
LONG_FOLDERS = ("tests/spark/", "tests/e2e/")


def unit_rank(scope: str) -> int:
    """Where the unit of work ``scope`` starts: the known long units first, in
    ``FIRST_UNITS``'s order, then the other Spark and end-to-end modules, then the rest."""
    if scope in FIRST_UNITS:
        return FIRST_UNITS.index(scope)
    if scope.startswith(LONG_FOLDERS):
        return len(FIRST_UNITS)
    return len(FIRST_UNITS) + 1


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's file scheduling (``--dist loadfile``), the modules of each of
    ``SPARK_UNITS`` one unit of work, the long units started first (``unit_rank``)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from collections import OrderedDict

    from xdist.scheduler import LoadFileScheduling

    class SharedReferenceScheduling(LoadFileScheduling):
        ordered = False

        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return SPARK_UNIT_OF_MODULE.get(scope, scope)

        def _assign_work_unit(self, node: Any) -> None:
            # the queue is complete when the first unit is handed out; a stable sort keeps
            # pytest-xdist's order within a rank
            if not self.ordered:
                units = sorted(self.workqueue.items(), key=lambda unit: unit_rank(unit[0]))
                self.workqueue = OrderedDict(units)
                self.ordered = True
            super()._assign_work_unit(node)

    return SharedReferenceScheduling(config, log)
