"""MkDocs hook: fills the generated parts of the documentation when the site is built.

A page asks for generated content with a marker line such as ``<!-- generated: data-dictionary
-->``; the hook replaces it with text made from the code or the recorded results, so those parts
cannot drift from what they describe:

- ``configuration`` and ``playbook``: the settings reference, from the pydantic models
  (:mod:`settings_reference`);
- ``data-dictionary``: the marts' columns, from the pandera contracts (the same markdown
  ``python -m pipelines.data_dictionary`` prints);
- ``benchmark <size>``: the results tables ``make bench SIZE=<size>`` wrote to
  ``benchmarks/results/<size>.md`` (alongside ``<size>.json``); ``benchmark spark-<size>``
  those of ``make bench ENGINE=spark SIZE=<size>``.

An unknown marker or a generator that fails stops the build.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import settings_reference
from mkdocs.exceptions import PluginError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BENCHMARK_RESULTS = PROJECT_ROOT / "benchmarks" / "results"
MARKER = re.compile(r"^<!-- generated: ([a-z-]+)(?: ([^ ]+))? -->$", re.MULTILINE)


def _configuration(_: str | None) -> str:
    from segmentation.config import SegmentationConfig

    return settings_reference.render(SegmentationConfig, "config", PROJECT_ROOT, "Top level")


def _playbook(_: str | None) -> str:
    from segmentation.strategies.settings import Playbook

    return settings_reference.render(
        Playbook, "playbook", PROJECT_ROOT, "Top level of the playbook", anchor_prefix="playbook-"
    )


def _data_dictionary(_: str | None) -> str:
    from segmentation.serving.dictionary import data_dictionary_markdown

    return data_dictionary_markdown()


def _benchmark(size: str | None) -> str:
    results = BENCHMARK_RESULTS / f"{size}.md"
    if not results.is_file() or not results.with_suffix(".json").is_file():
        raise PluginError(f"no recorded benchmark results for {size!r} in {BENCHMARK_RESULTS}")
    return results.read_text()


GENERATORS: dict[str, Callable[[str | None], str]] = {
    "configuration": _configuration,
    "playbook": _playbook,
    "data-dictionary": _data_dictionary,
    "benchmark": _benchmark,
}


def on_config(config: Any) -> Any:
    """Make the project's packages importable when the build runs outside its environment."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace every generated-content marker of a page by its content."""

    def generate(match: re.Match[str]) -> str:
        name, argument = match.group(1), match.group(2)
        if name not in GENERATORS:
            raise PluginError(f"{page.file.src_uri}: unknown generated content {name!r}")
        try:
            return GENERATORS[name](argument).rstrip("\n")
        except settings_reference.ReferenceError as error:
            raise PluginError(f"{page.file.src_uri}: {error}") from error

    return MARKER.sub(generate, markdown)
