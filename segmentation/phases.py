"""Where a stage's seconds go: reading, checking and writing, the rest being computing.

The shared boundaries of the pipeline (the warehouse reads and writes, the contract checks, the
landing's staging and publishing) mark their work with ``with phase(READING):`` and so on. Nobody
collects by default: a mark then only looks up a context variable. A benchmark collects with
``with collecting() as seconds:``; after the block ``seconds`` holds the wall seconds spent in
each phase inside it.

Phases are exclusive: a phase entered inside another (a landing's publish inside its checks)
pauses the outer one, so the phases of a block never sum to more than its wall time and the
remainder is the computing. Nothing of this goes to asset metadata or logs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

READING, CHECKING, WRITING = "reading", "checking", "writing"
PHASES = (READING, CHECKING, WRITING)


@dataclass
class _Clock:
    """The seconds per phase of one collection, and the phase running now with its start."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    running: list[str] = field(default_factory=list)
    since: float = 0.0

    def switch(self, now: float) -> None:
        """Charge the running phase (if any) with the time since the last switch."""
        if self.running:
            self.seconds[self.running[-1]] += now - self.since
        self.since = now


_CLOCK: ContextVar[_Clock | None] = ContextVar("segmentation_phase_clock", default=None)


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Count the block's wall time as ``name`` (one of ``PHASES``) when someone collects.

    Args:
        name: ``READING``, ``CHECKING`` or ``WRITING``.

    Raises:
        ValueError: ``name`` is not one of ``PHASES`` (only while collecting).
    """
    clock = _CLOCK.get()
    if clock is None:
        yield
        return
    if name not in clock.seconds:
        raise ValueError(f"unknown phase {name!r}: one of {', '.join(PHASES)}")
    clock.switch(time.perf_counter())
    clock.running.append(name)
    try:
        yield
    finally:
        clock.switch(time.perf_counter())
        clock.running.pop()


@contextmanager
def collecting() -> Iterator[dict[str, float]]:
    """Collect the phases of the block: the yielded dict holds, after the block, the seconds
    spent reading, checking and writing inside it (zero for a phase never entered)."""
    clock = _Clock()
    token = _CLOCK.set(clock)
    try:
        yield clock.seconds
    finally:
        clock.switch(time.perf_counter())
        _CLOCK.reset(token)
