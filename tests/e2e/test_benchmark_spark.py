"""``make bench ENGINE=spark`` on small generated data: every stage of both engines runs in its
own process, the Spark engine's tables equal the DuckDB engine's, and the JSON holds each
stage's timing and each reduce step's input size; a table that differs, or an engine that
cannot start, is reported and fails the run."""

import json
import shutil
from pathlib import Path

import pytest

from benchmarks import spark_bench
from benchmarks.data import END, START
from benchmarks.engine_stages import LAKE
from segmentation.engines.spark.lake import table_location
from segmentation.keys import BEHAVIOUR_TABLE
from synthetic.generate import write

# both engines through every stage in fresh processes: CI runs it (make test-bench), the
# default suite does not
pytestmark = [pytest.mark.spark, pytest.mark.bench]

SPARK_STAGES = [
    "session start",
    "raw.transactions",
    "raw.customers",
    "features.customer_behaviour",
    "features.customer_engagement",
    "features.customer_categories",
    "features.customer_clv + marts.clv_model_params",
    "value columns: reduce step",
    "features.customer_features",
    "marts.customer_segments",
    "marts.segment_summary",
    "marts.strategy_assignments",
    "marts.segment_migration + marts.segment_outcomes + marts.strategy_effect"
    " + marts.satisfaction_summary",
    "marts.clv_backtest",
    "serving copy",
]
# what the Spark driver receives exactly, whatever the split: the population counts
EXACT = [
    "segments: rfm_values",
    "segments: cluster_rows",
    "strategies: eligible",
    "backtest customers",
]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """300 generated customers (seed 7) through both engines, the last 4 months."""
    data = tmp_path_factory.mktemp("bench_spark")
    write(data, 300, seed=7, start=START, end=END, dirty_rate=0.0)
    results = data / "results"
    spark_bench.main(
        ["--data", str(data), "--label", "tiny", "--results", str(results), "--months", "4"]
    )
    return data, json.loads((results / "spark-tiny.json").read_text())


def test_both_engines_write_the_same_tables_and_the_json_has_timings_and_reduce_sizes(
    bench,
) -> None:
    data, result = bench
    assert result["months"] == ["2011-09", "2011-12"]
    tables = result["tables"]
    assert result["same_tables"] is True
    assert all(table["same"] and not table["differences"] for table in tables.values())
    # the raw tables, the five features tables and the nine marts of the serving copies
    assert len(tables) == 3 + 5 + 9
    rows_written = json.loads((data / "true_params.json").read_text())["counts"]["rows_written"]
    assert tables["raw.transactions"]["rows"] == rows_written
    assert tables["serving: marts.customer_segments"]["rows"] > 4 * 200
    assert tables["serving: marts.segment_migration"]["rows"] > 0
    assert tables["serving: marts.clv_backtest"]["rows"] == 1  # 2011-09: 90 days covered

    spark, duck = result["engines"]["spark"], result["engines"]["duckdb"]
    assert [stage["stage"] for stage in spark["stages"]] == SPARK_STAGES
    assert spark["master"] == "local[2]"
    for engine in (spark, duck):
        assert "failed" not in engine
        for stage in engine["stages"]:
            assert stage["seconds"] > 0
            assert stage["peak_rss_mib"] >= stage["rss_start_mib"] > 0
            assert stage["peak_scope"] == "process tree"
            assert stage["extra"]["load average"] >= 0
    # the Spark process tree holds Java besides Python
    assert result["summary"]["peak_rss_mib"]["spark"] > result["summary"]["peak_rss_mib"]["duckdb"]
    seconds = result["summary"]["seconds"]
    for part in ("landing", "monthly", "whole"):
        assert seconds[part]["duckdb"] > 0 and seconds[part]["spark"] > 0
    assert seconds["all"]["spark"] == pytest.approx(
        sum(stage["seconds"] for stage in spark["stages"])
    )

    received = spark_bench._reduce_rows(spark)
    sizes = result["reduce_sizes"]["sizes"]
    for name in EXACT:
        assert received[name] == sizes[name]["total"] > 0
    assert set(received) - set(sizes) == {"clv fit input: customers", "evaluation: satisfaction"}
    # each partition sends its own distinct values: at least the population's
    for name in ("clv fit input: triple", "clv fit input: spend", "value counts"):
        assert received[name] >= sizes[name]["total"] > 0
    assert received["summary sums"] >= sizes["summary sums"]["total"] > 0
    assert received["evaluation: migration"] >= sizes["evaluation: migration"]["total"] > 0
    assert received["clv fit input: customers"] > 0

    markdown = (data / "results" / "spark-tiny.md").read_text()
    assert "Same tables (`segmentation.engines.compare`, numbers to 1e-9 relative): " in markdown
    assert f"{len(tables)} of {len(tables)}." in markdown
    assert "| segments: cluster_rows (exact) |" in markdown


def test_a_table_that_differs_is_reported_without_customer_ids(bench) -> None:
    data, result = bench
    work = data / "work-engines"
    behaviour = Path(table_location(str(work / LAKE), BEHAVIOUR_TABLE))
    month = behaviour / "snapshot_date=2011-10-31"
    saved = work / "saved-month"
    shutil.move(month, saved)
    try:
        tables = spark_bench.compare(work)
    finally:
        shutil.move(saved, month)
    outcome = tables[BEHAVIOUR_TABLE]
    assert outcome["same"] is False
    [difference] = outcome["differences"]
    missing = result["tables"]["serving: marts.customer_segments"]["rows"]
    assert difference.startswith("rows differ: ") and " missing, 0 extra" in difference
    assert 0 < int(difference.split()[2]) < missing
    assert "CUST" not in json.dumps(outcome) and "C0" not in json.dumps(outcome)
    assert all(t["same"] for name, t in tables.items() if name != BEHAVIOUR_TABLE)


def test_an_engine_that_cannot_start_fails_the_run_and_is_recorded(bench, tmp_path) -> None:
    data, _ = bench
    with pytest.raises(SystemExit) as stopped:
        spark_bench.main(
            ["--data", str(data), "--label", "refused", "--results", str(tmp_path)]
            + ["--engines", "spark", "--master", "spark://127.0.0.1:9"]
        )
    assert stopped.value.code == 1
    result = json.loads((tmp_path / "spark-refused.json").read_text())
    assert result["engines"]["spark"]["failed"] == "exit code 1"
    assert result["summary"]["failed"] == {"spark": "exit code 1"}
    assert "tables" not in result and "reduce_sizes" not in result
    assert "Engine `spark` failed (exit code 1)." in (tmp_path / "spark-refused.md").read_text()
