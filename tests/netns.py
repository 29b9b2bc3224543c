"""Network namespaces for tests: the ``ip`` tool, and a clear skip where the machine forbids them.

The tests that make their own hosts (tests/reliability/test_netns.py,
tests/discovery/lan.py) make the first namespace with `add_first_namespace`:
no ``ip`` tool, or no privilege to make namespaces, skips the test with the
reason; any other failure raises.
"""

from __future__ import annotations

import shutil

import pytest

from demos._netns import ip

__all__ = ["add_first_namespace", "ip"]

_NO_PRIVILEGE = ("Operation not permitted", "Permission denied")


def add_first_namespace(name: str) -> None:
    """``ip netns add NAME``, or skip the test when this machine cannot make namespaces."""
    if shutil.which("ip") is None:
        pytest.skip("no `ip` tool (iproute2) on this machine")
    made = ip("netns", "add", name, check=False)
    if made.returncode != 0:
        if any(reason in made.stderr for reason in _NO_PRIVILEGE):
            pytest.skip(f"may not create network namespaces here: {made.stderr.strip()}")
        raise RuntimeError(f"ip netns add: {made.stderr.strip()}")
