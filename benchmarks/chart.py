"""The chart of ``make bench``: each implementation's speed relative to raw pyzmq, as a PNG.

Owns the results file (``save_results`` writes it, ``load_results`` reads
it: JSON, one record per row of the table) and the picture drawn from it.
Speeds are normalised so that longer is faster in every case: a rate's
ratio to raw as it is, a round-trip time's ratio inverted. Rows without a
ratio (memory, failed or raw itself) are left out; raw is the line at 1.

Thread-safety: plain functions, main thread. matplotlib is imported only to
draw (the ``bench`` extra), so reading and writing results need nothing more.

    python -m benchmarks.chart build/bench/results.json build/bench/ratios.png
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ._report import MICROS, Row

__all__ = ["Result", "draw", "load_results", "main", "save_results"]

# Bar colours by implementation family (the floors are their own family).
_COLOURS = {"tzmq": "#1f6feb", "pyzmq": "#8c959f", "floor": "#d4a72c"}


@dataclass(frozen=True)
class Result:
    """One row of the table: ``value`` in ``unit``, ``ratio`` to raw (None if not measured)."""

    case: str
    impl: str
    unit: str
    value: float
    ratio: float | None

    @property
    def speedup(self) -> float | None:
        """How many times faster than raw (a time per round trip is inverted)."""
        if not self.ratio:
            return None
        return 1 / self.ratio if self.unit == MICROS else self.ratio


def save_results(rows: Iterable[Row], path: Path, about: str = "") -> Path:
    """Write the table's rows (failed ones left out) to ``path`` as JSON; return ``path``."""
    results = [
        asdict(Result(row.case, row.impl, row.unit, row.value, row.ratio))
        for row in rows
        if not row.error
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"about": about, "rows": results}, indent=1) + "\n")
    return path


def load_results(path: Path) -> tuple[str, list[Result]]:
    """Read a results file: its description and its rows; `ValueError` if it is not one."""
    try:
        data = json.loads(path.read_text())
        return str(data.get("about", "")), [Result(**row) for row in data["rows"]]
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{path} is not a benchmark results file: {error}") from None


def draw(results: Path, png: Path) -> Path:
    """Draw the chart of ``results`` into ``png``; return ``png``."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    from matplotlib import pyplot
    from matplotlib.patches import Patch

    about, rows = load_results(results)
    shown = [(row, row.speedup) for row in rows if row.impl != "raw" and row.speedup]
    if not shown:
        raise ValueError(f"{results} has no row with a ratio to raw")
    cases = list(dict.fromkeys(row.case for row, _ in shown))
    figure, axes = pyplot.subplots(figsize=(9, 0.32 * len(shown) + 0.3 * len(cases) + 1.2))
    ticks: list[tuple[float, str]] = []
    y = 0.0
    for case in cases:
        for index, (row, speed) in enumerate(pair for pair in shown if pair[0].case == case):
            assert speed is not None
            family = row.impl.replace(":", ".").replace(" ", ".").split(".")[0]
            axes.barh(y, speed, color=_COLOURS.get(family, "#57606a"), height=0.8)
            axes.text(speed, y, f" {speed:.2f}x", va="center", fontsize=8)
            ticks.append((y, f"{case}:  {row.impl}" if index == 0 else row.impl))
            y += 1
        y += 0.8  # a gap between cases
    axes.set_yticks([pos for pos, _ in ticks], [text for _, text in ticks], fontsize=8)
    axes.margins(y=0.01)
    axes.invert_yaxis()
    legend = [Patch(color=colour, label=family) for family, colour in _COLOURS.items()]
    axes.legend(handles=legend, loc="lower right", fontsize=8)
    axes.axvline(1.0, color="#cf222e", linewidth=1)
    axes.set_xlabel("speed relative to raw blocking pyzmq (1 = raw; longer is faster)")
    axes.set_title("make bench: tzmq vs pyzmq's Tornado layers vs raw", fontsize=11)
    if about:
        figure.text(0.01, 0.005, about.splitlines()[0], fontsize=7, color="#57606a")
    figure.tight_layout(rect=(0, 0.02, 1, 1))
    png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(png, dpi=110)
    pyplot.close(figure)
    return png


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.chart", description="Draw make bench's ratios as a PNG."
    )
    parser.add_argument("results", type=Path, help="a results file written by make bench")
    parser.add_argument("png", type=Path, help="where to write the chart")
    args = parser.parse_args(argv)
    print(draw(args.results, args.png))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
