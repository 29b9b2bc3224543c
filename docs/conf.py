"""Sphinx configuration for tzmq's documentation (``make docs``: warnings are errors).

`tzmq` re-exports the stream layer's public names; `_reexported` lets
``tzmq.ZMQStream`` and the like link to their pages under ``tzmq.stream``.

Intersphinx reads each inventory from the first place that has it: a local
copy (Debian's python3-doc and python-tornado-doc packages), then the web.
pyzmq publishes no local copy, so a small inventory of the pyzmq names these
pages link to is written here as the last resort, for offline builds.
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tzmq  # noqa: E402
from tzmq import __version__  # noqa: E402

project = "tzmq"
author = "tzmq contributors"
copyright = "tzmq contributors"
release = version = __version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.intersphinx", "sphinx.ext.viewcode"]
html_theme = "furo"
html_title = f"tzmq {release}"
html_favicon = "../demos/web/favicon.svg"
exclude_patterns = ["_build", "examples"]
default_role = "py:obj"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_inherit_docstrings = False  # the stdlib docstrings of overridden methods are not reST

_PYZMQ = "https://pyzmq.readthedocs.io/en/latest/"
_PYZMQ_NAMES = {
    "zmq.Context": "py:class",
    "zmq.Socket": "py:class",
    "zmq.Frame": "py:class",
    "zmq.Poller": "py:class",
    "zmq.Again": "py:exception",
    "zmq.ZMQError": "py:exception",
    "zmq.curve_keypair": "py:function",
}


def _pyzmq_fallback() -> str:
    """Write a minimal pyzmq inventory (Sphinx's format, version 2) and return its path."""
    lines = "".join(
        f"{name} {role} 1 api/zmq.html#{name} -\n" for name, role in _PYZMQ_NAMES.items()
    )
    header = "# Sphinx inventory version 2\n# Project: PyZMQ\n# Version: \n"
    header += "# The remainder of this file is compressed using zlib.\n"
    path = ROOT / "build" / "docs-inventories" / "pyzmq.inv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header.encode() + zlib.compress(lines.encode()))
    return str(path)


def _local(*paths: str) -> tuple[str, ...]:
    return tuple(path for path in paths if Path(path).exists())


intersphinx_mapping = {
    "python": (
        "https://docs.python.org/3",
        (*_local("/usr/share/doc/python3/html/objects.inv"), None),
    ),
    "tornado": (
        "https://www.tornadoweb.org/en/stable/",
        (*_local("/usr/share/doc/python-tornado-doc/html/objects.inv"), None),
    ),
    "pyzmq": (_PYZMQ, (None, _pyzmq_fallback())),
}
intersphinx_timeout = 5


def _reexported(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve ``tzmq.<name>`` (and its members) to ``tzmq.stream.<name>``."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("tzmq."):
        return None
    name, _, member = target.removeprefix("tzmq.").partition(".")
    if name not in tzmq.__all__ or name == "__version__":
        return None
    node["reftarget"] = f"tzmq.stream.{name}" + (f".{member}" if member else "")
    domain = env.get_domain("py")
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], node["reftarget"], node, contnode
    )


def setup(app: Any) -> None:
    app.connect("missing-reference", _reexported)
