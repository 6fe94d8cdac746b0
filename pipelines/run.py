"""`python -m pipelines.run`: materialize the pipeline with one progress line per step.

It runs exactly what ``dagster asset materialize -m pipelines.definitions --select '*'
--partition-range FIRST...LAST`` runs (the same implicit asset job, tags and single run, recorded
in ``$DAGSTER_HOME`` so the UI shows it), but prints what a person follows: one line per step with
its assets, partition range, rows and time, warnings the assets log, and on a failure the failing
step's error; the exit status is non-zero when the run fails. Dagster's own event log (every
DEBUG event) stays in the run's record (``dagster dev``, *Runs*) and is printed with
``--verbose`` (``make run VERBOSE=1``), as are Dagster's beta and supersession warnings.
"""

from __future__ import annotations

import argparse
import ast
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.execution.api import execute_run_iterator
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster._utils.error import SerializableErrorInfo
from dagster._utils.interrupts import capture_interrupts

DEFINITIONS_MODULE = "pipelines.definitions"
DEFINITIONS_ATTRIBUTE = "defs"
# the console logger of quiet runs: only what would stop a run; the event log keeps everything
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
DAGSTER_WARNINGS = (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning)


class RunError(Exception):
    """The run could not be started: a bad selection or partition range (message only)."""


def quiet_dagster_warnings() -> None:
    """Hide Dagster's beta, preview and supersession warnings (they describe Dagster's APIs, not
    the run) and the deprecation notes its own code triggers."""
    for category in DAGSTER_WARNINGS:
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"dagster(\.|$)")


def _rows(metadata: dict[str, Any]) -> int | None:
    value = metadata.get("dagster/row_count")
    return None if value is None else int(value.value)


def _partition_span(partitions: Sequence[str]) -> str:
    keys = sorted(set(partitions))
    if not keys:
        return ""
    return keys[0] if len(keys) == 1 else f"{keys[0]}...{keys[-1]} ({len(keys)} partitions)"


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def error_text(error: SerializableErrorInfo | None) -> str:
    """An error and its causes, messages only (the stack traces stay in the event log); Dagster's
    wrapper around an asset's own error is left out."""
    lines: list[str] = []
    while error is not None:
        message = error.message.strip()
        # "package.module.Error: text" -> "Error: text"
        prefix, colon, text = message.partition(": ")
        if colon and prefix.endswith(error.cls_name or "\0"):
            message = f"{error.cls_name}: {text}"
        if error.cls_name == "DagsterExecutionInterruptedError":
            message = "interrupted (Ctrl-C or a termination signal)"
        wrapper = error.cls_name == "DagsterExecutionStepExecutionError" and error.cause
        if message and not wrapper and message not in lines:
            lines.append(message)
        error = error.cause
    return "\n".join(lines)


@dataclass
class _Step:
    started: float
    assets: dict[str, list[int | None]] = field(default_factory=dict)
    partitions: list[str] = field(default_factory=list)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)


