"""benchmarks/chart.py: the results file round-trips and the chart is a PNG of its ratios."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import chart
from benchmarks._harness import Sample
from benchmarks._report import MICROS, RATE, Row


def _row(case: str, impl: str, unit: str, value: float, ratio: float | None) -> Row:
    return Row(case, impl, unit, (Sample(value, 1, 1, 1.0),), ratio, None)


ROWS = [
    _row("live 16B tcp", "raw", RATE, 1000.0, 1.0),
    _row("live 16B tcp", "tzmq.ZMQStream", RATE, 1500.0, 1.5),
    _row("echo 16B tcp", "pyzmq future", MICROS, 40.0, 2.0),
    _row("echo 16B tcp", "floor: stream", MICROS, 20.0, 0.5),
    _row("queued 1KiB: memory", "tzmq.ZMQStream", "B/msg", 8.0, None),
]


def test_results_round_trip_and_speedups_point_one_way(tmp_path: Path) -> None:
    failed = Row("live 16B tcp", "tzmq.Socket", RATE, (), None, None, "TimeoutError: x")
    path = chart.save_results([*ROWS, failed], tmp_path / "out" / "results.json", "a run")
    about, results = chart.load_results(path)
    assert about == "a run"
    assert [(r.impl, r.value) for r in results] == [(r.impl, r.value) for r in ROWS]
    # A rate's ratio as it is; a round-trip time's inverted: above 1 is faster than raw.
    assert [r.speedup for r in results] == [1.0, 1.5, 0.5, 2.0, None]


def test_draw_writes_a_png(tmp_path: Path) -> None:
    results = chart.save_results(ROWS, tmp_path / "results.json")
    png = chart.main([str(results), str(tmp_path / "chart.png")])
    assert png == 0
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_file_that_is_not_results_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"rows": [{"case": "x"}]}')
    with pytest.raises(ValueError, match="not a benchmark results file"):
        chart.load_results(bad)
    bad.write_text(
        '{"rows": [{"case": "x", "impl": "raw", "unit": "B/msg", "value": 1, "ratio": null}]}'
    )
    with pytest.raises(ValueError, match="no row with a ratio"):
        chart.draw(bad, tmp_path / "chart.png")
