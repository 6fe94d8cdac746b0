"""Refactors prove byte-identical outputs: every raw, quality, features and marts table of the real
sample run and of the demo run (all partitions, through the documented command line) matches the
fingerprints recorded in tests/golden/. Outputs change only by adding: a table or a column added
since the recording is not a difference (the recorded columns are compared as recorded). An
intended change of results records them again (`python -m tests.golden.runs`) and says why in its
commit.

Bit for bit is checked on the float platform the recording names (tests/golden/fingerprint.py):
on another, the CLV fit's doubles differ in their last bits, and the run is held to the
portable fingerprints instead, with a warning that says so."""

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from tests.golden.fingerprint import (
    additions,
    also_on_this_platform,
    differences,
    exact_fingerprints,
    float_platform,
    portable_differences,
    warehouse_fingerprints,
)
from tests.golden.runs import GOLDEN, PROJECT_ROOT, RUNS, run_reference


@pytest.mark.long
@pytest.mark.parametrize("name", RUNS)
def test_tables_are_byte_identical_to_the_recorded_run(name: str, tmp_path: Path) -> None:
    recorded = json.loads((GOLDEN / f"{name}.json").read_text())
    expected = recorded["tables"]
    actual = warehouse_fingerprints(run_reference(name, tmp_path), expected)
    # another platform's doubles are compared apart from their last bits, never ignored
    assert portable_differences(expected, actual) == []
    here = float_platform()
    exact = exact_fingerprints(recorded, here)
    if exact is not None:
        assert differences(exact, actual) == []
    else:
        platforms = [
            recorded["platform"],
            *(other["platform"] for other in recorded.get("also", [])),
        ]
        warnings.warn(
            f"{name}: recorded on {platforms}, run on {here}: compared apart from the last bits "
            "of doubles (portable fingerprints; `python -m tests.golden.runs --also` records "
            "this platform)",
            stacklevel=1,
        )


def _warehouse(path: Path, sql: str) -> Path:
    import duckdb

    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        con.execute(sql)
    return path


def test_the_portable_comparison_allows_the_last_bits_of_doubles_and_nothing_else(
    tmp_path: Path,
) -> None:
    path = _warehouse(
        tmp_path / "w.duckdb",
        "CREATE TABLE marts.t AS SELECT DATE '2011-01-31' AS snapshot_date, 'a' AS segment, "
        "0.1::DOUBLE + 0.2::DOUBLE AS x UNION ALL SELECT DATE '2011-02-28', 'b', 1.0::DOUBLE",
    )
    before = warehouse_fingerprints(path)
    # another CPU's last bit: a difference bit for bit, none portably
    _warehouse(path, "UPDATE marts.t SET x = 0.3::DOUBLE WHERE segment = 'a'")
    after = warehouse_fingerprints(path, before)
    assert differences(before, after) == ["marts.t: content differs (snapshots 2011-01-31)"]
    assert portable_differences(before, after) == []
    # a value that really moved
    _warehouse(path, "UPDATE marts.t SET x = 0.31::DOUBLE WHERE segment = 'a'")
    moved = warehouse_fingerprints(path, before)
    assert portable_differences(before, moved) == [
        "marts.t: sum of x (2011-01-31) 0.31 != 0.30000000000000004"
    ]
    # a segment that changed is found exactly, whatever the doubles do
    _warehouse(
        path, "UPDATE marts.t SET x = 0.1::DOUBLE + 0.2::DOUBLE, segment = 'c' WHERE segment = 'a'"
    )
    relabelled = warehouse_fingerprints(path, before)
    assert portable_differences(before, relabelled) == [
        "marts.t: content of its columns other than doubles differs (snapshots 2011-01-31)"
    ]


