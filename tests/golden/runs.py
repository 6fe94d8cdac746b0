"""The two reference runs whose tables must stay byte-identical: the committed real sample and the
demo data, every partition, through the documented command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from synthetic.generate import main as generate_main
from tests.golden.fingerprint import also_on_this_platform, recording

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent
DAGSTER = Path(sys.executable).parent / "dagster"
RUNS = ("online_retail_sample", "demo")


def _config(name: str, folder: Path) -> Path:
    """The bundled config ``name`` with its sources made absolute and its outputs in ``folder``."""
    source = PROJECT_ROOT / "config" / f"{name}.yaml"
    raw = yaml.safe_load(source.read_text())
    raw["warehouse"] = str(folder / "warehouse" / "segmentation.duckdb")
    raw["serving"] = str(folder / "warehouse" / "serving.duckdb")
    # a DuckDB memory_limit, as a production config sets one: the paths that follow it (the
    # activity query under a share of it, segmentation.warehouse.lowered_memory_limit) are then
    # the compared ones
    raw["duckdb"] = {**raw.get("duckdb", {}), "memory_limit": "2GB"}
    for block in raw["sources"].values():
        path = Path(block["path"])
        if name == "demo":
            block["path"] = str(folder / "data" / path.relative_to("../data/demo"))
        else:
            block["path"] = str((source.parent / path).resolve())
    if "strategies" in raw and "playbook" in raw["strategies"]:
        raw["strategies"]["playbook"] = str(source.parent / raw["strategies"]["playbook"])
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_reference(name: str, folder: Path) -> Path:
    """Materialize every asset of every partition of reference run ``name`` in ``folder`` through
    ``dagster asset materialize``; returns the warehouse path."""
    folder.mkdir(parents=True, exist_ok=True)
    if name == "demo":
        # the same data `make demo-data` writes
        generate_main(
            [
                *("--customers", "3000", "--out", str(folder / "data")),
                *("--start", "2010-01-01", "--end", "2011-12-31", "--seed", "42"),
            ]
        )
    config = _config(name, folder)
    home = folder / "dagster_home"
    home.mkdir(exist_ok=True)
    env = os.environ | {"SEGMENTATION_CONFIG": str(config), "DAGSTER_HOME": str(home)}
    keys = subprocess.run(
        [sys.executable, "-m", "pipelines.partitions", "--range"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    command = [str(DAGSTER), "asset", "materialize", "-m", "pipelines.definitions"]
    result = subprocess.run(
        [*command, "--select", "*", "--partition-range", keys],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        raise RuntimeError(f"reference run {name} failed:\n{result.stderr[-5000:]}")
    return folder / "warehouse" / "segmentation.duckdb"


def record(folder: Path, also: bool = False) -> None:
    """Run both references and write their fingerprints next to this module; with ``also``, add
    this machine's float platform to each committed recording instead (its exact fingerprints,
    after checking the run against the recording portably)."""
    for name in RUNS:
        warehouse = run_reference(name, folder / name)
        path = GOLDEN / f"{name}.json"
        if also:
            recorded = also_on_this_platform(json.loads(path.read_text()), warehouse)
        else:
            recorded = recording(warehouse)
        path.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--also",
        action="store_true",
        help="add this machine's float platform to the committed recordings (outputs unchanged)",
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        record(Path(scratch), also=arguments.also)
