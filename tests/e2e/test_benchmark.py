"""The benchmark's stage groups on small generated data: the stages are the real assets, in
order, and what they report is what they wrote."""

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from benchmarks import stages
from benchmarks.data import END, START
from benchmarks.measure import OUR_FIT, PYMC_FIT
from benchmarks.run import _config, _markdown, _summarize
from synthetic.generate import write

MONTHLY_STAGES = [
    "features.customer_behaviour",
    "features.customer_engagement",
    "features.customer_categories",
    "features.customer_clv + marts.clv_model_params",
    "features.customer_features",
    "marts.customer_segments + marts.segment_summary",
    "marts.strategy_assignments",
]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """1,500 generated customers (seed 7) and the benchmark's config for them."""
    data = tmp_path_factory.mktemp("bench_data")
    write(data, 1_500, seed=7, start=START, end=END, dirty_rate=0.0)
    work = data / "work"
    work.mkdir()
    _config(data, work)
    return data, work


def _group(bench: tuple[Path, Path], group: str, months: int = 1) -> dict:
    data, work = bench
    out = work / f"{group}.json"
    stages.main(
        [group, "--data", str(data), "--work", str(work), "--out", str(out)]
        + ["--months", str(months)]
    )
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def pipeline(bench: tuple[Path, Path]) -> dict:
    return _group(bench, "pipeline")


def _rows(warehouse: Path, table: str) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_pipeline_stages_are_the_assets_in_order(bench, pipeline) -> None:
    data, work = bench
    assert pipeline["partitions"] == ["2011-12", "2011-12"]
    names = [stage["stage"] for stage in pipeline["stages"]]
    assert names == ["raw.transactions", "raw.customers", *MONTHLY_STAGES]
    assert [stage["extra"]["part"] for stage in pipeline["stages"]] == ["landing"] * 2 + [
        "monthly"
    ] * len(MONTHLY_STAGES)
    warehouse = work / "segmentation.duckdb"
    reported = {
        key.removesuffix(" rows"): value
        for stage in pipeline["stages"]
        for key, value in stage["extra"].items()
        if key.endswith(" rows")
    }
    written = {table: _rows(warehouse, table) for table in reported}
    assert reported == written
    source_rows = json.loads((data / "true_params.json").read_text())["counts"]["rows_written"]
    assert written["raw.transactions"] == source_rows
    assert written["features.customer_behaviour"] == written["marts.strategy_assignments"] > 1_000
    for stage in pipeline["stages"]:
        assert stage["seconds"] > 0
        assert stage["peak_rss_mib"] >= stage["rss_start_mib"] > 0
    # the customer summary the pymc peer fits: the snapshot's buyers
    with duckdb.connect(str(warehouse), read_only=True) as con:
        buyers = con.execute(
            "SELECT count(*) FROM features.customer_behaviour WHERE purchase_days > 0"
        ).fetchone()[0]
    assert pl.read_parquet(work / stages.SUMMARY_FILE).height == buyers > 0


