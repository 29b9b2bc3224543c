"""The table `make bench` prints: one row per (case, implementation), with targets.

Owns units, number formatting, ratios to raw, the targets from the issues and
the PASS/MISS marks. Rows are printed as each case finishes, in fixed-width
columns, so a long run shows progress and the whole still lines up.

Thread-safety: pure functions and immutable records; main thread use.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from ._harness import Sample

__all__ = ["BYTES", "MICROS", "RATE", "Row", "Target", "format_row", "header", "summarise"]

RATE = "msg/s"
MICROS = "us/rt"
BYTES = "B/msg"


@dataclass(frozen=True)
class Target:
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
    target: Target | None
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

    def target_met_by(self, target: Target) -> bool:
        """Would this row meet ``target`` (another row's)?"""
        return target.met(self.value, self.ratio)

    @property
    def mark(self) -> str:
        if self.target is None:
            return ""
        if self.error:
            return "MISS"
        return "PASS" if self.target.met(self.value, self.ratio) else "MISS"


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
    ("target", 15, ">"),
    ("", 5, "<"),
    ("note", 0, "<"),
)


def _line(cells: list[str]) -> str:
    parts = []
    for (_, width, align), cell in zip(_COLUMNS, cells, strict=True):
        parts.append(f"{cell:{align}{width}}" if width else cell)
    return " ".join(parts).rstrip()


def header() -> str:
    names = _line([name for name, _, _ in _COLUMNS])
    return names + "\n" + "-" * len(names)


def _ratio(row: Row) -> str:
    if row.ratio is None:
        return ""
    text = f"{row.ratio:.2f}"
    target = row.target
    # A ratio that rounds onto its target would read as met when it is not.
    if target is not None and target.kind.startswith("ratio") and float(text) == target.value:
        text = f"{row.ratio:.3f}"
    return text + "x"


def format_row(row: Row, first: bool) -> str:
    ratio = _ratio(row)
    spread = "" if row.spread is None else f"±{row.spread * 100:.0f}%"
    target = row.target.text() if row.target is not None else ""
    return _line(
        [
            row.case if first else "",
            row.impl,
            _result(row),
            ratio,
            spread,
            target,
            row.mark,
            _note(row),
        ]
    )


def summarise(rows: list[Row], floor_of: Mapping[str, str]) -> list[str]:
    """The closing lines: how many targets were met, and each miss.

    ``floor_of`` names the yardstick row of an implementation; a miss says
    whether the yardstick of the same case would have met the target.
    """
    judged = [row for row in rows if row.target is not None]
    misses = [row for row in judged if row.mark == "MISS"]
    lines = [f"targets met: {len(judged) - len(misses)} of {len(judged)}"]
    for row in misses:
        got = _result(row) + (f" = {_ratio(row)} raw" if row.ratio is not None else "")
        target = row.target.text() if row.target is not None else ""
        line = f"  MISS {row.case} / {row.impl}: {got}, target {target}"
        floor = next(
            (
                other
                for other in rows
                if other.case == row.case and other.impl == floor_of.get(row.impl)
            ),
            None,
        )
        if floor is not None and row.target is not None and not floor.error:
            verdict = "meets it" if floor.target_met_by(row.target) else "misses it too"
            line += f"; {floor.impl} {_ratio(floor) or _result(floor)} {verdict}"
        lines.append(line)
    return lines
