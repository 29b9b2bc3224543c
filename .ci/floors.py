"""Print pip constraints that pin requirements of pyproject.toml to their declared floors.

`make test-oldest` installs with these constraints, so the versions it tests are exactly
the minimums pyproject.toml declares, and pyproject.toml stays the one place a floor is
written. Every requirement of the groups asked for must state a floor (``>=``): one
without it is an error, not a silently untested claim.

Usage::

    python .ci/floors.py dependencies test    # tzmq's own requirements and the test extra
    python .ci/floors.py jupyter test         # an extra and another extra

Pure: reads pyproject.toml, writes stdout; nothing here is shared between threads.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"

# "name>=floor", then any other clauses (",<10"), then an optional environment marker.
_FLOORED = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*>=\s*([^\s,;]+)[^;]*(;.*)?$")


def _requirements(groups: list[str]) -> list[str]:
    project = tomllib.loads(_PYPROJECT.read_text(encoding="utf-8"))["project"]
    requirements: list[str] = []
    for group in groups:
        if group == "dependencies":
            requirements += project["dependencies"]
        elif group in project["optional-dependencies"]:
            requirements += project["optional-dependencies"][group]
        else:
            raise SystemExit(f"floors.py: pyproject.toml has no group {group!r}")
    return requirements


def pins(groups: list[str]) -> list[str]:
    """One ``name==floor[; marker]`` constraint per requirement in ``groups``."""
    lines = []
    for requirement in _requirements(groups):
        match = _FLOORED.match(requirement)
        if match is None:
            raise SystemExit(f"floors.py: {requirement!r} declares no floor (>=) to test")
        name, floor, marker = match.groups()
        lines.append(f"{name}=={floor}{marker or ''}")
    return lines


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    print("\n".join(pins(sys.argv[1:])))
