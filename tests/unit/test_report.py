"""Charts are valid PNG images; the HTML report embeds them and escapes text."""

import base64
import re
import struct
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from segmentation.reports.charts import (
    PNG_SIGNATURE,
    clv_histogram_png,
    migration_png,
    rfm_grid_png,
    segment_sizes_png,
)
from segmentation.reports.html_report import (
    Chart,
    SegmentReport,
    Table,
    png_data_uri,
    render_report,
    write_report,
)
from tests.conftest import PROJECT_ROOT, config_mapping, write_config_file

SNAPSHOT = date(2011, 3, 31)


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header (the first chunk must be IHDR)."""
    assert png[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", png[8:16])
    assert kind == b"IHDR" and length == 13
    assert png[-8:-4] == b"IEND"
    return struct.unpack(">II", png[16:24])


def _migration() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "from_snapshot": [date(2011, 2, 28)] * 3,
            "to_snapshot": [SNAPSHOT] * 3,
            "dimension": ["rfm_segment"] * 3,
            "from_segment": ["Champions", "Champions", "Lost"],
            "to_segment": ["Champions", "Loyal", "Lost"],
            "customers": [40, 10, 25],
        }
    )


@pytest.mark.parametrize(
    "draw",
    [
        lambda: segment_sizes_png({"Champions": 5, "Lost": 3}, {"new": 4, "lost": 4}, SNAPSHOT),
        lambda: rfm_grid_png(
            pl.DataFrame({"r_score": [5, 1], "fm_score": [5, 1], "customers": [7, 2]}), SNAPSHOT
        ),
        lambda: migration_png(_migration()),
        lambda: migration_png(pl.DataFrame()),
        lambda: clv_histogram_png(pl.Series([0.0, None, 12.5, 130.0, 4_000.0]), SNAPSHOT),
        lambda: clv_histogram_png(pl.Series([0.0, 0.0]), SNAPSHOT),
        lambda: clv_histogram_png(pl.Series([50.0, 50.0]), SNAPSHOT),
    ],
    ids=[
        "sizes",
        "rfm grid",
        "migration",
        "migration, no pair",
        "clv",
        "clv, none positive",
        "clv, one value",
    ],
)
def test_charts_are_png_images(draw) -> None:
    png = draw()
    width, height = png_size(png)
    assert width >= 300 and height >= 150
    assert len(png) > 2_000


def test_charts_are_reproducible() -> None:
    first = migration_png(_migration())
    assert migration_png(_migration()) == first


def test_report_embeds_images_and_escapes_text(tmp_path: Path) -> None:
    png = segment_sizes_png({"Champions": 5}, {"new": 5}, SNAPSHOT)
    report = SegmentReport(
        snapshot=SNAPSHOT,
        previous_snapshot=date(2011, 2, 28),
        generated_at=datetime(2011, 4, 1, 3, tzinfo=UTC),
        headline={"customers": "5"},
        charts=[Chart("Segment sizes", png, "Customers per segment.")],
        tables=[Table("RFM segments", ["segment", "customers"], [["Can't Lose <Them>", "5"]])],
    )
    path = write_report(tmp_path / "out" / "segment_report.html", render_report(report))
    html = path.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "Can&#39;t Lose &lt;Them&gt;" in html
    [embedded] = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert base64.b64decode(embedded) == png
    assert png_data_uri(png).endswith(embedded)
    assert "2011-02-28" in html and "2011-03-31" in html
    assert [p.name for p in path.parent.iterdir()] == ["segment_report.html"]


def test_loading_the_definitions_does_not_import_matplotlib(tmp_path: Path) -> None:
    """Every CLI command, run and code-location load imports the definitions; matplotlib is
    imported by the first chart drawn, not then."""
    import os
    import subprocess
    import sys

    config = write_config_file(tmp_path, config_mapping())
    code = (
        "import sys, datetime, polars as pl, pipelines.definitions\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))\n"
        "import segmentation.reports.charts as charts\n"
        "charts.clv_histogram_png(pl.Series([1.0, 2.0]), datetime.date(2011, 3, 31))\n"
        "print('matplotlib.figure' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=os.environ | {"SEGMENTATION_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-2:] == ["[]", "True"]
