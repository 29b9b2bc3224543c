"""The table `make bench` prints: one row per (case, implementation), with goals.

Owns units, number formatting, ratios to raw, the goals from the issues and
the closing lines that read each goal against the floor of the same run.
Wall-clock ratios on a shared 2-core machine swing by tens of percent from
run to run, so a goal is information, never pass/fail: the instruction
counts (`benchmarks.instructions`) are the yardstick. Rows are printed as
each case finishes, in fixed-width columns, so a long run shows progress
and the whole still lines up.

Thread-safety: pure functions and immutable records; main thread use.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ._harness import Sample

__all__ = [
    "BYTES",
    "MICROS",
    "RATE",
    "Goal",
    "Row",
    "columns",
    "format_row",
    "header",
    "summarise",
]

RATE = "msg/s"
MICROS = "us/rt"
BYTES = "B/msg"


@dataclass(frozen=True)
class Goal:
    """A goal for one implementation: ``kind`` is ``ratio>=``, ``ratio<=``,
    ``rate>=`` (msg/s) or ``bytes<=`` (B/msg)."""

    kind: str
    value: float

    def text(self) -> str:
        if self.kind == "ratio>=":
            return f">={self.value:.1f}x raw"
        if self.kind == "ratio<=":
            return f"<={self.value:.1f}x raw"
        if self.kind == "rate>=":
            return f">={_number(self.value)} msg/s"
        return f"<={self.value:.0f} B/msg"

    def met(self, value: float, ratio: float | None) -> bool:
        if self.kind == "ratio>=":
            return ratio is not None and ratio >= self.value
        if self.kind == "ratio<=":
            return ratio is not None and ratio <= self.value
        if self.kind == "rate>=":
            return value >= self.value
        return value <= self.value


@dataclass(frozen=True)
class Row:
    """The outcome of one implementation on one case."""

    case: str
    impl: str
    unit: str
    samples: tuple[Sample, ...]
    ratio: float | None
    goal: Goal | None
    error: str = ""

    @property
    def value(self) -> float:
        return statistics.median(sample.value for sample in self.samples)

    @property
    def typical(self) -> Sample:
        """The median sample (the upper one of two), for its counts."""
        return sorted(self.samples, key=lambda sample: sample.value)[len(self.samples) // 2]

    @property
    def spread(self) -> float | None:
        """Largest distance of a round from the median, as a fraction of it."""
        if len(self.samples) < 2 or not self.value:
            return None
        values = [sample.value for sample in self.samples]
        return max(max(values) - self.value, self.value - min(values)) / self.value

    def meets(self, goal: Goal) -> bool:
        """Does this row meet ``goal`` (its own or another row's)?"""
        return not self.error and goal.met(self.value, self.ratio)


def _number(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e5:
        return f"{value / 1e3:.0f}k"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def _result(row: Row) -> str:
    if row.error:
        return "error"
    if row.unit == RATE:
        return f"{_number(row.value)} {RATE}"
    if row.unit == MICROS:
        return f"{row.value:.1f} {MICROS}"
    return f"{row.value:.0f} {BYTES}"


def _note(row: Row) -> str:
    if row.error:
        return row.error
    partial = [sample for sample in row.samples if sample.partial]
    if not partial:
        return ""
    sample = row.typical if row.typical.partial else partial[0]
    what = "round trips" if row.unit == MICROS else "msgs"
    note = f"{_number(sample.done)} of {_number(sample.total)} {what} in {sample.seconds:.1f} s"
    if len(partial) < len(row.samples):
        note += f" ({len(partial)} of {len(row.samples)} rounds)"
    elif len(row.samples) == 1:
        note += " (1 round)"
    return note


_COLUMNS = (
    ("case", 26, "<"),
    ("impl", 16, "<"),
    ("median", 15, ">"),
    ("vs raw", 7, ">"),
    ("spread", 7, ">"),
    ("goal", 15, ">"),
    ("note", 0, "<"),
)


def columns(layout: Sequence[tuple[str, int, str]], cells: Sequence[str]) -> str:
    """One line of fixed-width ``cells``; ``layout`` is (name, width, alignment) per
    column, and a width of 0 leaves the (last) column as long as it is."""
    parts = [
        f"{cell:{align}{width}}" if width else cell
        for (_, width, align), cell in zip(layout, cells, strict=True)
    ]
    return " ".join(parts).rstrip()


def _line(cells: list[str]) -> str:
    return columns(_COLUMNS, cells)


def header() -> str:
    names = _line([name for name, _, _ in _COLUMNS])
    return names + "\n" + "-" * len(names)


def _ratio(row: Row) -> str:
    if row.ratio is None:
        return ""
    text = f"{row.ratio:.2f}"
    goal = row.goal
    # A ratio that rounds onto its goal would read as met when it is not.
    if goal is not None and goal.kind.startswith("ratio") and float(text) == goal.value:
        text = f"{row.ratio:.3f}"
    return text + "x"


def format_row(row: Row, first: bool) -> str:
    ratio = _ratio(row)
    spread = "" if row.spread is None else f"±{row.spread * 100:.0f}%"
    return _line(
        [
            row.case if first else "",
            row.impl,
            _result(row),
            ratio,
            spread,
            row.goal.text() if row.goal is not None else "",
            _note(row),
        ]
    )


def summarise(rows: list[Row], floor_of: Mapping[str, str]) -> list[str]:
    """The closing lines: each goal, as information, read against the floor of its case.

    ``floor_of`` names the yardstick row of an implementation. Where the floor
    misses a goal too, no layer dispatching through the loop that way meets it
    on this machine; the line then says so, and how far the row is from its floor.
    """
    lines = [
        "goals (wall clock, information only: read each against its floor in the same run; "
        "the yardstick is make bench-instructions)"
    ]
    for row in rows:
        goal = row.goal
        if goal is None:
            continue
        if row.error:
            lines.append(f"  {row.case} / {row.impl}: error, goal {goal.text()}")
            continue
        got = _result(row) + (f" = {_ratio(row)} raw" if row.ratio is not None else "")
        verdict = "met" if row.meets(goal) else "not met"
        line = f"  {row.case} / {row.impl}: {got}, goal {goal.text()} {verdict}"
        floor = next(
            (
                other
                for other in rows
                if other.case == row.case and other.impl == floor_of.get(row.impl)
            ),
            None,
        )
        if floor is not None and not floor.error and floor.value:
            floor_verdict = "meets it" if floor.meets(goal) else "misses it too"
            line += (
                f"; {floor.impl} {_ratio(floor) or _result(floor)} {floor_verdict}, "
                f"{row.impl} at {row.value / floor.value:.2f}x the floor's {row.unit}"
            )
        lines.append(line)
    return lines