@dataclass
class Progress:
    """Turns a run's events into one line per step, the warnings and the failure."""

    write: Callable[[str], None]
    run_logs: Callable[[], Iterable[Any]] = lambda: ()
    name_of: Callable[[DagsterEvent], str] = lambda event: event.step_key or ""
    total: int | None = None
    done: int = 0
    failed: bool = False
    failures: list[str] = field(default_factory=list)
    steps: dict[str, _Step] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def handle(self, event: DagsterEvent) -> None:
        """Take one event of the run."""
        kind = event.event_type
        step = self.steps.get(event.step_key or "")
        if kind == DagsterEventType.ENGINE_EVENT and self.total is None:
            keys = (event.engine_event_data.metadata or {}).get("step_keys")
            if keys is not None:
                self.total = len(ast.literal_eval(keys.value))
        elif kind == DagsterEventType.STEP_START and event.step_key:
            self.steps[event.step_key] = _Step(started=time.monotonic())
        elif kind == DagsterEventType.ASSET_MATERIALIZATION and step is not None:
            materialization = event.step_materialization_data.materialization
            key = materialization.asset_key.to_user_string()
            step.assets.setdefault(key, []).append(_rows(dict(materialization.metadata)))
            if materialization.partition:
                step.partitions.append(materialization.partition)
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION and step is not None:
            evaluation = event.asset_check_evaluation_data
            severity = evaluation.severity.value if not evaluation.passed else ""
            name = f"{evaluation.asset_key.to_user_string()} {evaluation.check_name}"
            step.checks.append((name, evaluation.passed, severity))
        elif kind == DagsterEventType.STEP_SUCCESS and step is not None:
            self._step_line(self.name_of(event), step, "")
        elif kind == DagsterEventType.STEP_SKIPPED:
            self.done += 1
            self.write(f"{self._counter()}  {self.name_of(event)}  skipped")
        elif kind == DagsterEventType.STEP_FAILURE:
            name = self.name_of(event)
            self._step_line(name, step or _Step(time.monotonic()), "FAILED")
            self._failure(name, event.step_failure_data.error, event)
        elif kind == DagsterEventType.RUN_FAILURE:
            self.failed = True
            data = event.job_failure_data
            if not self.failures and data is not None and data.error is not None:
                self._failure(None, data.error, event)

    def _counter(self) -> str:
        width = len(str(self.total)) if self.total else 2
        return f"[{self.done:>{width}}/{self.total or '?'}]"

    def _step_line(self, name: str, step: _Step, status: str) -> None:
        self.done += 1
        seconds = _duration(time.monotonic() - step.started)
        if step.assets:
            what = ", ".join(step.assets)
            counted = [rows for rows in step.assets.values() if any(r is not None for r in rows)]
            rows = " + ".join(f"{sum(r for r in rows if r is not None):,}" for rows in counted)
            detail = "  ".join(
                part for part in (_partition_span(step.partitions), rows and f"{rows} rows") if part
            )
        elif step.checks:
            what = "check " + ", ".join(name for name, _, _ in step.checks)
            detail = ", ".join(
                "passed" if passed else f"FAILED ({severity.lower()})"
                for _, passed, severity in step.checks
            )
        else:
            what, detail = name, ""
        line = "  ".join(part for part in (self._counter(), what, detail, status, seconds) if part)
        self.write(line)
        for level, message in self._warnings():
            self.write(f"    {level}: {message}")

    def _warnings(self) -> list[tuple[str, str]]:
        """What the run logged at WARNING or above since the last step (the console logger shows
        none of it), with its level."""
        return [
            (logging.getLevelName(entry.level).lower(), entry.user_message)
            for entry in self.run_logs()
            if not entry.is_dagster_event and entry.level >= logging.WARNING and entry.user_message
        ]

    def _failure(self, name: str | None, error: SerializableErrorInfo | None, event: Any) -> None:
        self.failed = True
        text = error_text(error) or (event.message or "no error message")
        where = name or "the run"
        self.failures.append(f"{where} failed:\n{text}")


def _warnings_reader(instance: dg.DagsterInstance, run_id: str) -> Callable[[], Iterable[Any]]:
    """New log entries of the run since the last call (so each warning is printed once)."""
    cursor: list[str | None] = [None]

    def read() -> Iterator[Any]:
        connection = instance.get_records_for_run(run_id, cursor=cursor[0])
        cursor[0] = connection.cursor
        return (record.event_log_entry for record in connection.records)

    return read


@contextmanager
def _instance(write: Callable[[str], None]) -> Iterator[dg.DagsterInstance]:
    if os.environ.get("DAGSTER_HOME"):
        with dg.DagsterInstance.get() as instance:
            yield instance
    else:
        write("DAGSTER_HOME is not set: this run is not recorded (the UI will not show it)")
        with dg.DagsterInstance.ephemeral() as instance:
            yield instance


