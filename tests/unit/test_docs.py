"""The documentation site builds strictly, and its generated pages hold what the code defines:
every configuration key with its default, every marts table and column, the recorded benchmark
numbers. A settings key without a description fails the build."""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import BaseModel

from segmentation.config import SegmentationConfig
from segmentation.features.settings import FeatureSettings
from segmentation.segments.settings import SegmentSettings
from segmentation.serving.dictionary import MART_CONTRACTS, MARTS_SCHEMA, data_dictionary_markdown
from segmentation.settings_base import Strict
from segmentation.strategies.settings import Playbook, PlaybookRule
from tests.conftest import PROJECT_ROOT

BENCHMARK_SIZES = ("1M", "10M", "100M")
MAX_README_LINES = 250


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as `make docs` builds it (strict), into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict"]
        + ["--config-file", str(PROJECT_ROOT / "mkdocs.yml"), "--site-dir", str(out)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    return out


def _page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text()


def _sections(page: str) -> dict[str, str]:
    """Heading id -> the HTML up to the next heading of level 2 or 3."""
    parts = re.split(r'<h[23] id="([^"]+)"', page)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _row(key: str, default: object) -> re.Pattern[str]:
    """The reference's table row of ``key`` with ``default`` in its default column."""
    if isinstance(default, bool) or default is None:
        shown = {True: "true", False: "false", None: "null"}[default]
    else:
        shown = str(default)
    return re.compile(
        rf"<td><code>{re.escape(key)}</code></td>\s*<td>.*?</td>\s*"
        rf"<td><code>{re.escape(html.escape(shown, quote=False))}</code></td>",
        re.DOTALL,
    )


def test_every_page_is_built_and_no_marker_is_left(site: Path) -> None:
    pages = sorted(site.rglob("index.html"))
    assert len(pages) >= 15
    for page in pages:
        assert "<!-- generated:" not in page.read_text(), page


def test_configuration_reference_lists_every_top_level_key(site: Path) -> None:
    top = _sections(_page(site, "configuration"))["top-level"]
    keys = [name for name, info in SegmentationConfig.model_fields.items() if not info.exclude]
    assert {"warehouse", "serving", "sources", "snapshots", "segments"} <= set(keys)
    for key in keys:
        assert f"<td><code>{key}</code></td>" in top, key
    # the fields the loader fills in are not keys a user writes
    assert "<code>config_path</code></td>" not in top
    assert _row("pseudonymize", False).search(top)


@pytest.mark.parametrize(
    ("section", "settings"),
    [
        ("features-value", FeatureSettings().value),
        ("features-clv", FeatureSettings().clv),
        ("features-lifecycle", FeatureSettings().lifecycle),
        ("segments-loyalty", SegmentSettings().loyalty),
        ("segments-churn-risk", SegmentSettings().churn_risk),
        ("segments-clusters", SegmentSettings().clusters),
        ("playbook-control-group", Playbook.model_fields["control_group"].default),
    ],
)
def test_configuration_reference_shows_each_keys_default(
    site: Path, section: str, settings: BaseModel
) -> None:
    table = _sections(_page(site, "configuration"))[section]
    for key, value in settings.model_dump().items():
        assert _row(key, value).search(table), (section, key, value)


def test_configuration_reference_covers_the_sources_and_the_playbook(site: Path) -> None:
    sections = _sections(_page(site, "configuration"))
    columns = sections["sources-transactions-columns"]
    assert "<td><code>order_ts</code></td>" in columns
    assert "<strong>required</strong>" in columns
    customers = sections["sources-customers-columns"]
    assert "<em>any other key</em>" in customers
    rules = sections["playbook-rules"]
    for key in PlaybookRule.model_fields:
        assert f"<td><code>{key}</code></td>" in rules, key


def _hook_module(name: str) -> ModuleType:
    path = PROJECT_ROOT / "docs" / "hooks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # its dataclasses look their module up by name, as mkdocs' hook loader registers it
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_a_key_without_a_description_and_a_stale_description_stop_the_build() -> None:
    reference = _hook_module("settings_reference")

    class Undescribed(Strict):
        undocumented_key: int = 1

    with pytest.raises(reference.ReferenceError) as failure:
        reference.render(Undescribed, "playbook", PROJECT_ROOT, "Top level")
    message = str(failure.value)
    assert "undocumented_key: no description" in message
    # the playbook's own descriptions name keys this model does not have
    assert "rules: described in setting_descriptions.yaml but not a key" in message


def test_data_dictionary_page_is_the_contracts(site: Path, capsys) -> None:
    page = _page(site, "data-dictionary")
    for table, contract in MART_CONTRACTS.items():
        assert f"<code>{MARTS_SCHEMA}.{table}</code>" in page, table
        section = _sections(page)[f"{MARTS_SCHEMA}{table}"]
        for column, spec in contract.to_schema().columns.items():
            name = "attr_&lt;dimension&gt;" if spec.regex else column
            assert f"<td><code>{name}</code></td>" in section, (table, column)
    # the command line prints the same markdown the page is generated from
    runpy.run_module("pipelines.data_dictionary", run_name="__main__")
    assert capsys.readouterr().out == data_dictionary_markdown()


@pytest.mark.parametrize("size", BENCHMARK_SIZES)
def test_benchmark_page_holds_each_sizes_recorded_results(site: Path, size: str) -> None:
    result = json.loads((PROJECT_ROOT / "benchmarks" / "results" / f"{size}.json").read_text())
    title = f"{size}: {result['transactions']:,} transactions, {result['customers']:,} customers"
    page = _page(site, "benchmarks")
    assert f">{title}<" in page
    section = page.split(f">{title}<", 1)[1].split("<h3", 1)[0]
    stages = [stage for group in result["groups"].values() for stage in group["stages"]]
    assert stages
    for stage in stages:
        assert f"<td>{html.escape(stage['stage'], quote=False)}</td>" in section
        peak = f"{stage['peak_rss_mib']:,.0f}"
        assert re.search(rf"<td[^>]*>{peak}</td>", section), stage
    for name, value in result["summary"]["ratios"].items():
        shown = "not measured" if value is None else f"{value:.2f}"
        assert re.search(rf"<td>{name}</td>\s*<td[^>]*>{shown}</td>", section), name


def test_benchmark_10m_headline_numbers(site: Path) -> None:
    """The prose that explains the 10M run quotes the recorded run: a new run of `make bench`
    whose numbers the page's text does not follow fails here."""
    result = json.loads((PROJECT_ROOT / "benchmarks" / "results" / "10M.json").read_text())
    seconds, ratios = result["summary"]["seconds"], result["summary"]["ratios"]
    page = _page(site, "benchmarks")
    section = page.split(">Where the time goes, and the targets missed<", 1)[1]
    section = section.split("<h2", 1)[0]
    quoted = {
        f"{ratios['cli_over_sql_rfm']:.1f}x",
        f"({seconds['cli_one_snapshot']:.1f} s against {seconds['sql_rfm']:.2f} s)",
        f"{seconds['pipeline_one_snapshot']:.1f} s, not met",
        f"{ratios['backfill_over_snapshot']:.1f}x end to end",
        f"{seconds['process_start']:.1f} s of process start",
        f"{ratios['pymc_map_over_our_fit']:.0f}x faster than pymc-marketing MAP",
        # what the writes' floor leaves of the targets
        f"at least {result['summary']['budgets'][0]['shrink_at_least']}x less",
        f"at least {result['summary']['budgets'][1]['shrink_at_least']}x less",
        f"still take {ratios['backfill_over_snapshot_writes_floor']:.1f}x one snapshot",
    }
    assert [text for text in sorted(quoted) if text not in section] == []


def test_readme_is_the_first_screen_and_its_links_resolve() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= MAX_README_LINES
    for command in (
        "make run",
        "make test",
        "python -m pipelines.run",
        "python -m pipelines.summary",
        "python -m pipelines.partitions",
        "dagster asset materialize -m pipelines.definitions",
        "dagster dev -w workspace.yaml",
        "dg list defs",
        "dg check defs",
        "dg launch --assets '*' --partition 2011-03",
    ):
        assert command in readme, command
    assert "\n## Use it in a notebook\n" in readme
    links = re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", readme)
    assert len(links) >= 10
    for link in links:
        assert (PROJECT_ROOT / link).is_file(), link
