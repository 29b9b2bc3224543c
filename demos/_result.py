"""The outcome of one demo run, as `make demo` reports it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoResult:
    name: str
    messages: int
    seconds: float
    ok: bool
