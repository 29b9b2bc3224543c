"""What `make bench` measures, in order, and the goal each tzmq row is read against.

Goals come from the issues: ZMQStream (issue 2, "Performance") and the
future Socket (issue 3, "Better than the anchor" 1 and 2). They are wall-clock
information, not pass/fail (issue 14: the ratios swing by tens of percent
between runs on these machines); the cases with floors show what the loop allows.

Thread-safety: immutable data, safe anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from . import echo, receive, send
from ._harness import Sample, Settings
from ._impls import TZMQ_SOCKET, TZMQ_STREAM, Impl
from ._report import BYTES, MICROS, RATE, Goal

__all__ = ["CASES", "Case"]


@dataclass(frozen=True)
class Case:
    """One row group of the table: ``measure(impl, settings)`` gives one sample."""

    label: str
    unit: str
    measure: Callable[[Impl, Settings], Sample]
    goals: dict[str, Goal] = field(default_factory=dict)
    once: bool = False
    """Measured in one round only: the result does not vary (memory)."""
    with_raw: bool = True
    floors: bool = False
    """Also run the yardsticks of `benchmarks._floor` (the latency- and send-bound cases)."""


_RECEIVE = {TZMQ_STREAM: Goal("ratio>=", 1.0), TZMQ_SOCKET: Goal("ratio>=", 0.7)}
_ECHO = {TZMQ_STREAM: Goal("ratio<=", 1.1), TZMQ_SOCKET: Goal("ratio<=", 1.2)}
_SEND = {TZMQ_STREAM: Goal("ratio>=", 0.8)}
_MEMORY = {TZMQ_STREAM: Goal("bytes<=", 250), TZMQ_SOCKET: Goal("bytes<=", 300)}
_DRAIN = {TZMQ_STREAM: Goal("rate>=", 200_000), TZMQ_SOCKET: Goal("rate>=", 200_000)}


def _cases() -> list[Case]:
    cases = []
    for msg in ("16B", "3x200B"):
        for transport in ("inproc", "tcp"):
            cases.append(
                Case(
                    f"backlog {msg} {transport}",
                    RATE,
                    partial(receive.backlog, msg_name=msg, transport=transport),
                    _RECEIVE,
                )
            )
    for msg in ("16B", "3x200B"):
        cases.append(
            Case(
                f"live {msg} tcp",
                RATE,
                partial(receive.live, msg_name=msg, transport="tcp"),
                _RECEIVE,
            )
        )
    cases.append(
        Case("echo 16B tcp", MICROS, partial(echo.echo, transport="tcp"), _ECHO, floors=True)
    )
    for msg in ("16B", "3x200B"):
        cases.append(
            Case(
                f"send {msg} tcp",
                RATE,
                partial(send.throughput, msg_name=msg, transport="tcp"),
                _SEND,
                floors=True,
            )
        )
    cases.append(
        Case("queued 1KiB: memory", BYTES, send.queued_memory, _MEMORY, once=True, with_raw=False)
    )
    cases.append(Case("queued 1KiB: drain", RATE, send.queued_drain, _DRAIN))
    return cases


CASES = _cases()