def materialize(
    select: str,
    partition_range: str | None,
    verbose: bool,
    write: Callable[[str], None],
) -> bool:
    """Run the implicit asset job over ``select`` for ``partition_range`` (``FIRST...LAST``,
    ``None``: every partition of the config) as one run; True when it succeeded.

    Raises:
        RunError: the selection or the partition range is not valid.
    """
    repository = ReconstructableRepository.for_module(
        DEFINITIONS_MODULE, DEFINITIONS_ATTRIBUTE, working_directory=os.getcwd()
    )
    repo_def = repository.get_definition()
    asset_keys = dg.AssetSelection.from_coercible(select.split(",")).resolve(repo_def.asset_graph)
    job_def = repo_def.get_implicit_job_def_for_assets(asset_keys)
    if job_def is None:
        raise RunError("the selected assets do not share one partitions definition")
    tags = _range_tags(job_def, asset_keys, partition_range)
    recon_job = repository.get_reconstructable_job(job_def.name)
    load_data = repo_def.repository_load_data
    recon_job = recon_job.with_repository_load_data(load_data)
    with _instance(write) as instance:
        run = instance.create_run_for_job(
            job_def=job_def,
            run_config={} if verbose else QUIET_RUN_CONFIG,
            tags={**job_def.run_tags, **tags},
            asset_selection=frozenset(asset_keys),
            job_code_origin=recon_job.get_python_origin(),
            repository_load_data=load_data,
        )
        span = tags.get(ASSET_PARTITION_RANGE_START_TAG)
        span = f" for {span}...{tags[ASSET_PARTITION_RANGE_END_TAG]}" if span else ""
        write(f"Run {run.run_id}{span}: {len(asset_keys)} assets")
        progress = Progress(
            write, _warnings_reader(instance, run.run_id), _step_names(job_def, asset_keys)
        )
        # as the dagster CLI: Ctrl-C ends the run between events, recorded as failed
        with capture_interrupts():
            for event in execute_run_iterator(recon_job, run, instance):
                progress.handle(event)
        finished = instance.get_run_by_id(run.run_id)
        success = finished is not None and finished.status == dg.DagsterRunStatus.SUCCESS
        seconds = _duration(time.monotonic() - progress.started)
        if success and not progress.failed:
            write(f"Run {run.run_id} succeeded in {seconds}")
            return True
        for failure in progress.failures:
            write(f"\n{failure}")
        write(
            f"\nRun {run.run_id} FAILED after {seconds}. The full event log: `make dev` "
            f"(Runs), or run again with `make run VERBOSE=1`."
        )
        return False


def _step_names(
    job_def: dg.JobDefinition, selected: Iterable[dg.AssetKey]
) -> Callable[[DagsterEvent], str]:
    """A step's name as a person knows it: its assets, or its checks."""
    chosen = set(selected)

    def name_of(event: DagsterEvent) -> str:
        handle = event.node_handle
        assets_def = job_def.asset_layer.get_assets_def_for_node(handle) if handle else None
        if assets_def is None:
            return event.step_key or ""
        keys = [key.to_user_string() for key in assets_def.keys if key in chosen]
        if keys:
            return ", ".join(keys)
        checks = [f"{key.asset_key.to_user_string()} {key.name}" for key in assets_def.check_keys]
        return "check " + ", ".join(checks) if checks else event.step_key or ""

    return name_of


def _range_tags(
    job_def: dg.JobDefinition, asset_keys: Iterable[dg.AssetKey], partition_range: str | None
) -> dict[str, str]:
    partitioned = [
        key for key in asset_keys if job_def.asset_layer.get(key).partitions_def is not None
    ]
    if not partitioned:
        return {}
    partitions_def = job_def.asset_layer.get(partitioned[0]).partitions_def
    assert partitions_def is not None
    keys = partitions_def.get_partition_keys()
    if partition_range is None:
        first, last = keys[0], keys[-1]
    else:
        first, _, last = partition_range.partition("...")
        if not last:
            first = last = partition_range
    unknown = [key for key in (first, last) if key not in keys]
    if unknown:
        raise RunError(
            f"partition {unknown[0]} is not a partition of this config "
            f"({keys[0]}...{keys[-1]}; see `python -m pipelines.partitions`)"
        )
    if keys.index(first) > keys.index(last):
        raise RunError(f"the partition range {first}...{last} ends before it starts")
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status (0: the run succeeded)."""
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.run",
        description="Materialize the pipeline as one run, one progress line per step.",
    )
    parser.add_argument("--select", default="*", help="asset selection (default: every asset)")
    parser.add_argument(
        "--partition-range",
        help="FIRST...LAST or one partition key (default: every partition of the config)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="also print Dagster's full event log and its warnings",
    )
    args = parser.parse_args(argv)

    def write(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    if not args.verbose:
        quiet_dagster_warnings()
    from segmentation.settings_base import ConfigError

    try:
        return 0 if materialize(args.select, args.partition_range, args.verbose, write) else 1
    except (ConfigError, RunError) as error:
        sys.stderr.write(f"{error}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