def test_backfill_covers_every_month_and_the_summary_gives_ratios(bench, pipeline) -> None:
    backfill = _group(bench, "backfill", months=3)
    assert backfill["partitions"] == ["2011-10", "2011-12"]
    assert [stage["stage"] for stage in backfill["stages"]] == MONTHLY_STAGES
    one = pipeline["stages"][2]["extra"]["features.customer_behaviour rows"]
    three = backfill["stages"][0]["extra"]["features.customer_behaviour rows"]
    # known customers only accumulate: three months hold more than one, at most three times it
    assert one < three <= 3 * one
    # the landed warehouse the backfill copied is left as the pipeline wrote it
    assert not (bench[1] / "backfill.duckdb").exists()
    floor = _group(bench, "floor")
    # the floor's group-by finds every customer who bought by the snapshot, on every run
    with duckdb.connect(str(bench[1] / "segmentation.duckdb"), read_only=True) as con:
        buyers = con.execute(
            "SELECT count(DISTINCT customer_id) FROM raw.transactions "
            "WHERE order_ts < TIMESTAMP '2012-01-01'"
        ).fetchone()[0]
    assert [stage["extra"]["customers"] for stage in floor["stages"]] == [buyers] * 3
    groups = {
        "floor": floor,
        "pipeline": pipeline,
        "backfill": backfill,
        "pandas_rfm": {"stages": [], "not_run": True},
        "pymc": {"stages": [], "not_run": True},
    }
    summary = _summarize("1M", groups)
    seconds = summary["seconds"]
    landing = sum(stage["seconds"] for stage in pipeline["stages"][:2])
    monthly = sum(stage["seconds"] for stage in backfill["stages"])
    assert seconds["backfill_24_end_to_end"] == pytest.approx(landing + monthly, abs=1e-3)
    assert summary["ratios"]["backfill_over_snapshot"] == round(
        (landing + monthly) / seconds["pipeline_one_snapshot"], 2
    )
    assert seconds["floor"] == min(stage["seconds"] for stage in floor["stages"])
    assert seconds["pandas_rfm"] is None and summary["not_run"] == ["pandas_rfm", "pymc"]
    report = _markdown(
        {
            "size": "1M",
            "transactions": 1,
            "customers": 1,
            "snapshot": "2011-12",
            "backfill": backfill["partitions"],
            "environment": {
                "cpus": 2,
                "platform": "-",
                "python": "-",
                "duckdb": "-",
                "polars": "-",
            },
            "groups": groups,
            "summary": summary,
        }
    )
    assert "Not run (`--groups`): pandas_rfm, pymc." in report
    assert "| pipeline | marts.strategy_assignments |" in report


def test_a_failed_group_leaves_its_totals_out(pipeline) -> None:
    groups = {
        "floor": {"stages": [{"stage": "floor", "seconds": 0.5, "peak_rss_mib": 1, "extra": {}}]},
        "pipeline": pipeline,
        "backfill": {"stages": pipeline["stages"][2:3], "failed": "exit code -9"},
        "pandas_rfm": {"stages": [], "not_run": True},
        "pymc": {"stages": [], "not_run": True},
    }
    summary = _summarize("10M", groups)
    assert summary["seconds"]["backfill_24_end_to_end"] is None
    assert summary["ratios"]["backfill_over_snapshot"] is None
    assert summary["failed"] == {"backfill": "exit code -9"}
    [backfill_target] = [t for t in summary["targets"] if "backfill" in t["target"]]
    assert backfill_target["met"] is None
    assert backfill_target["measured"].startswith("not measured")
    [parameters] = [t for t in summary["targets"] if "maximum likelihood" in t["target"]]
    assert parameters == {
        "target": "CLV parameters at the exact maximum likelihood (within 1%)",
        "measured": "not measured",
        "met": None,
    }


def test_each_clv_fit_counts_its_fastest_run(pipeline) -> None:
    def stage(name: str, seconds: float) -> dict:
        return {"stage": name, "seconds": seconds, "peak_rss_mib": 1, "extra": {}}

    ours = [stage(f"{OUR_FIT}, run {run}", s) for run, s in ((1, 0.034), (2, 0.021), (3, 0.025))]
    pymc = [stage(f"{PYMC_FIT}, run {run}", s) for run, s in ((1, 4.2), (2, 3.1), (3, 3.3))]
    groups = {
        "floor": {"stages": [stage("floor", 0.5)]},
        "pipeline": pipeline,
        "backfill": {"stages": [], "not_run": True},
        "pandas_rfm": {"stages": [], "not_run": True},
        "pymc": {"stages": ours + pymc},
    }
    summary = _summarize("10M", groups)
    assert summary["seconds"]["our_clv_fit"] == 0.021
    assert summary["seconds"]["pymc_map_fit"] == 3.1
    assert summary["ratios"]["pymc_map_over_our_fit"] == round(3.1 / 0.021, 2)
