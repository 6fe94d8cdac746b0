"""features.customer_clv and marts.clv_model_params computed by Spark on local[2] (each
partition's customers compressed to the fit input on the executors, the inputs merged and the
models fitted once on the driver, each partition's customers predicted on the executors) equal
the DuckDB engine's tables: the same fit input and parameters bit for bit, the same rows,
numbers equal to 1e-9 relative (here: bit for bit)."""

from datetime import date

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from segmentation.config import SegmentationConfig
from segmentation.engines.compare import frame_differences
from segmentation.engines.spark.clv import customer_clv, fit_input_rows, fit_inputs_of_rows
from segmentation.features.clv import clv_fit_input, merge_fit_inputs
from segmentation.keys import BEHAVIOUR_TABLE, KEY_COLUMNS
from segmentation.monthly import customer_behaviour_months
from tests.spark.reference import clv_months
from tests.spark.test_behaviour import GENERATED_SNAPSHOTS, RETAIL_SNAPSHOTS

pytestmark = pytest.mark.spark

PARAM_KEYS = ["snapshot_date", "model", "parameter"]


def _duckdb_engine(
    con: duckdb.DuckDBPyConnection, snapshots: list[date], config: SegmentationConfig
) -> tuple[pl.DataFrame, pl.DataFrame, list[dict]]:
    """The DuckDB engine's asset, month by month: customers, params and fit summaries."""
    customers, params, summaries = [], [], []
    for month in clv_months(con, snapshots, config):
        customers.append(month.customers)
        params.append(month.params)
        if month.summary:
            summaries.append(month.summary)
    return pl.concat(customers), pl.concat(params), summaries


def _spark_engine(spark, chain_lakes, con, snapshots, config):
    """The Spark engine's chain: the raw tables exported, the behaviour computed and written
    into the lake (the process's shared lake, ``chain_lakes``), the CLV computed from it."""
    lake = chain_lakes.lake(con, snapshots, config, BEHAVIOUR_TABLE)
    result = customer_clv(spark, lake, snapshots, config)
    customers = pl.from_arrow(result.customers.toArrow())
    assert isinstance(customers, pl.DataFrame)
    return result, customers


def _assert_equal(spark_result, customers, expected, params, summaries) -> None:
    assert frame_differences(customers, expected) == []
    assert customers.sort(KEY_COLUMNS).equals(expected.sort(KEY_COLUMNS))
    # the parameters are the same bits: the fits got the same input
    assert spark_result.params.sort(PARAM_KEYS).equals(params.sort(PARAM_KEYS))
    assert spark_result.summaries == summaries


def test_spark_clv_equals_duckdb_on_the_real_sample_for_every_month(
    spark, chain_lakes, retail
) -> None:
    config, con = retail
    expected, params, summaries = _duckdb_engine(con, RETAIL_SNAPSHOTS, config)
    result, customers = _spark_engine(spark, chain_lakes, con, RETAIL_SNAPSHOTS, config)
    assert expected.height > 20_000
    # months fitted by the models and months that fall back are both compared
    methods = set(expected.get_column("clv_method").unique())
    assert {"bgnbd_gamma_gamma", "simple_fallback"} <= methods
    _assert_equal(result, customers, expected, params, summaries)
    # the reduce step's input: at most one triple per buyer and one spend pair per repeat
    # buyer of each month (fewer where customers share them), one count per partition and month
    rows = result.reduce_rows
    assert 0 < rows["triple"] <= sum(summary["buyers"] for summary in summaries)
    assert 0 < rows["spend"] <= sum(summary["repeat_buyers"] for summary in summaries)
    assert rows["customers"] >= len(summaries)


def test_spark_clv_equals_duckdb_on_generated_customers(spark, chain_lakes, generated) -> None:
    config, con = generated
    expected, params, summaries = _duckdb_engine(con, GENERATED_SNAPSHOTS, config)
    result, customers = _spark_engine(spark, chain_lakes, con, GENERATED_SNAPSHOTS, config)
    assert (expected.get_column("clv_method") == "none").any()  # customers who never bought
    _assert_equal(result, customers, expected, params, summaries)


def test_partition_rows_merge_into_the_whole_populations_fit_input(retail) -> None:
    """The reduce step's input, as the map step writes it, merges into the arrays the DuckDB
    engine fits on, whatever the split."""
    config, con = retail
    snapshot = date(2011, 6, 30)
    [behaviour] = customer_behaviour_months(con, [snapshot], config)
    whole = merge_fit_inputs([clv_fit_input(behaviour)])
    parts = [behaviour.filter(pl.col("customer_id").hash(seed=5) % 3 == n) for n in range(3)]

    rows = pa.concat_tables(fit_input_rows(snapshot, clv_fit_input(part)) for part in parts)
    merged = fit_inputs_of_rows(rows)[snapshot]
    assert merged.customers == behaviour.height
    for name in ("x", "t_x", "age", "count", "spend_x", "spend_m", "spend_count"):
        assert np.array_equal(getattr(merged, name), getattr(whole, name)), name
    # one part missing is another input: the comparison can fail
    fewer = fit_inputs_of_rows(rows.slice(0, rows.num_rows // 2))[snapshot]
    assert fewer.count.sum() < whole.count.sum()
