"""The static HTML segment report: one self-contained file (images embedded), from a template."""

from __future__ import annotations

import base64
import os
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import jinja2

TEMPLATE_DIR = Path(__file__).with_name("templates")
TEMPLATE_NAME = "segment_report.html.j2"
REPORT_FILENAME = "segment_report.html"


@dataclass(frozen=True)
class Chart:
    """A PNG image with its title and a sentence on how to read it."""

    title: str
    png: bytes
    caption: str = ""

    @property
    def data_uri(self) -> str:
        """The image as a ``data:image/png;base64,...`` URI."""
        return png_data_uri(self.png)


@dataclass(frozen=True)
class Table:
    """A small table, cells already formatted as text; columns from ``numeric_from`` on are
    numbers (right-aligned)."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""
    numeric_from: int = 1


@dataclass(frozen=True)
class SegmentReport:
    """Everything the report shows about one snapshot."""

    snapshot: date
    previous_snapshot: date | None
    generated_at: datetime
    headline: dict[str, str]
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


def png_data_uri(png: bytes) -> str:
    """A PNG as a data URI, for markdown metadata in the UI and for the HTML report."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_report(report: SegmentReport) -> str:
    """The report as one HTML document (text escaped, images embedded)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template(TEMPLATE_NAME).render(report=report)


def write_report(path: Path, html: str) -> Path:
    """Write the report atomically: readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(html)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
