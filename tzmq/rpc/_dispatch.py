"""How an RPC call finds its method and how errors travel back.

Owns the server-side rules shared by rpc, pipeline and pubsub:

* a dotted name (``"ns.sub.f"``) walks nested handlers; anything not found
  raises `NotFoundError`;
* the arguments are bound to the method's signature before it runs, so a
  call that does not fit raises `ParametersError` and never reaches it;
* a remote exception travels as ``(module.qualname, args, repr)``, and the
  caller turns it back into its class through an ``error_table``
  (``{"module.qualname": cls}``, `tzmq.rpc.errors` and the builtins known
  by default), a `GenericError` otherwise. `NotFoundError` and
  `ParametersError` travel under aiozmq's names, so aiozmq clients raise
  their own classes for them.

Pure functions: safe from any thread.
"""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from . import errors
from .errors import GenericError, NotFoundError, ParametersError
from .handlers import RPC_MARK, AttrHandler

__all__ = [
    "ErrorTable",
    "bind_arguments",
    "check_handler",
    "dispatch",
    "error_info",
    "error_table",
    "translate_error",
]

ErrorTable = Mapping[str, Callable[..., BaseException]]


def _is_handler(value: Any) -> bool:
    return isinstance(value, (AttrHandler, Mapping))


def check_handler(handler: Any) -> Any:
    """``handler`` if it can serve calls (an `AttrHandler` or a mapping)."""
    if not _is_handler(handler):
        raise TypeError(
            f"handler must be an AttrHandler or a mapping, not {type(handler).__name__}"
        )
    return handler


def dispatch(handler: Any, name: str) -> Callable[..., Any]:
    """The method ``name`` (dotted for namespaces) of ``handler``, or `NotFoundError`."""
    parts = name.split(".")
    node = handler
    try:
        for part in parts[:-1]:
            node = node[part]
            if not _is_handler(node):
                raise NotFoundError(name)
        func = node[parts[-1]]
    except (KeyError, TypeError, IndexError):
        raise NotFoundError(name) from None
    if not callable(func) or _is_handler(func):
        raise NotFoundError(name)
    if isinstance(node, AttrHandler) and not hasattr(func, RPC_MARK):
        raise NotFoundError(name)
    return func  # type: ignore[no-any-return]


class _Shape:
    """What binding needs to know of a signature, worked out once per function.

    ``fast`` is the range of positional argument counts that bind without
    looking further, when no keywords are given and every parameter is
    positional-or-keyword; None when every call needs a full
    `inspect.Signature.bind`.
    """

    __slots__ = ("fast", "signature")

    def __init__(self, signature: inspect.Signature | None) -> None:
        self.signature = signature
        self.fast: tuple[int, int] | None = None
        if signature is None:
            return
        params = list(signature.parameters.values())
        if all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params):
            required = sum(p.default is p.empty for p in params)
            self.fast = (required, len(params))


# Keyed by the function itself (for a bound method, its function and that it
# is bound): a bound method is a new object at each attribute lookup.
_shapes: dict[tuple[Any, bool], _Shape] = {}
_SHAPES_KEPT = 4096


def _shape(func: Callable[..., Any]) -> _Shape:
    under = getattr(func, "__func__", None)
    key = (func, False) if under is None else (under, True)
    try:
        shape = _shapes.get(key)
        hashable = True
    except TypeError:  # an unhashable callable: nothing to cache it by
        shape, hashable = None, False
    if shape is None:
        try:
            shape = _Shape(inspect.signature(func))
        except (TypeError, ValueError):
            # No signature to check (some builtins): let the call itself decide.
            shape = _Shape(None)
        if hashable:
            if len(_shapes) >= _SHAPES_KEPT:
                _shapes.clear()  # functions made per call would grow it forever
            _shapes[key] = shape
    return shape


def bind_arguments(
    func: Callable[..., Any], args: Any, kwargs: Any
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``(args, kwargs)`` checked against ``func``'s signature, or `ParametersError`."""
    if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
        raise ParametersError("arguments must be a list and a map")
    shape = _shape(func)
    if not kwargs and shape.fast is not None and shape.fast[0] <= len(args) <= shape.fast[1]:
        return tuple(args), kwargs
    if not all(isinstance(key, str) for key in kwargs):
        raise ParametersError("keyword argument names must be strings")
    if shape.signature is None:
        return tuple(args), kwargs
    try:
        bound = shape.signature.bind(*args, **kwargs)
    except TypeError as error:
        raise ParametersError(str(error)) from None
    return bound.args, bound.kwargs


# Sent under aiozmq's names, which aiozmq clients know (ours know both).
_AIOZMQ_NAMES: dict[type[BaseException], str] = {
    NotFoundError: "aiozmq.rpc.base.NotFoundError",
    ParametersError: "aiozmq.rpc.base.ParametersError",
}


def error_info(error: BaseException) -> tuple[str, Any, str]:
    """How ``error`` travels: ``(module.qualname, args, repr)``."""
    kind = type(error)
    name = _AIOZMQ_NAMES.get(kind) or f"{kind.__module__}.{kind.__qualname__}"
    return name, error.args, repr(error)


_DEFAULT_ERRORS: dict[str, Callable[..., BaseException]] = {
    **{
        f"builtins.{name}": value
        for name, value in vars(builtins).items()
        if isinstance(value, type) and issubclass(value, Exception)
    },
    **{
        f"{errors.__name__}.{name}": getattr(errors, name)
        for name in ("Error", "NotFoundError", "ParametersError", "ServiceClosedError")
    },
    # aiozmq's names for the same errors, so its servers' failures translate too.
    **{
        f"aiozmq.rpc.base.{name}": getattr(errors, name)
        for name in ("Error", "NotFoundError", "ParametersError", "ServiceClosedError")
    },
}


def error_table(extra: ErrorTable | None) -> dict[str, Callable[..., BaseException]]:
    """The default error table updated with ``extra``."""
    table = dict(_DEFAULT_ERRORS)
    for key, value in (extra or {}).items():
        if not isinstance(key, str) or not callable(value):
            raise TypeError(f"error_table maps 'module.qualname' to a class, not {key!r}")
        table[key] = value
    return table


def translate_error(info: Any, table: Mapping[str, Callable[..., BaseException]]) -> Exception:
    """The exception a caller raises for a remote error ``info``."""
    if not (isinstance(info, (list, tuple)) and len(info) == 3 and isinstance(info[0], str)):
        return GenericError("<malformed>", (), repr(info))
    kind, args, text = info
    args = tuple(args) if isinstance(args, (list, tuple)) else (args,)
    factory = table.get(kind)
    if factory is not None:
        try:
            made = factory(*args)
        except Exception:
            made = None
        if isinstance(made, Exception):
            return made
    return GenericError(kind, args, str(text))
