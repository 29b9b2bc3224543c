"""The suite's mode (test or soak) and the figures it reports at the end of a run.

``TZMQ_SOAK=1`` (set by ``make soak``) runs every scenario at full size; the
default is the size for ``make test``. Tests add what they did to `FIGURES`
(messages sent and delivered, faults injected, bad inputs tried, notes such
as which network impairment ran); the conftest prints the totals after the
run, for the closing note.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

SOAK = os.environ.get("TZMQ_SOAK") == "1"


def scaled(test: int, soak: int) -> int:
    """``test`` in ``make test``, ``soak`` in ``make soak``."""
    return soak if SOAK else test


@dataclass
class Figures:
    sent: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    bad_inputs: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def messages(self, what: str, sent: int, delivered: int) -> None:
        self.sent[what] += sent
        self.delivered[what] += delivered

    def fault(self, what: str, n: int = 1) -> None:
        self.faults[what] += n

    def bad_input(self, what: str, n: int = 1) -> None:
        self.bad_inputs[what] += n

    def note(self, text: str) -> None:
        self.notes.append(text)

    def empty(self) -> bool:
        return not (self.sent or self.faults or self.bad_inputs or self.notes)

    def lines(self) -> list[str]:
        sent, delivered = sum(self.sent.values()), sum(self.delivered.values())
        out = [
            f"mode: {'soak' if SOAK else 'test'}",
            f"messages: {sent:,} sent, {delivered:,} delivered, lost {sent - delivered:,}",
        ]
        out += [
            f"  {what}: {self.sent[what]:,} sent, {self.delivered[what]:,} delivered"
            for what in sorted(self.sent)
        ]
        out.append(f"faults injected: {sum(self.faults.values()):,}")
        out += [f"  {what}: {n:,}" for what, n in sorted(self.faults.items())]
        out.append(f"bad inputs tried: {sum(self.bad_inputs.values()):,}")
        out += [f"  {what}: {n:,}" for what, n in sorted(self.bad_inputs.items())]
        out += self.notes
        return out


FIGURES = Figures()
