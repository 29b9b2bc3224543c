"""The control socket of a steerable proxy: libzmq's commands and replies.

Owns the protocol of ``zmq_proxy_steerable``'s control socket, served on the
IOLoop: a single-frame command ``PAUSE``, ``RESUME``, ``TERMINATE`` or
``STATISTICS``. ``STATISTICS`` is answered with libzmq's eight ``uint64``
frames; on a REP socket every other command is answered with one empty
frame, as libzmq does, so the requester is never left waiting. Where libzmq
ignores a bad command (or aborts), we answer ``[b"ERROR", reason]`` on REP and
PAIR alike, and change nothing.

Thread-safety: IOLoop thread only.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import zmq

from ..stream import StreamClosedError, ZMQStream
from ._stats import ProxyStatistics

__all__ = ["CONTROL_TYPES", "Control", "Steerable"]

_log = logging.getLogger("tzmq.devices")

CONTROL_TYPES = frozenset({int(zmq.REP), int(zmq.PAIR)})

_COMMANDS = (b"PAUSE", b"RESUME", b"TERMINATE", b"STATISTICS")
_LONGEST = max(len(command) for command in _COMMANDS)


class Steerable(Protocol):
    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def close(self, linger: int | None = None) -> int: ...

    def statistics(self) -> ProxyStatistics: ...


def _refusal(msg: list[bytes]) -> str | None:
    """Why ``msg`` is not a command, or None if it is one."""
    if len(msg) != 1:
        return f"a command is one frame, not {len(msg)}"
    command = msg[0]
    if command in _COMMANDS:
        return None
    shown = command[: _LONGEST + 8]
    more = "..." if len(command) > len(shown) else ""
    return f"unknown command {shown!r}{more}; expected one of PAUSE, RESUME, TERMINATE, STATISTICS"


class Control:
    """Serve ``stream`` as the control socket of ``device``."""

    def __init__(self, stream: ZMQStream, device: Steerable) -> None:
        self.stream = stream
        self._device = device
        self._rep = int(stream.socket.type) == zmq.REP
        stream.on_recv(self._command)

    def _command(self, msg: list[bytes]) -> None:
        refusal = _refusal(msg)
        if refusal is not None:
            self._reply([b"ERROR", refusal.encode()])
            return
        command = msg[0]
        if command == b"STATISTICS":
            self._reply(self._device.statistics().to_frames())
            return
        if self._rep:
            self._reply([b""])
        if command == b"PAUSE":
            self._device.pause()
        elif command == b"RESUME":
            self._device.resume()
        else:
            # The reply above is queued or with libzmq: close() hands it over.
            self._device.close()

    def _reply(self, frames: list[Any]) -> None:
        try:
            self.stream.send_multipart(frames)
        except (StreamClosedError, zmq.ZMQError) as error:
            # The requester is gone or the socket closed under us: nobody to tell.
            _log.debug("proxy control: reply not sent (%s)", error)
