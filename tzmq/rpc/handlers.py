"""What an RPC server exposes: ``@method`` and `AttrHandler`.

Owns the rule for what is callable remotely (how a call finds it, and how
errors travel, are `tzmq.rpc._dispatch`'s):

* a handler is an `AttrHandler` (its ``@method`` attributes are callable
  remotely, other attributes are not) or any mapping (every callable value
  is exposed; values that are themselves handlers are namespaces).

Pure functions and stateless classes: safe from any thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["RPC_MARK", "AttrHandler", "method"]

F = TypeVar("F", bound=Callable[..., Any])

RPC_MARK = "__rpc__"
"""The attribute ``@method`` sets (aiozmq's name, so its decorated methods serve here too)."""


def method(func: F) -> F:
    """Mark ``func`` as callable remotely when it is an attribute of an `AttrHandler`.

    Example::

        class Calculator(AttrHandler):
            @method
            def add(self, a: int, b: int) -> int:
                return a + b
    """
    if not callable(func):
        raise TypeError(f"@method needs a function, not {type(func).__name__}")
    setattr(func, RPC_MARK, {})
    return func


class AttrHandler:
    """A handler whose ``@method`` attributes are the remote methods.

    Attributes that are handlers themselves (another `AttrHandler`, a
    mapping) are namespaces: ``client.call.ns.f()`` calls ``self.ns.f``.
    """

    def __getitem__(self, name: str) -> Any:
        if name.startswith("_"):
            raise KeyError(name)
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None
