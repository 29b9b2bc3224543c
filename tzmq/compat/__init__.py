"""Run software that imports pyzmq's Tornado layers (Jupyter) on tzmq, unchanged.

Owns the one sanctioned contact with pyzmq's layers: `install` imports
``zmq.eventloop.zmqstream``, ``zmq.eventloop.future``, ``zmq.log.handlers``
and ``zmq.auth.ioloop`` lazily, only to replace their public names with
tzmq's classes, so that code doing ``from zmq.eventloop.zmqstream import
ZMQStream`` *afterwards* gets `tzmq.ZMQStream`. `uninstall` puts pyzmq's
names back. Both are idempotent.

It must run before the application imports those names: a module that did
``from zmq.eventloop.zmqstream import ZMQStream`` earlier keeps pyzmq's class.
`install` finds such modules and says so with a `CompatWarning` naming
them (and returns them), rather than pretending it worked.

Usage::

    import tzmq.compat
    tzmq.compat.install()          # first thing, before jupyter/ipykernel imports

    # or, for a whole process without touching its code:
    python -m tzmq.compat run -m ipykernel_launcher -f conn.json
    python -m tzmq.compat run -m jupyter_server --ip=127.0.0.1
    python -m tzmq.compat run some_script.py arg1 arg2

For a Jupyter kernel, put the same wrapper in its kernelspec's ``argv``.

Thread-safety: call from the main thread at start-up, before other threads
use zmq.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import types
import warnings
from typing import Any

__all__ = ["CompatWarning", "install", "installed", "uninstall"]


class CompatWarning(RuntimeWarning):
    """`install` ran after some modules had already bound pyzmq's names."""


def _replacements() -> dict[str, dict[str, Any]]:
    """pyzmq module -> {name: tzmq's object}. Imported here, lazily."""
    from tzmq import Context, Poller, Socket, ZMQStream
    from tzmq.auth import IOLoopAuthenticator
    from tzmq.log import PUBHandler, TopicLogger

    return {
        "zmq.eventloop.zmqstream": {"ZMQStream": ZMQStream},
        "zmq.eventloop.future": {
            "Context": Context,
            "Socket": Socket,
            "Poller": Poller,
            "CancelledError": asyncio.CancelledError,
        },
        "zmq.log.handlers": {"PUBHandler": PUBHandler, "TopicLogger": TopicLogger},
        "zmq.auth.ioloop": {"IOLoopAuthenticator": IOLoopAuthenticator},
    }


# (module name, attribute) -> pyzmq's original object, while installed.
_originals: dict[tuple[str, str], Any] = {}


def installed() -> bool:
    """True while pyzmq's names point at tzmq's classes."""
    return bool(_originals)


def install() -> list[str]:
    """Make pyzmq's Tornado names resolve to tzmq's classes, process-wide.

    Returns the ``module.name`` bindings found still holding pyzmq's objects
    (imported too early), after warning about them with `CompatWarning`.
    Calling it again does nothing and returns ``[]``.
    """
    if _originals:
        return []
    for module_name, names in _replacements().items():
        with warnings.catch_warnings():
            # pyzmq deprecates zmq.auth.ioloop on import; we import it only to
            # replace its name, so its advice is not the user's concern here.
            warnings.simplefilter("ignore", DeprecationWarning)
            module = importlib.import_module(module_name)
        for name, replacement in names.items():
            _originals[(module_name, name)] = getattr(module, name)
            setattr(module, name, replacement)
    stale = _stale_bindings()
    if stale:
        warnings.warn(
            "tzmq.compat.install() ran too late for "
            + ", ".join(stale)
            + ": these imported pyzmq's classes before it and keep using them. "
            "Call install() before importing them (or use `python -m tzmq.compat run`).",
            CompatWarning,
            stacklevel=2,
        )
    return stale


def uninstall() -> None:
    """Put pyzmq's own names back (idempotent)."""
    while _originals:
        (module_name, name), original = _originals.popitem()
        setattr(sys.modules[module_name], name, original)


def _stale_bindings() -> list[str]:
    """Module globals outside pyzmq that still hold one of pyzmq's originals."""
    originals = {id(obj): f"{module}.{name}" for (module, name), obj in _originals.items()}
    found = []
    for module_name, module in list(sys.modules.items()):
        if not isinstance(module, types.ModuleType) or module_name.split(".")[0] == "zmq":
            continue
        try:
            namespace = vars(module)
        except TypeError:
            continue
        for attribute, value in list(namespace.items()):
            if id(value) in originals and not attribute.startswith("__"):
                found.append(f"{module_name}.{attribute} (pyzmq's {originals[id(value)]})")
    return sorted(found)
