"""The phase timer: nothing is kept unless collected, phases are exclusive, the rest is
computing."""

import time

import pytest

from benchmarks.measure import Recorder, phase_split
from segmentation.phases import CHECKING, READING, WRITING, collecting, phase


def test_phases_count_only_while_collected() -> None:
    with phase(READING):
        time.sleep(0.01)
    with collecting() as seconds, phase(READING):
        time.sleep(0.05)
    after = dict(seconds)
    with phase(READING):
        time.sleep(0.01)
    assert seconds == after
    assert seconds[READING] >= 0.05
    assert seconds[CHECKING] == seconds[WRITING] == 0.0


def test_an_inner_phase_pauses_the_outer_one() -> None:
    start = time.perf_counter()
    with collecting() as seconds:
        with phase(CHECKING):
            time.sleep(0.05)
            with phase(WRITING):
                time.sleep(0.3)
            time.sleep(0.05)
        time.sleep(0.05)
    wall = time.perf_counter() - start
    assert seconds[WRITING] >= 0.3
    # the writing inside is not the checking's too (that would make it >= 0.4)
    assert 0.1 <= seconds[CHECKING] < 0.3
    # exclusive: never more than the wall time, the rest is left for computing
    assert seconds[CHECKING] + seconds[WRITING] < wall
    split = phase_split(seconds, wall)
    assert split["computing"] >= 0.04
    assert sum(split.values()) == pytest.approx(wall, abs=0.005)


def test_an_unknown_phase_is_refused_while_collecting() -> None:
    with (
        collecting(),
        pytest.raises(ValueError, match="unknown phase 'parsing'"),
        phase("parsing"),
    ):
        pass


def test_a_phase_ended_by_an_error_still_counts() -> None:
    with collecting() as seconds, pytest.raises(RuntimeError), phase(WRITING):
        time.sleep(0.02)
        raise RuntimeError("write failed")
    assert seconds[WRITING] >= 0.015


def test_each_recorded_stage_has_its_phase_split() -> None:
    recorder = Recorder()
    with recorder.stage("read then compute"):
        with phase(READING):
            time.sleep(0.03)
        time.sleep(0.03)
    [stage] = recorder.stages
    assert set(stage.phases) == {"reading", "checking", "writing", "computing"}
    assert stage.phases["reading"] >= 0.02 and stage.phases["computing"] >= 0.02
    assert sum(stage.phases.values()) == pytest.approx(stage.seconds, abs=0.005)


def test_a_process_tree_stage_that_frees_memory_peaks_at_its_start() -> None:
    """A stage measured over the process tree (the Spark benchmark's) that frees memory at once:
    its peak is what it started with, never below it (the sampler's first look came after the
    free, and a short stage's peak read 411.4 MiB against a start of 412.0)."""
    recorder = Recorder(tree=True)
    held = bytearray(b"\x01") * (256 * 1024 * 1024)  # written: resident, not lazily mapped
    with recorder.stage("frees 256 MiB"):
        del held
    (stage,) = recorder.stages
    assert stage.peak_scope == "process tree"
    assert stage.peak_rss_mib >= stage.rss_start_mib > 256