def test_the_float_platform_is_the_same_whatever_the_process_imported() -> None:
    """The recording's process and a test worker import different things: an OpenMP runtime
    (scikit-learn's) or SciPy's OpenBLAS loaded in one only must not make the same machine
    another platform (which would compare it apart from the last bits of doubles)."""
    code = (
        "import json, sys; from tests.golden.fingerprint import float_platform; "
        "sys.argv[1:] and __import__('sklearn.cluster'); print(json.dumps(float_platform()))"
    )

    def platform_of(*argv: str) -> dict:
        run = subprocess.run(
            [sys.executable, "-c", code, *argv],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(run.stdout)

    bare, with_openmp = platform_of(), platform_of("sklearn")
    assert bare == with_openmp == float_platform()
    assert bare["machine"] and bare["blas"] and "None" not in bare["blas"]


def test_a_changed_value_is_found(tmp_path: Path) -> None:
    """The comparison sees a change in the last bit of one double of one snapshot."""
    import duckdb

    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA marts")
        con.execute(
            "CREATE TABLE marts.t AS SELECT DATE '2011-01-31' AS snapshot_date, "
            "0.1::DOUBLE + 0.2::DOUBLE AS x UNION ALL SELECT DATE '2011-02-28', 1.0::DOUBLE"
        )
    before = warehouse_fingerprints(path)
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE marts.t SET x = 0.3::DOUBLE WHERE snapshot_date = DATE '2011-01-31'")
    after = warehouse_fingerprints(path)
    assert differences(before, after) == ["marts.t: content differs (snapshots 2011-01-31)"]


def test_added_tables_and_columns_are_additions_and_a_changed_column_a_difference(
    tmp_path: Path,
) -> None:
    import duckdb

    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE TABLE marts.t AS SELECT 1 AS a, 'x' AS b")
    recorded = warehouse_fingerprints(path)
    with duckdb.connect(str(path)) as con:
        con.execute("ALTER TABLE marts.t ADD COLUMN c DOUBLE DEFAULT 2.5")
        con.execute("CREATE TABLE marts.u AS SELECT 1 AS z")
    grown = warehouse_fingerprints(path, recorded)
    assert differences(recorded, grown) == []
    assert additions(recorded, grown) == [
        "marts.u: new table",
        "marts.t: new column c DOUBLE",
    ]
    with duckdb.connect(str(path)) as con:
        con.execute("ALTER TABLE marts.t DROP COLUMN b")
    assert differences(recorded, warehouse_fingerprints(path, recorded)) == [
        "marts.t: columns ['a INTEGER'] != ['a INTEGER', 'b VARCHAR']",
        "marts.t: content differs",
    ]
    with duckdb.connect(str(path)) as con:
        con.execute("DROP TABLE marts.t")
    assert differences(recorded, warehouse_fingerprints(path, recorded)) == ["marts.t: missing"]


def test_a_further_platform_is_compared_bit_for_bit_once_recorded(tmp_path: Path) -> None:
    path = _warehouse(
        tmp_path / "w.duckdb",
        "CREATE TABLE marts.t AS SELECT DATE '2011-01-31' AS snapshot_date, 'a' AS segment, "
        "0.1::DOUBLE + 0.2::DOUBLE AS x UNION ALL SELECT DATE '2011-02-28', 'b', 1.0::DOUBLE",
    )
    elsewhere = {"machine": "x86_64", "numpy_simd": ["SSE42"], "blas": ["Sandybridge"]}
    recorded = {"platform": elsewhere, "tables": warehouse_fingerprints(path)}
    here = float_platform()
    assert exact_fingerprints(recorded, elsewhere) == recorded["tables"]
    assert exact_fingerprints(recorded, here) is None
    # this machine's run differs in a last bit: recorded as a further platform, compared exactly
    _warehouse(path, "UPDATE marts.t SET x = 0.3::DOUBLE WHERE segment = 'a'")
    both = also_on_this_platform(recorded, path)
    assert both["platform"] == elsewhere and both["tables"] == recorded["tables"]
    [also] = both["also"]
    assert also["platform"] == here
    exact_here = exact_fingerprints(both, here)
    assert differences(exact_here, warehouse_fingerprints(path, recorded["tables"])) == []
    assert differences(recorded["tables"], warehouse_fingerprints(path)) == [
        "marts.t: content differs (snapshots 2011-01-31)"
    ]
    # and then a last-bit change on this platform is a difference again
    _warehouse(path, "UPDATE marts.t SET x = 1.0000000000000002::DOUBLE WHERE segment = 'b'")
    assert differences(exact_here, warehouse_fingerprints(path, recorded["tables"])) == [
        "marts.t: content differs (snapshots 2011-02-28)"
    ]
    with pytest.raises(ValueError, match="holds this platform already"):
        also_on_this_platform(both, path)
    # a run whose outputs changed is refused, not recorded
    _warehouse(path, "UPDATE marts.t SET segment = 'c' WHERE segment = 'a'")
    with pytest.raises(ValueError, match="content of its columns other than doubles differs"):
        also_on_this_platform(recorded, path)
